#!/usr/bin/python3
"""Drives one libtorrent session for punchswarm's interop tests.

Usage: lt-peer.py '<json options>'
  {"action": "create", "path": ..., "out": ..., "trackers": [...], "piece_length": N}
  {"action": "run", "torrent": path | null, "magnet": uri | null, "save": dir, "seed": bool,
   "port": N, "utp": bool, "tcp": bool, "buffers": bytes | null, "announce_interval": s,
   "verbose": bool (every other alert as {"event": "alert", "type", "message"}),
   "encryption": "enabled" (libtorrent's default: PE tried first, plaintext allowed) | "forced" (RC4 only),
   "dht_bootstrap": "127.0.0.1:PORT" (run the DHT, joined through that node only)}

Prints one JSON object per line on stdout (events), reads JSON commands on stdin:
  {"cmd": "connect", "ip": ..., "port": ...}   connect a peer by hand
  {"cmd": "quit"}
Everything stays on 127.0.0.1: LSD, UPnP and NAT-PMP are off, and so is the DHT unless a loopback
bootstrap node is given.
"""
import json
import os
import select
import sys
import time

import libtorrent as lt


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def create(o):
    fs = lt.file_storage()
    lt.add_files(fs, o["path"])
    t = lt.create_torrent(fs, o.get("piece_length", 0))
    for tier, url in enumerate(o.get("trackers", [])):
        t.add_tracker(url, tier)
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(o["path"])))
    data = lt.bencode(t.generate())
    with open(o["out"], "wb") as f:
        f.write(data)
    info = lt.torrent_info(o["out"])
    emit(event="created", info_hash=str(info.info_hashes().v1), out=o["out"])


def run(o):
    settings = {
        "listen_interfaces": "127.0.0.1:%d" % o.get("port", 0),
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_bootstrap_nodes": "",
        "enable_outgoing_utp": o.get("utp", True),
        "enable_incoming_utp": o.get("utp", True),
        "enable_outgoing_tcp": o.get("tcp", True),
        "enable_incoming_tcp": o.get("tcp", True),
        "min_announce_interval": o.get("announce_interval", 5),
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.all_categories,
        "user_agent": "punchswarm-interop",
    }
    if o.get("encryption") == "forced":
        settings["out_enc_policy"] = int(lt.enc_policy.forced)
        settings["in_enc_policy"] = int(lt.enc_policy.forced)
        settings["allowed_enc_level"] = int(lt.enc_level.rc4)
    if o.get("dht_bootstrap"):
        # A DHT of a few nodes on 127.0.0.1: libtorrent's defaults keep one node per IP, ignore reserved
        # address ranges and prefer node ids derived from the node's public IP, none of which suit loopback.
        settings.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": o["dht_bootstrap"],
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
            # A torrent added before the DHT is up waits for the announce timer (900 s by default).
            "dht_announce_interval": 5,
        })
    if o.get("buffers"):
        settings["recv_socket_buffer_size"] = o["buffers"]
        settings["send_socket_buffer_size"] = o["buffers"]
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    if o.get("magnet"):
        params = lt.parse_magnet_uri(o["magnet"])
    else:
        params.ti = lt.torrent_info(o["torrent"])
    params.save_path = o["save"]
    if o.get("seed"):
        params.flags |= lt.torrent_flags.seed_mode
    # Active at once: an auto-managed torrent starts paused and the session turns incoming peers
    # away ("no active torrents") until the auto manager resumes it a moment later.
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(params)
    emit(event="listening", port=ses.listen_port())
    finished = False
    last = 0
    stdin_open = True
    while True:
        for a in ses.pop_alerts():
            t = type(a).__name__
            if t == "tracker_reply_alert":
                emit(event="tracker_reply", num_peers=a.num_peers, url=a.url)
            elif t == "tracker_error_alert":
                emit(event="tracker_error", message=a.message(), url=a.url)
            elif t == "tracker_warning_alert":
                emit(event="tracker_warning", message=a.message())
            elif t == "peer_connect_alert":
                emit(event="peer_connect", ip=a.endpoint[0], port=a.endpoint[1])
            elif t == "peer_disconnected_alert":
                emit(event="peer_disconnected", ip=a.endpoint[0], port=a.endpoint[1], message=a.message())
            elif t == "torrent_finished_alert" and not finished:
                finished = True
                emit(event="finished")
            elif t == "metadata_received_alert":
                emit(event="metadata")
            elif t == "dht_reply_alert":
                emit(event="dht_reply", num_peers=a.num_peers)
            elif t == "dht_bootstrap_alert":
                emit(event="dht_bootstrap")
            elif t == "torrent_error_alert":
                emit(event="error", message=a.message())
            elif o.get("verbose"):
                emit(event="alert", type=t, message=a.message())
        now = time.time()
        if now - last > 0.5:
            last = now
            s = h.status()
            peers = [
                {"ip": p.ip[0], "port": p.ip[1], "down": p.total_download, "up": p.total_upload,
                 "rc4": bool(p.flags & lt.peer_info.rc4_encrypted),
                 "pe": bool(p.flags & (lt.peer_info.rc4_encrypted | lt.peer_info.plaintext_encrypted))}
                for p in h.get_peer_info()
            ]
            emit(event="status", progress=s.progress, state=str(s.state), seeding=s.is_seeding,
                 downloaded=s.total_payload_download, uploaded=s.total_payload_upload, peers=peers)
        if stdin_open:
            r, _, _ = select.select([sys.stdin], [], [], 0.1)
            if r:
                line = sys.stdin.readline()
                if not line:
                    stdin_open = False
                    continue
                cmd = json.loads(line)
                if cmd.get("cmd") == "connect":
                    h.connect_peer((cmd["ip"], cmd["port"]))
                elif cmd.get("cmd") == "quit":
                    break
        else:
            time.sleep(0.1)
    emit(event="stopped")


def main():
    o = json.loads(sys.argv[1])
    if o["action"] == "create":
        create(o)
    else:
        run(o)


if __name__ == "__main__":
    main()
