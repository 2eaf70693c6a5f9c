#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# The torrent rows' ceiling: libtorrent alone downloading a magnet link into DIR over TCP (as
# our plugin connects), with no NBD in the way. Prints the seconds from start to complete.
#   torrent_leech.py MAGNET DIR IP
import sys
import time

import libtorrent as lt

magnet, save, ip = sys.argv[1:4]
session = lt.session({"listen_interfaces": ip + ":0", "outgoing_interfaces": ip, "enable_dht": False,
                      "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                      "enable_outgoing_utp": False})
params = lt.parse_magnet_uri(magnet)
params.save_path = save
t0 = time.perf_counter()
handle = session.add_torrent(params)
deadline = t0 + 300
while not handle.status().is_seeding:
    if time.perf_counter() > deadline:
        sys.exit("torrent_leech: not complete after 300 s")
    time.sleep(0.02)
print(time.perf_counter() - t0)
