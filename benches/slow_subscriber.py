"""The slow-subscriber benchmark (not a test); `scripts/bench-slow-subscriber.sh` runs it.

One MQTT client subscribes to `flood/t` at QoS 1 (or 0) and then never reads its socket nor
acknowledges anything; publishers flood that topic with QoS 1 (or 0) messages of 100 bytes as
fast as they can for DURATION seconds (their PUBACKs are read and discarded). The broker's RSS
(VmRSS of /proc/PID/status) is sampled every 0.5 s. Printed as one JSON object: RSS before, at
its peak and at the end, the messages published, and `publishOutThrottled` from
`/_iotemu/health` (deliveries dropped because the subscriber's backlog was full).

Before the connection backlog was bounded, this run grew iotemu from 19 MB to 1.2 GB in 22 s.

Usage: python benches/slow_subscriber.py IOTEMU_BIN [--duration S] [--qos 0|1] [--publishers N]
       [--log-level LEVEL]
Only raw MQTT 3.1.1 bytes over 127.0.0.1 sockets; no dependency beyond the standard library.
"""
import argparse
import json
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request


def start(binary, data_dir, log_level):
    process = subprocess.Popen(
        [binary, "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0", "--device-port", "0", "--no-stdout-logs",
         "--data-dir", data_dir, "--log-level", log_level],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        match = re.match(r"iotemu listening mqtt=(\S+) mqtts=(\S+) api=(\S+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, match.group(1), match.group(3)
    raise RuntimeError("iotemu exited before listening")


def remaining_length(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first_byte, body):
    return bytes([first_byte]) + remaining_length(len(body)) + body


def utf8(s):
    data = s.encode()
    return struct.pack("!H", len(data)) + data


def connect(addr, client_id):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + utf8(client_id)
    sock.sendall(packet(0x10, body))
    ack = sock.recv(4)
    assert ack[:1] == b"\x20" and ack[3:4] == b"\x00", f"CONNACK {ack!r}"
    return sock


def publish(topic, payload, qos, pkid):
    body = utf8(topic) + (struct.pack("!H", pkid) if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


def drain(sock):
    """Reads and discards until the socket closes."""
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def health(api):
    with urllib.request.urlopen(f"http://{api}/_iotemu/health", timeout=10) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--duration", type=float, default=22)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--log-level", default="DISABLED")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        process, mqtt, api = start(args.binary, data_dir, args.log_level)
        try:
            subscriber = connect(mqtt, "never-reads")
            subscriber.sendall(packet(0x82, struct.pack("!H", 1) + utf8("flood/t") + bytes([args.qos])))
            assert subscriber.recv(5)[:1] == b"\x90", "SUBACK"
            time.sleep(0.5)
            before = rss_kb(process.pid)
            stop = threading.Event()
            published = [0] * args.publishers

            def flood(index):
                sock = connect(mqtt, f"flooder-{index}")
                # PUBACKs are read and thrown away, so that the publisher is never the bottleneck.
                threading.Thread(target=drain, args=(sock,), daemon=True).start()
                payload = b"x" * 100
                pkid = 0
                while not stop.is_set():
                    batch = bytearray()
                    for _ in range(200):
                        pkid = pkid % 65535 + 1
                        batch += publish("flood/t", payload, args.qos, pkid)
                    sock.sendall(batch)
                    published[index] += 200
                sock.close()

            threads = [threading.Thread(target=flood, args=(i,)) for i in range(args.publishers)]
            for t in threads:
                t.start()
            peak, samples = before, []
            started = time.time()
            while time.time() - started < args.duration:
                time.sleep(0.5)
                rss = rss_kb(process.pid)
                samples.append(rss)
                peak = max(peak, rss)
            stop.set()
            for t in threads:
                t.join()
            elapsed = time.time() - started
            time.sleep(0.5)
            end = rss_kb(process.pid)
            state = health(api)
            print(json.dumps({
                "qos": args.qos,
                "duration_s": round(elapsed, 1),
                "published": sum(published),
                "published_per_s": round(sum(published) / elapsed),
                "rss_before_mb": round(before / 1024, 1),
                "rss_peak_mb": round(peak / 1024, 1),
                "rss_end_mb": round(end / 1024, 1),
                "publishOutThrottled": state.get("publishOutThrottled"),
                "logEntriesDropped": state.get("logEntriesDropped"),
            }, indent=2))
            subscriber.close()
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
