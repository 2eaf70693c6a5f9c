# Connects to HOST PORT (or a Unix socket PATH) from source address SRC and prints what the
# server sent within the timeout: "greeting" (NBDMAGIC + IHAVEOPT), "closed" (EOF before any
# byte), or the raw bytes in hex. Used by test_ip.sh and the limit/exitwhen tests.
import socket, sys

def main():
    if sys.argv[1] == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(sys.argv[2])
    else:
        src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam)
        s.settimeout(20)
        s.bind((src, 0))
        s.connect((host, port))
    data = b""
    try:
        while len(data) < 16:
            b = s.recv(16 - len(data))
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    if data == b"NBDMAGICIHAVEOPT":
        print("greeting")
    elif not data:
        print("closed")
    else:
        print(data.hex())

main()
