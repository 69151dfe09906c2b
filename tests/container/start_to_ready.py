"""Start-to-ready of an iotemu binary on an empty data directory: from the exec until
GET /_iotemu/health answers 200 (a fresh CA, server certificate and stores are made every time).

  start_to_ready.py IOTEMU_BINARY [RUNS] [SEED_FILE]

Prints one line per run and the median, in milliseconds. A measurement, not a test: it asserts
only that the emulator gets ready."""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def healthy(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /_iotemu/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_run(binary, seed):
    mqtt, mqtts, api, lns, device = free_ports(5)
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEMU_")}
        args = [binary, "serve", "--data-dir", os.path.join(data, "d"), "--mqtt-port", str(mqtt),
                "--mqtts-port", str(mqtts), "--api-port", str(api), "--lns-port", str(lns),
                "--device-port", str(device), "--no-stdout-logs"]
        if seed:
            args += ["--seed", seed]
        start = time.perf_counter()
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not healthy(api):
                if process.poll() is not None or time.perf_counter() - start > 10:
                    raise SystemExit(f"iotemu did not get ready (exit code {process.poll()})")
                time.sleep(0.001)
            return (time.perf_counter() - start) * 1000
        finally:
            process.terminate()
            process.wait(timeout=10)


def main(binary, runs="5", seed=None):
    times = []
    for i in range(int(runs)):
        ms = one_run(binary, seed)
        times.append(ms)
        print(f"run {i + 1}: {ms:.0f} ms")
    print(f"median start-to-ready: {statistics.median(times):.0f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:])
