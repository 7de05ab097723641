#!/usr/bin/env python3
"""What per-request metrics and usage counting cost on the cheapest request
(`make bench-counting`): (b) of `make bench` on its own. Two release Kilns,
one with `[metrics]` and `[analytics]` off, serve the same 200 cached
variants of the corpus photos, driven at the same time (two connections
each) in alternating rounds; prints CPU per request and throughput of each.

    python3 bench/counting.py [--rounds 24] [--seconds 5] [--corpus ../shared/corpus]
"""

import argparse
import statistics
import tempfile
import urllib.request
from pathlib import Path

import run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--corpus", default=str(run.ROOT.parent / "shared/corpus"))
    args = parser.parse_args()
    run.TOOLS.mkdir(parents=True, exist_ok=True)
    photos = sorted(Path(args.corpus).glob("photo-*-2560x1600.jpg"))[:4]
    work = Path(tempfile.mkdtemp())
    servers = []
    try:
        for name, config in [("on", ""), ("off", "[metrics]\nenabled = false\n[analytics]\nenabled = false\n")]:
            (work / name).mkdir()
            server, key = run.start_kiln(work / name, config)
            servers.append(server)
            run.wait_for(server.url + "/health")
            for photo in photos:
                run.upload(server.url, key, f"warm/{photo.stem}", photo)
        paths = run.cached_paths("warm", photos)
        for server in servers:
            for path in paths:
                with urllib.request.urlopen(server.url + path) as answer:
                    answer.read()
        run.COUNTING_ROUNDS = args.rounds
        c = run.counting_cost(servers[0], servers[1], paths, args.seconds)
        print(f"CPU per request: on {c['cpu_on_ms'] * 1000:.2f} µs, off {c['cpu_off_ms'] * 1000:.2f} µs, "
              f"counting {c['cpu_cost'] * 100:+.2f}%")
        print(f"throughput: on {c['on_rps']:.0f}, off {c['off_rps']:.0f} req/s ({c['cost'] * 100:+.2f}% fewer; "
              f"median round ratio {statistics.median(c['ratios'])}, rounds {c['ratios']}); non-2xx {c['errors']}")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
