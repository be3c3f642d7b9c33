#!/usr/bin/env python3
"""Time from exec to the first completed TLS handshake of the release oauth-server.

    scripts/startup.py [RUNS]      (default 20; needs `cargo build --release` first)

Prints the median and the worst run. Each run starts the server on a fresh loopback port,
polls it with TLS handshakes every 0.2 ms for at most 5 s, then stops it with SIGTERM.
"""
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=root))
binary = os.path.join(meta["target_directory"], "release", "oauth-server")
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20

with tempfile.TemporaryDirectory() as work:
    subprocess.run([binary, "gen-certs", "--out", f"{work}/certs"], check=True, capture_output=True)
    subprocess.run([binary, "add-client", "--clients", f"{work}/clients.json", "--id", "svc"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(cafile=f"{work}/certs/ca.pem")
    times = []
    for _ in range(runs):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        start = time.perf_counter()
        server = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{port}", "--cert", f"{work}/certs/server.pem",
             "--key", f"{work}/certs/server.key", "--clients", f"{work}/clients.json"],
            stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - start < 5:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                        with context.wrap_socket(raw, server_hostname="localhost"):
                            times.append((time.perf_counter() - start) * 1000)
                            break
                except OSError:
                    time.sleep(0.0002)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"exec to first TLS handshake over {len(times)} runs: "
          f"median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms")
