#!/usr/bin/env python3
"""What hostile-but-valid traffic costs a `kiln` build: peak memory, time,
and what is left behind, for each attack the hardening work closed. Every
scenario runs on a fresh server, so each peak is its own.

    python3 bench/hostile.py BINARY [BINARY ...] [--only NAME,NAME]

Give the build before a change and the build after it to compare them (copy
the old binary aside before rebuilding). Uses only the standard library;
the spin plugin comes from `make plugins`. Every request goes to loopback.
"""

import argparse
import base64
import json
import os
import socket
import struct
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import run as bench

SPIN = bench.ROOT / "target/wasm/wasm32-wasip2/release/spin.wasm"
FIXTURES = bench.ROOT / "tests/fixtures"
MIB = 1024 * 1024


def peak_rss(server):
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def request(url, data=None, key=None, timeout=120, method=None):
    """(status, seconds), or (None, seconds) when no answer came in time."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                    timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (TimeoutError, urllib.error.URLError, ConnectionError):
        status = None
    return status, time.perf_counter() - started


def stored_bytes(data):
    return sum(f.stat().st_size for f in (data / "data/objects").rglob("*") if f.is_file())


def png(width, height):
    """A valid RGBA PNG of zeros; deflate makes even 16000x16000 small."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\0" * (1 + 4 * width)
    packer = zlib.compressobj(9)
    raw = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


SVG_PATHS = '[[paths]]\npattern = "/svg/**"\nallowed-content-types = ["image/svg+xml", "image/png"]\n'


def scenario_enlargements(start):
    """Item 1: results far larger than their originals (8192x8192 from 48x32 frames and a 64x64 JPEG)."""
    server, key, data = start("")
    request(f"{server.url}/assets/anim", (FIXTURES / "boats-8frames.gif").read_bytes(), key)
    request(f"{server.url}/assets/small", (FIXTURES / "path-64.jpg").read_bytes(), key)
    rows = []
    for query in ["anim?w=8192&h=8192&fit=fill&format=webp", "small?w=8192&h=8192&fit=fill&q=100"]:
        status, seconds = request(f"{server.url}/assets/{query}")
        rows.append((query, status, seconds, peak_rss(server)))
    # Four at once, on a server of their own.
    server, key, data = start("")
    request(f"{server.url}/assets/anim", (FIXTURES / "boats-8frames.gif").read_bytes(), key)
    urls = [f"{server.url}/assets/anim?w=8192&h={8192 - i}&fit=fill&format=webp" for i in range(4)]
    answers = [None] * 4
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, request(urls[i]))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows.append(("4 x anim 8192x8192 webp at once", [a[0] for a in answers], time.perf_counter() - started,
                 peak_rss(server)))
    return rows


def scenario_svg(start):
    """Item 2: a 10x10 SVG embedding a 16000x16000 PNG, and a 252-byte feMorphology."""
    rows = []
    server, key, data = start(SVG_PATHS)
    embedded = base64.b64encode(png(16000, 16000)).decode()
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image width="10" height="10" '
           f'href="data:image/png;base64,{embedded}"/></svg>').encode()
    status, seconds = request(f"{server.url}/assets/svg/embedded", svg, key)
    rows.append((f"upload: 10x10 SVG embedding 16000x16000 PNG ({len(svg) // 1024} KiB)", status, seconds,
                 peak_rss(server)))
    server, key, data = start(SVG_PATHS)
    morph = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><filter id="f">'
             b'<feMorphology radius="300"/></filter><rect width="10" height="10" filter="url(#f)"/></svg>')
    status, seconds = request(f"{server.url}/assets/svg/morph", morph, key, timeout=45)
    rows.append((f"upload: {len(morph)}-byte feMorphology SVG", status, seconds, peak_rss(server)))
    if status == 201:
        status, seconds = request(f"{server.url}/assets/svg/morph?w=4000", timeout=45)
        before = cpu_seconds(server)
        time.sleep(10)
        rows.append((f"its w=4000 variant; CPU in the 10 s after the answer {cpu_seconds(server) - before:.1f} s",
                     status, seconds, peak_rss(server)))
    return rows


def cpu_seconds(server):
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario_worker_wait(start):
    """Item 3: every worker held (a plugin spinning to its 20 s limit); a cold request meanwhile."""
    config = (f'[limits]\ntransform-workers = 2\n[plugins.spin]\npath = "{SPIN}"\ntimeout-ms = 20000\n'
              '[[paths]]\npattern = "/**"\nallowed-fx = ["spin"]\n')
    server, key, data = start(config)
    request(f"{server.url}/assets/a", (FIXTURES / "path-64.jpg").read_bytes(), key)
    holders = [threading.Thread(target=request, args=(f"{server.url}/assets/a?fx=spin&w={40 + i}",))
               for i in range(2)]
    for holder in holders:
        holder.start()
    time.sleep(1)
    status, seconds = request(f"{server.url}/assets/a?w=30", timeout=90)
    for holder in holders:
        holder.join()
    return [("cold request while both workers are held for 20 s", status, seconds, peak_rss(server))]


def scenario_connections(start):
    """Item 4: 200 idle and 200 slow-header connections; how many are still open 35 s later."""
    server, key, data = start("")
    port = int(server.url.rsplit(":", 1)[1])
    sockets = []
    for i in range(400):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
        sockets.append(s)
    time.sleep(35)
    open_count = 0
    for s in sockets:
        s.setblocking(False)
        try:
            open_count += 0 if s.recv(1, socket.MSG_PEEK) == b"" else 1
        except BlockingIOError:
            open_count += 1
        except OSError:
            pass
        s.close()
    status, seconds = request(f"{server.url}/health")
    return [(f"connections still open after 35 s: {open_count} of 400; /health", status, seconds,
             peak_rss(server))]


def scenario_labels(start):
    """Item 5: 3000 anonymous reads with 16 distinct 400-byte label filters each; then 1000 filters."""
    server, key, data = start("")
    request(f"{server.url}/assets/a", (FIXTURES / "path-64.jpg").read_bytes(), key)
    before = peak_rss(server)
    started = time.perf_counter()
    statuses = set()
    for i in range(3000):
        query = "&".join(f"label:k{j}={i:06d}{'v' * 394}" for j in range(16))
        statuses.add(request(f"{server.url}/assets/a?{query}")[0])
    rows = [(f"3000 reads, 16 filters each (statuses {sorted(statuses)}); RSS before {before // MIB} MiB",
             None, time.perf_counter() - started, peak_rss(server))]
    query = "&".join(f"label:k{j}=v" for j in range(1000))
    status, seconds = request(f"{server.url}/assets/a?{query}")
    rows.append(("1000 label filters", status, seconds, peak_rss(server)))
    return rows


def scenario_variants(start):
    """Item 6: what unsigned URLs make a server store for one 64x64 original."""
    server, key, data = start("")
    request(f"{server.url}/assets/a", (FIXTURES / "path-64.jpg").read_bytes(), key)
    base = stored_bytes(data)
    started = time.perf_counter()
    statuses = {}
    for i in range(10):
        status = request(f"{server.url}/assets/a?w=8192&h={8192 - i}&fit=fill&q=100")[0]
        statuses[status] = statuses.get(status, 0) + 1
    rows = [(f"10 distinct 8192x8192 enlargements {statuses}; stored {(stored_bytes(data) - base) / MIB:.1f} MiB",
             None, time.perf_counter() - started, peak_rss(server))]
    base = stored_bytes(data)
    statuses = {}
    started = time.perf_counter()
    for i in range(300):
        status = request(f"{server.url}/assets/a?w={100 + i}")[0]
        statuses[status] = statuses.get(status, 0) + 1
    variants = len(list((data / "data/objects/a/-/1").iterdir())) - 1
    rows.append((f"300 distinct small variants {statuses}; {variants} stored, "
                 f"{(stored_bytes(data) - base) / MIB:.1f} MiB", None, time.perf_counter() - started,
                 peak_rss(server)))
    return rows


SCENARIOS = {
    "enlargements": scenario_enlargements,
    "svg": scenario_svg,
    "worker-wait": scenario_worker_wait,
    "connections": scenario_connections,
    "labels": scenario_labels,
    "variants": scenario_variants,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", type=Path, nargs="+")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    bench.TOOLS.mkdir(parents=True, exist_ok=True)
    results = {}
    for binary in args.binaries:
        servers = []

        def start(config, binary=binary):
            data = Path(tempfile.mkdtemp(prefix="kiln-hostile-"))
            server, key = bench.start_kiln(data, config=config, binary=binary.resolve())
            servers.append(server)
            return server, key, data

        for name in args.only.split(","):
            try:
                rows = SCENARIOS[name](start)
            finally:
                for server in servers:
                    server.stop()
                servers.clear()
            for what, status, seconds, rss in rows:
                print(f"{binary}  {name:12}  {what}: status {status}, {seconds:.2f} s, peak RSS {rss // MIB} MiB",
                      flush=True)
                results.setdefault(str(binary), []).append(
                    {"scenario": name, "what": what, "status": status, "seconds": seconds, "peak_rss": rss})
    (bench.TOOLS / "hostile.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
