"""How long `GET /api/assets?prefix=` takes page by page through 100 000
entries under one prefix (`make bench-listing`): keyset paging should make
each page cost its own size, the last as much as the first.

Starts the release `kiln` on the embedded defaults (SQLite) in a temporary
directory, writes the entries' rows straight into its catalog (the listing
reads rows only; uploading 200 000 images would measure the uploads), with as
many entries before and after the prefix, then walks the prefix with the
opaque cursor and prints each page's time at the start and at the end.
"""

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from run import start_kiln


def fill(database, prefix, count):
    rows = []
    now = int(time.time() * 1000)
    for i in range(count):
        path = f"{prefix}/{i // 100:04}/{i % 100:02}"
        rows.append((path, 1, "{}", "[]", "image/jpeg", 64, 48, 1000, "00" * 32,
                     f"{path}/-/1/original", now, now))
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO entries (path, entry, labels, tags, content_type, width, height, bytes, sha256, "
            "object_key, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def page(base, key, query):
    request = urllib.request.Request(f"{base}/api/assets?{query}", headers={"Authorization": f"Bearer {key}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request) as answer:
        body = json.loads(answer.read())
    return time.perf_counter() - started, body


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-listing-") as work:
        data = Path(work)
        kiln, key = start_kiln(data)  # makes the catalog and the development key
        kiln.stop()
        database = data / "data/kiln.db"
        for prefix in ["aaa", "big", "zzz"]:
            fill(database, prefix, args.entries)
        kiln, _ = start_kiln(data)
        try:
            times, cursor, listed = [], None, 0
            while True:
                query = f"prefix=big&limit={args.limit}" + (f"&cursor={cursor}" if cursor else "")
                took, body = page(kiln.url, key, query)
                if body["entries"]:
                    times.append(took * 1000)
                listed += len(body["entries"])
                cursor = body["next_cursor"]
                if not cursor:
                    break
            small, _ = page(kiln.url, key, f"prefix=big/0000&limit={args.limit}")
        finally:
            kiln.stop()
    assert listed == args.entries, f"listed {listed} of {args.entries}"
    first, last = times[:3], times[-3:]
    print(f"{listed} entries under one prefix (and {2 * args.entries} around it), {len(times)} pages of "
          f"{args.limit}, release build, SQLite:")
    print(f"  first pages: {', '.join(f'{t:.1f}' for t in first)} ms")
    print(f"  last pages:  {', '.join(f'{t:.1f}' for t in last)} ms")
    print(f"  median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms")
    print(f"  one page of a prefix with 100 entries: {small * 1000:.1f} ms")


if __name__ == "__main__":
    main()
