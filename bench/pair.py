#!/usr/bin/env python3
"""Two `kiln` builds side by side on one workload of `make bench`, in
alternating rounds, for changes smaller than this machine's drift between
runs (±10% a minute on a shared machine); the order within a round
alternates. Reports req/s and CPU time per request (all of a server's
processes, ÷ requests) for every round.

    target/tools/bench/venv/bin/python bench/pair.py BEFORE AFTER \\
        [--workload cold|cached] [--rounds 4] [--seconds 8] [--formats webp,jpeg] \\
        [--corpus ../shared/corpus]

`cold` (a): each round asks both servers for variants neither has made.
`cached` (b): the same 200 variants served again, with nginx serving the
same bytes as static files as a third system in every round.

BEFORE and AFTER are paths to `kiln` binaries (copy the old one aside before
rebuilding). Needs `make bench-deps` (wrk, nginx).
"""

import argparse
import tempfile
import urllib.request
from pathlib import Path

import run as bench


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--workload", choices=["cold", "cached"], default="cold")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--formats", default="webp,jpeg")
    parser.add_argument("--corpus", default=str(bench.ROOT.parent / "shared/corpus"))
    args = parser.parse_args()
    photos = sorted(Path(args.corpus).glob("photo-*-2560x1600.jpg"))
    cached = args.workload == "cached"
    formats = ["jpeg"] if cached else args.formats.split(",")
    # A cached request costs microseconds of CPU, a cold one milliseconds.
    unit, scale = ("µs", 1000) if cached else ("ms", 1)
    work = Path(tempfile.mkdtemp(prefix="kiln-pair-"))
    work.chmod(0o755)  # nginx's workers run as another user
    servers = {}
    try:
        for name, binary in [("before", args.before), ("after", args.after)]:
            data = work / name
            data.mkdir()
            server, key = bench.start_kiln(data, binary=binary.resolve())
            servers[name] = server
            prefixes = ["c"] if cached else [f"r{r}{fmt}" for r in range(args.rounds + 1) for fmt in formats]
            for prefix in prefixes:
                for photo in photos:
                    bench.upload(server.url, key, f"{prefix}/{photo.stem}", photo)
        if cached:
            cached_paths = bench.cached_paths("c", photos)
            paths = {name: cached_paths for name in servers}
            for server in servers.values():
                for path in cached_paths:
                    with urllib.request.urlopen(server.url + path) as response:
                        response.read()
            nginx, paths["nginx"] = bench.start_nginx(work, servers["after"].url, paths["after"])
            servers["nginx"] = nginx
            for name, server in servers.items():  # warm-up
                bench.wrk(server.url, paths[name], 2)
        else:
            for server in servers.values():  # round 0: warm-up
                bench.wrk(server.url, bench.kiln_paths("r0jpeg", photos, "jpeg"), 4)
        results = {}
        for r in range(1, args.rounds + 1):
            order = list(servers) if r % 2 else list(servers)[::-1]
            for fmt in formats:
                for name in order:
                    round_paths = paths[name] if cached else bench.kiln_paths(f"r{r}{fmt}", photos, fmt)
                    result = bench.wrk(servers[name].url, round_paths, args.seconds, server=servers[name])
                    results.setdefault((fmt, name), []).append(result)
                    print(f"round {r} {fmt} {name}: {result['rps']:.1f} req/s, "
                          f"{result['cpu_ms'] * scale:.2f} {unit} CPU per request, "
                          f"{result['errors']} non-2xx", flush=True)
        for fmt in formats:
            for name in servers:
                runs = results[(fmt, name)]
                mean = sum(run["cpu_ms"] for run in runs) / len(runs)
                print(f"{fmt} {name}: req/s {[round(run['rps'], 1) for run in runs]}, "
                      f"CPU {unit} {[round(run['cpu_ms'] * scale, 2) for run in runs]}, mean {mean * scale:.2f}")
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
