#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# The origin of a test swarm: a libtorrent client (python3-libtorrent) that seeds one torrent
# from a directory and nothing else (no DHT, no local discovery, no port mapping).
#   seeder.py TORRENT DATA_DIR IP:PORT [--log]
# Prints "READY" once it has checked the data and seeds; stops on SIGTERM or SIGINT, printing
# the bytes it uploaded ("UPLOADED N"), which tests use to see who served a download.
import signal
import sys

import libtorrent as lt

torrent, data_dir, listen = sys.argv[1:4]
verbose = "--log" in sys.argv[4:]

session = lt.session({
    "listen_interfaces": listen,
    "outgoing_interfaces": listen.rsplit(":", 1)[0],
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
})
handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": data_dir})

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

ready = False
while running:
    session.wait_for_alert(200)
    for alert in session.pop_alerts():
        if verbose:
            print("alert:", alert.what(), alert.message(), flush=True)
    status = handle.status()
    if not ready and status.is_seeding:
        ready = True
        print("READY", flush=True)
    if not ready and status.state == lt.torrent_status.downloading and status.progress < 1.0 and status.num_pieces == 0:
        # The data directory does not hold the torrent's data: say so instead of waiting forever.
        print("NO DATA in", data_dir, flush=True)
        sys.exit(1)
print("UPLOADED", handle.status().all_time_upload, flush=True)
