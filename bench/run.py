#!/usr/bin/env python3
"""Kiln against its peers in one run: `make bench` (see BENCHMARKS.md).

Every system gets the same photos, the same transformations and the same
load generator (wrk, 2 threads, 4 connections) on the same cores, one after
the other, except for the price of each plugin in (d): its chain and the
plain one run at the same time, two connections each. The libvips floor is
pyvips doing the same decode-resize-encode in one process per core, with no
HTTP at all. Results go to BENCHMARKS.md and bench/chart.svg.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "target/tools/bench"
WRK_SCRIPT = ROOT / "bench/paths.lua"
SIZES = range(480, 521)  # fit-in boxes: every request a different variant
WARM_UP_SECONDS = 4
QUALITIES = range(72, 89)  # about q80, all below q90 (where JPEG keeps full colour)
# (f)'s AVIF qualities, about libvips' and sharp's default of 50; both systems
# encode with libvips' heifsave (AV1), so the same Q is the same setting.
AVIF_QUALITIES = range(42, 59)
# What Chrome and Firefox send for an <img>.
BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


class Server:
    """A peer started on loopback, stopped (with its children) on exit."""

    def __init__(self, name, command, url, cwd=None, env=None):
        self.name = name
        self.log = open(TOOLS / f"{name}.log", "w")
        self.process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE if name == "kiln" else self.log, stderr=self.log,
            start_new_session=True, text=True,
        )
        self.url = url

    def stop(self):
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def process_tree(pid):
    """`pid` and every process below it."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def cpu_seconds(pids):
    """User + system CPU time of each process in `pids` (0 for one gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            times[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            times[pid] = 0.0
    return times


def wrk(base, paths, seconds, connections=4, method="GET", body_files=None, headers=(), server=None):
    """Drives `paths` (each used once per thread stride) at `base`; returns
    requests/s, p50/p99 in ms and the count of non-2xx answers, and with
    `server` the CPU time its processes spent per request and the share of
    that work its busiest process did."""
    pids = process_tree(server.process.pid) if server else []
    before = cpu_seconds(pids)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(paths) + "\n")
    env = {**os.environ, "WRK_PATHS": listing.name, "WRK_METHOD": method,
           "WRK_BODIES": ":".join(body_files or []), "WRK_HEADERS": "\n".join(headers)}
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
         "-s", str(WRK_SCRIPT), base],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(listing.name)

    def latency(label):
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": total,
        "errors": int(errors.group(1)) if errors else 0,
        "unique": len(paths),
    }
    if server:
        after = cpu_seconds(pids)
        spent = [after[pid] - before[pid] for pid in pids]
        result["cpu_ms"] = sum(spent) * 1000 / max(total, 1)
        result["busiest_share"] = max(spent) / max(sum(spent), 1e-9)
    return result


def wrk_spread(server, paths, seconds, processes):
    """`wrk` against a server of several processes sharing one listening
    socket (thumbor's `--processes`). All four connections sometimes land on
    one process, which then does all the work on one core while the others
    idle: half the throughput, with the same CPU time per request. Such a run
    is repeated (up to three times in all) so the peer is measured at its best;
    the last run is returned either way, with the number of attempts, and
    marked when it still ran on one process."""
    for attempt in range(1, 4):
        result = wrk(server.url, paths, seconds, server=server)
        result["attempts"] = attempt
        result["one_process"] = result["busiest_share"] >= 1 - 0.5 / processes
        if not result["one_process"]:
            break
    return result


COLD_ROUNDS = 3
PLUGIN_ROUNDS = 4
# (d)'s chains: report label -> the path prefix whose `transforms` run it.
PLUGIN_CHAINS = {"none": "none", "noop": "noop", "watermark": "wm"}
# (d)'s side-by-side runs, which price each plugin against none: the
# plugins' chains and a control, none again on paths of its own, which
# shows what the method reads when there is nothing to price.
PAIRED_CHAINS = {**{label: chain for label, chain in PLUGIN_CHAINS.items() if label != "none"}, "control": "ctl"}
PAIRED_ROUNDS = 12  # per chain


def side_by_side(base, loads, seconds):
    """Drives each of `loads` (label -> paths) at `base` at the same time,
    two connections each, and returns each one's result. A plugin's cost is
    a few percent, while this machine's speed drifts by ±10% between runs
    taken seconds apart; loads that share every moment share the drift too,
    so the ratio of their throughputs is the ratio of their work."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(loads)) as threads:
        running = {label: threads.submit(wrk, base, paths, seconds, 2) for label, paths in loads.items()}
        return {label: run.result() for label, run in running.items()}


def paired_rounds():
    """(d)'s side-by-side rounds: PAIRED_ROUNDS per chain, the chains taking
    turns, each round on originals of its own: (chain label, {side: the path
    prefix of its originals}). Which side's wrk starts first alternates from
    one turn of the chains to the next."""
    labels = list(PAIRED_CHAINS)
    for r in range(PAIRED_ROUNDS * len(labels)):
        label = labels[r % len(labels)]
        chain = PAIRED_CHAINS[label]
        sides = [("none", f"paired/{chain}/r{r}"), (label, f"{chain}/p{r}")]
        yield label, dict(sides if r // len(labels) % 2 == 0 else sides[::-1])


def plugin_costs(base, photos, seconds):
    """(d)'s price of each plugin (and the control's): `none` and the chain
    side by side; the cost is 1 - the chain's req/s / none's, over all its
    rounds."""
    rounds = {}
    for label, loads in paired_rounds():
        paths = {side: kiln_paths(prefix, photos, "jpeg") for side, prefix in loads.items()}
        rounds.setdefault(label, []).append(side_by_side(base, paths, seconds))
    costs = {}
    for label, runs in rounds.items():
        none, chain = (sum(run[side]["rps"] for run in runs) / len(runs) for side in ("none", label))
        costs[f"plugin-cost/{label}"] = {
            "cost": 1 - chain / none,
            "none_rps": none,
            "rps": chain,
            "ratios": [round(run[label]["rps"] / run["none"]["rps"], 3) for run in runs],
            "errors": sum(run[side]["errors"] for run in runs for side in run),
            "round_seconds": seconds,
        }
    return costs


COUNTING_ROUNDS = 6


def counting_cost(counting, quiet, paths, seconds):
    """(b)'s price of per-request metrics and usage counting: the same
    cached variants from a Kiln that counts and one that does not, driven at
    the same time (two connections each) in COUNTING_ROUNDS rounds, which one
    starts first alternating. The two share every moment of the machine, so
    the ratio of their throughputs is the ratio of their work; CPU time per
    request, from the same rounds, says the same from the other side."""
    from concurrent.futures import ThreadPoolExecutor

    runs = []
    for r in range(COUNTING_ROUNDS):
        sides = [("on", counting), ("off", quiet)]
        with ThreadPoolExecutor(2) as threads:
            running = {label: threads.submit(wrk, server.url, paths, seconds, 2, server=server)
                       for label, server in (sides if r % 2 == 0 else sides[::-1])}
            runs.append({label: run.result() for label, run in running.items()})
    on, off = (sum(run[side]["rps"] for run in runs) / len(runs) for side in ("on", "off"))
    cpu_on, cpu_off = (sum(run[side]["cpu_ms"] for run in runs) / len(runs) for side in ("on", "off"))
    return {
        "cost": 1 - on / off,
        "cpu_cost": cpu_on / cpu_off - 1,
        "on_rps": on,
        "off_rps": off,
        "cpu_on_ms": cpu_on,
        "cpu_off_ms": cpu_off,
        "ratios": [round(run["on"]["rps"] / run["off"]["rps"], 3) for run in runs],
        "errors": sum(run[side]["errors"] for run in runs for side in run),
        "round_seconds": seconds,
    }


def alternating(workloads, rounds, seconds):
    """Runs the workloads in `rounds` alternating rounds of `seconds` each,
    every round starting with another one, and merges each one's runs. The
    machine's speed drifts by ±10% over a minute, as much as the margins the
    targets ask for; many short alternating runs give each workload the same
    share of fast and slow moments. `workloads[label](r, seconds)` runs round
    r and returns its result; a workload on Kiln asks for variants no other
    round asked for. A round that ran on one of a server's processes only
    (`wrk_spread`) is left out, unless every round of it did."""
    runs = {label: [] for label in workloads}
    labels = list(workloads)
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            runs[label].append(workloads[label](r, seconds))
    merged = {}
    for label, all_rounds in runs.items():
        rs = [r for r in all_rounds if not r.get("one_process")] or all_rounds
        requests = sum(r["requests"] for r in rs)
        merged[label] = {
            "rps": sum(r["rps"] for r in rs) / len(rs),
            "p50": statistics.median(r["p50"] for r in rs),
            "p99": max(r["p99"] for r in rs),
            "requests": requests,
            "errors": sum(r["errors"] for r in all_rounds),
            "unique": sum(r["unique"] for r in rs),
            "rounds": [round(r["rps"], 1) for r in rs],
            "round_seconds": seconds,
            "reruns": sum(r.get("attempts", 1) - 1 for r in all_rounds),
            "left_out": len(all_rounds) - len(rs),
        }
        if all("cpu_ms" in r for r in rs):
            merged[label]["cpu_ms"] = sum(r["cpu_ms"] * r["requests"] for r in rs) / max(requests, 1)
    return merged


def round_of(paths, r, rounds):
    """Round r's share of `paths`: the list turned to start at the r-th of
    `rounds` equal parts, so that rounds shorter than a part never meet."""
    start = r * len(paths) // rounds
    return paths[start:] + paths[:start], len(paths) // rounds


def floor_job(args):
    import pyvips  # imported in the worker: one libvips per process
    paths, size, q, suffix, deadline = args
    began = time.time()
    times = []
    done = 0
    while time.time() < deadline:
        path = paths[done % len(paths)]
        start = time.perf_counter()
        # What Kiln's pipeline does: JPEG decoded at the DCT scale (1/2, 1/4,
        # 1/8) that still covers the box, then resized the rest of the way.
        header = pyvips.Image.new_from_file(path)
        factor = max(header.width, header.height) // size
        shrink = next((s for s in (8, 4, 2) if factor >= s), 1)
        image = pyvips.Image.new_from_file(path, access="sequential", shrink=shrink)
        image = image.thumbnail_image(size, height=size)
        interlace = ",interlace=true" if suffix == ".jpg" else ""
        image.write_to_buffer(f"{suffix}[Q={q}{interlace}]")
        times.append((time.perf_counter() - start) * 1000)
        done += 1
    return done, times, began


def floor(photos, suffix, seconds):
    """pyvips, one process per core, the same decode-resize-encode, no HTTP;
    each process goes round all the photos, as the load generator does."""
    cores = os.cpu_count() or 1
    deadline = time.time() + seconds
    paths = [str(p) for p in photos]
    jobs = [(paths[i:] + paths[:i], 512, 80, suffix, deadline) for i in range(cores)]
    with Pool(cores) as pool:
        results = pool.map(floor_job, jobs)
    # From the first process's first image, not from the pool's start:
    # starting processes and libvips is no part of the floor.
    elapsed = deadline - min(began for _, _, began in results)
    times = sorted(t for _, ts, _ in results for t in ts)
    count = sum(n for n, _, _ in results)
    return {"rps": count / elapsed, "p50": statistics.median(times),
            "p99": times[int(len(times) * 0.99) - 1], "requests": count, "errors": 0, "unique": count}


def start_kiln(data, config="", binary=ROOT / "target/release/kiln"):
    """Kiln on `data` with `config`. The workloads make hundreds of variants
    of each photo, past the default bound a production path keeps
    (`limits.max-variants-per-entry`), which would answer them 422."""
    port = free_port()
    (data / "kiln.toml").write_text(f"[limits]\nmax-variants-per-entry = 1000000\n{config}")
    server = Server("kiln", [str(binary), "serve"], f"http://127.0.0.1:{port}",
                    cwd=data, env={"KILN_CONFIG": "kiln.toml", "KILN_SERVER__LISTEN": f"127.0.0.1:{port}",
                                   "KILN_LOG": "warn"})
    key = None
    for line in server.process.stdout:
        if line.startswith("development API key"):
            key = line.rsplit(" ", 1)[1].strip()
        if line.startswith("kiln listening on"):
            break
    return server, key


def upload(base, key, path, file):
    request = urllib.request.Request(f"{base}/assets/{path}", data=Path(file).read_bytes(), method="POST",
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 201


def concurrently(urls):
    """Sends every URL at once (one connection each) and times each answer."""
    from concurrent.futures import ThreadPoolExecutor

    def get(url):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            return response.status, (time.perf_counter() - start) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(get, urls))
    elapsed = time.perf_counter() - started
    times = sorted(t for _, t in answers)
    return {"rps": len(urls) / elapsed, "p50": statistics.median(times), "p99": times[-1],
            "requests": len(urls), "errors": sum(1 for status, _ in answers if status != 200),
            "unique": len(urls)}


def peak_rss_kb(pid):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))


def variants():
    return [(size, q) for q in QUALITIES for size in SIZES]


def kiln_paths(prefix, photos, fmt, qualities=QUALITIES):
    # ipx and thumbor write progressive JPEGs by default; so does every system here.
    progressive = "&progressive=true" if fmt == "jpeg" else ""
    return [f"/assets/{prefix}/{p.stem}?w={s}&h={s}&fit=inside&q={q}&format={fmt}{progressive}"
            for q in qualities for s in SIZES for p in photos]


def mean_bytes(base, paths, headers=None, samples=24):
    """The mean size of the bodies of an even spread of `paths`, and their
    content types (to show what `format=auto` chose)."""
    picked = paths[:: max(len(paths) // samples, 1)][:samples]
    sizes, types = [], set()
    for path in picked:
        request = urllib.request.Request(base + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=120) as answer:
            sizes.append(len(answer.read()))
            types.add(answer.headers.get("Content-Type", ""))
    return statistics.mean(sizes), sorted(types)


def cached_paths(prefix, photos):
    """(b)'s variants: the first 200 of (a)'s JPEG ones."""
    return kiln_paths(prefix, photos, "jpeg")[:200]


def start_nginx(work, kiln_url, paths):
    """nginx serving, as static files, the bytes Kiln answers `paths` with
    (making them where they are new); returns it and the files' paths."""
    static = work / "static"
    static.mkdir(parents=True, exist_ok=True)
    files = []
    for i, path in enumerate(paths):
        with urllib.request.urlopen(kiln_url + path) as response:
            (static / f"v{i}.jpg").write_bytes(response.read())
            files.append(f"/v{i}.jpg")
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        f"worker_processes {os.cpu_count() or 1};\ndaemon off;\npid {work}/nginx.pid;\n"
        f"error_log {work}/nginx-error.log;\nevents {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {static}; }} }}\n")
    nginx = Server("nginx", ["nginx", "-c", str(conf), "-p", str(work)], f"http://127.0.0.1:{port}")
    try:
        wait_for(f"{nginx.url}{files[0]}")
    except SystemExit:
        nginx.stop()
        raise
    return nginx, files


def run(args):
    corpus = Path(args.corpus).resolve()
    photos = sorted(corpus.glob("photo-*-2560x1600.jpg"))
    volna = corpus / "large-volna-5120x2880.jpg"
    if not photos or not volna.exists():
        raise SystemExit(f"no corpus photos in {corpus}")
    seconds = args.seconds
    results = {}
    work = Path(tempfile.mkdtemp(prefix="kiln-bench-"))
    work.chmod(0o755)  # nginx's workers run as another user
    servers = []
    try:
        # Kiln, with the plugin chains for (d).
        noop = ROOT / "target/wasm/wasm32-wasip2/release/noop.wasm"
        watermark = ROOT / "target/wasm/wasm32-wasip2/release/watermark.wasm"
        config = (f'[plugins.noop]\npath = "{noop}"\n[plugins.watermark]\npath = "{watermark}"\n'
                  f'config = {{ text = "kiln" }}\n'
                  '[[paths]]\npattern = "/noop/**"\ntransforms = ["noop"]\n'
                  '[[paths]]\npattern = "/wm/**"\ntransforms = ["watermark"]\n')
        kiln_data = work / "kiln"
        kiln_data.mkdir()
        kiln, key = start_kiln(kiln_data, config)
        servers.append(kiln)
        plugin_prefixes = [f"{chain}/r{r}" for chain in PLUGIN_CHAINS.values() for r in range(PLUGIN_ROUNDS)]
        plugin_prefixes += [prefix for _, loads in paired_rounds() for prefix in loads.values()]
        for prefix in ["warm", "noop/warm", "wm/warm", "photos", *plugin_prefixes]:
            for photo in photos:
                upload(kiln.url, key, f"{prefix}/{photo.stem}", photo)

        # Peers on the same photos.
        ipx_port, thumbor_port = free_port(), free_port()
        ipx = Server("ipx", [str(TOOLS / "ipx/node_modules/.bin/ipx"), "serve", "--dir", str(corpus)],
                     f"http://127.0.0.1:{ipx_port}", env={"PORT": str(ipx_port), "HOST": "127.0.0.1"})
        thumbor_conf = work / "thumbor.conf"
        thumbor_conf.write_text(f"LOADER = 'thumbor.loaders.file_loader'\nFILE_LOADER_ROOT_PATH = '{corpus}'\n"
                                "RESULT_STORAGE = None\nSTORAGE = 'thumbor.storages.no_storage'\n"
                                "QUALITY = 80\nAUTO_WEBP = False\nMAX_AGE = 0\n")
        thumbor = Server("thumbor", [str(TOOLS / "venv/bin/thumbor"), "-p", str(thumbor_port), "-i", "127.0.0.1",
                                     "-c", str(thumbor_conf), "--processes", str(os.cpu_count() or 1)],
                         f"http://127.0.0.1:{thumbor_port}")
        servers += [ipx, thumbor]
        wait_for(f"{ipx.url}/_/{photos[0].name}")
        wait_for(f"{thumbor.url}/healthcheck")

        # Each server's first seconds under load are slower (pools, caches and
        # allocators filling up): every system gets a few seconds of the
        # same work, on variants the measured runs do not ask for, first.
        print("warming up", flush=True)
        warm = [f"/s_{s}x{s},fit_inside,f_jpeg,q_90/{p.name}" for s in SIZES for p in photos]
        for prefix in ["warm", "noop/warm", "wm/warm"]:
            wrk(kiln.url, kiln_paths(prefix, photos, "jpeg"), WARM_UP_SECONDS)
        wrk(ipx.url, warm, WARM_UP_SECONDS)
        wrk(thumbor.url, [f"/unsafe/fit-in/{s}x{s}/filters:quality(90)/{p.name}" for s in SIZES for p in photos],
            WARM_UP_SECONDS)

        # (a) and (b) split a run's --seconds into COLD_ROUNDS rounds per system.
        round_seconds = max(seconds // COLD_ROUNDS, 3)
        for fmt, suffix in [("jpeg", ".jpg"), ("webp", ".webp")]:
            print(f"(a) cold transforms to {fmt}", flush=True)
            kiln_cold = kiln_paths("photos", photos, fmt)
            ipx_paths = [f"/s_{s}x{s},fit_inside,f_{fmt},q_{q}/{p.name}" for s, q in variants() for p in photos]
            thumbor_paths = [f"/unsafe/fit-in/{s}x{s}/filters:quality({q}):format({fmt})/{p.name}"
                             for s, q in variants() for p in photos]

            def kiln_round(r, t):
                # Each round on its own part of the variants: none made twice.
                part, unique = round_of(kiln_cold, r, COLD_ROUNDS)
                return {**wrk(kiln.url, part, t, server=kiln), "unique": unique}

            results.update(alternating({
                f"cold-{fmt}/kiln": kiln_round,
                f"cold-{fmt}/ipx": lambda r, t: wrk(ipx.url, ipx_paths, t, server=ipx),
                f"cold-{fmt}/thumbor": lambda r, t: wrk_spread(thumbor, thumbor_paths, t, os.cpu_count() or 1),
                f"cold-{fmt}/libvips floor": lambda r, t: floor(photos, suffix, t),
            }, COLD_ROUNDS, round_seconds))

        print("(f) cold format=auto for a browser (AVIF), against ipx's AVIF", flush=True)
        kiln_auto = kiln_paths("photos", photos, "auto", AVIF_QUALITIES)
        ipx_avif = [f"/s_{s}x{s},fit_inside,f_avif,q_{q}/{p.name}" for q in AVIF_QUALITIES for s in SIZES
                    for p in photos]

        def kiln_auto_round(r, t):
            part, unique = round_of(kiln_auto, r, COLD_ROUNDS)
            return {**wrk(kiln.url, part, t, headers=[f"Accept: {BROWSER_ACCEPT}"], server=kiln), "unique": unique}

        results.update(alternating({
            "auto-avif/kiln": kiln_auto_round,
            "auto-avif/ipx": lambda r, t: wrk(ipx.url, ipx_avif, t, server=ipx),
        }, COLD_ROUNDS, round_seconds))
        for label, base, paths, headers in [("auto-avif/kiln", kiln.url, kiln_auto, {"Accept": BROWSER_ACCEPT}),
                                            ("auto-avif/ipx", ipx.url, ipx_avif, None)]:
            results[label]["mean_bytes"], results[label]["content_types"] = mean_bytes(base, paths, headers)

        print("(d) cold transforms with plugins", flush=True)
        # (a) again next to the plugin runs, on variants of its own, so that
        # the three are compared under the same conditions.
        # Each round of each chain gets a third of a run's --seconds.
        plugin_round_seconds = max(seconds // 3, 3)
        results.update(alternating(
            {f"plugins/{label}": lambda r, t, chain=chain: wrk(kiln.url, kiln_paths(f"{chain}/r{r}", photos, "jpeg"),
                                                                t, server=kiln)
             for label, chain in PLUGIN_CHAINS.items()},
            PLUGIN_ROUNDS, plugin_round_seconds))
        print("(d) each plugin's cost, its chain and none side by side", flush=True)
        results.update(plugin_costs(kiln.url, photos, plugin_round_seconds))

        print("(b) cached variants against nginx serving the same bytes", flush=True)
        cached = cached_paths("photos", photos)
        nginx, nginx_paths = start_nginx(work, kiln.url, cached)
        servers.append(nginx)
        # The same Kiln with per-request metrics and usage counting off, on
        # the same variants: what counting costs on the cheapest request.
        quiet_data = work / "quiet"
        quiet_data.mkdir()
        quiet, quiet_key = start_kiln(quiet_data, "[metrics]\nenabled = false\n[analytics]\nenabled = false\n")
        servers.append(quiet)
        for photo in photos:
            upload(quiet.url, quiet_key, f"photos/{photo.stem}", photo)
        for path in cached:  # one at a time: all at once would overflow its queue
            with urllib.request.urlopen(quiet.url + path, timeout=120) as answer:
                answer.read()
        results.update(alternating({
            "cached/kiln": lambda r, t: wrk(kiln.url, cached, t, server=kiln),
            "cached/kiln, counting off": lambda r, t: wrk(quiet.url, cached, t, server=quiet),
            "cached/nginx": lambda r, t: wrk(nginx.url, nginx_paths, t, server=nginx),
        }, COLD_ROUNDS, round_seconds))
        results["counting-cost"] = counting_cost(kiln, quiet, cached, round_seconds)
        quiet.stop()

        print("(c) uploads", flush=True)
        bodies = [str(p) for p in photos]
        results["uploads/kiln"] = wrk(kiln.url, [f"/assets/up/{i}" for i in range(100000)], seconds,
                                      method="POST", body_files=bodies,
                                      headers=[f"Authorization: Bearer {key}",
                                               "Content-Type: application/octet-stream"], server=kiln)
        for server in [kiln, ipx, thumbor]:
            server.stop()

        print("(e) peak RSS during 16 concurrent cold transforms of the 14.7 MP photo", flush=True)
        rss_data = work / "rss"
        rss_data.mkdir()
        fresh, key = start_kiln(rss_data)
        servers.append(fresh)
        upload(fresh.url, key, "volna", volna)
        before = peak_rss_kb(fresh.process.pid)
        volna_urls = [f"{fresh.url}/assets/volna?w={1000 + i}&format=jpeg&q=80" for i in range(16)]
        started = time.time()
        results["rss/kiln"] = concurrently(volna_urls)
        results["rss/kiln"]["peak_rss_mb"] = peak_rss_kb(fresh.process.pid) / 1024
        results["rss/kiln"]["rss_before_mb"] = before / 1024
        results["rss/kiln"]["seconds"] = time.time() - started
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def chart(results, path):
    """A grouped horizontal bar chart of throughput, as plain SVG."""
    groups = [("cold → JPEG", "cold-jpeg"), ("cold → WebP", "cold-webp"), ("cached", "cached"),
              ("plugins", "plugins"), ("uploads", "uploads")]
    colours = {"kiln": "#d9480f", "ipx": "#1c7ed6", "thumbor": "#7048e8", "libvips floor": "#495057",
               "nginx": "#2f9e44", "none": "#d9480f", "noop": "#f08c00", "watermark": "#e8590c"}
    rows = [(title, key.split("/", 1)[1], results[key]["rps"]) for title, prefix in groups
            for key in results if key.startswith(prefix + "/")]
    width, bar, gap = 760, 18, 4
    # Each group has its own scale: cached requests are 100x cheaper than cold ones.
    tops = {}
    for title, _, rps in rows:
        tops[title] = max(tops.get(title, 0), rps)
    y, parts = 30, []
    last = None
    for title, system, rps in rows:
        scale = (width - 330) / tops[title]
        if title != last:
            y += 12
            parts.append(f'<text x="10" y="{y + 12}" font-weight="bold">{title}</text>')
            y += 20
            last = title
        parts.append(f'<text x="30" y="{y + 13}">{system}</text>')
        parts.append(f'<rect x="160" y="{y}" width="{rps * scale:.1f}" height="{bar}" '
                     f'fill="{colours.get(system, "#868e96")}"/>')
        parts.append(f'<text x="{165 + rps * scale:.1f}" y="{y + 13}">{rps:.1f}/s</text>')
        y += bar + gap
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 20}" '
           f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>'
           f'<text x="10" y="18" font-size="14" font-weight="bold">Throughput (requests/s, higher is better;'
           f' each group to its own scale)</text>{"".join(parts)}</svg>\n')
    Path(path).write_text(svg)


def report(results, path, args, produced=None):
    """Writes BENCHMARKS.md; `produced` (a `time.struct_time` in UTC) is when
    the run ended, for a report rewritten later from results.json."""
    def ratio(a, b):
        return results[a]["rps"] / results[b]["rps"]

    def row(key):
        r = results[key]
        errors = f"{r['errors']}" if r["errors"] else "0"
        cpu = f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "–"
        name = key.split('/', 1)[1]
        if r.get("left_out"):
            name += f" ({r['left_out']} of {len(r['rounds']) + r['left_out']} rounds on one process, left out; see below)"
        elif r.get("reruns"):
            name += f" ({r['reruns']} rounds rerun; see below)"
        if key.split("/")[0] in ("cold-jpeg", "cold-webp", "plugins", "auto-avif") and r["requests"] > r["unique"]:
            name += f" (**only {r['unique']} variants for {r['requests']} requests: some were cached**)"
        return (f"| {name} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                f"{r['requests']} | {errors} | {cpu} |")

    def plugin_cost_table():
        rows = []
        for key in (k for k in results if k.startswith("plugin-cost/")):
            r, label = results[key], key.split("/")[1]
            alone = (f"{(1 - ratio(f'plugins/{label}', 'plugins/none')) * 100:.1f}%"
                     if f"plugins/{label}" in results else "–")
            name = "none again (control)" if label == "control" else label
            rows.append(f"| {name} | {r['none_rps']:.1f} | {r['rps']:.1f} | **{r['cost'] * 100:.1f}%** | "
                        f"{', '.join(map(str, r['ratios']))} | {r['errors']} | {alone} |")
        seconds = next(results[k]["round_seconds"] for k in results if k.startswith("plugin-cost/"))
        return (f"Each plugin's cost, measured with its chain and none side by side: both driven at once, two "
                f"connections each, in {PAIRED_ROUNDS} rounds of {seconds} s per plugin on originals of their own "
                "(the plugins and the control taking turns). The two share every moment of the machine, so the "
                "ratio of their throughputs is the ratio of their work; the rows above, taken in turns, also "
                "carry the machine's drift between runs (±5% from one round to the next here), which is as "
                "large as the cost measured. The control is none against none again, on paths of its own: "
                "what the method reads when there is nothing to price. The last column is what the rows "
                "above give.\n\n"
                "| plugin | none req/s | with it req/s | cost | with it ÷ none, per round | non-2xx | "
                "cost from the rows above |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows))

    header = ("| system | req/s | p50 ms | p99 ms | requests | non-2xx | CPU ms/request |\n"
              "|---|---|---|---|---|---|---|")
    sections = []
    for title, prefix in [("(a) Cold transforms, 2560x1600 JPEG → fit 512x512 JPEG q≈80", "cold-jpeg"),
                          ("(a) Cold transforms, 2560x1600 JPEG → fit 512x512 WebP q≈80", "cold-webp"),
                          ("(b) Cached variants served again (Kiln) vs the same bytes as static files (nginx)",
                           "cached"),
                          ("(c) Uploads of the same photos (Kiln only: the peers take no uploads)", "uploads"),
                          ("(d) Cold transforms to JPEG with a plugin in the chain", "plugins"),
                          ("(e) 16 concurrent cold transforms of the 14.7 MP photo", "rss"),
                          ("(f) Cold `format=auto` for a browser's Accept (Kiln makes AVIF) against ipx's AVIF, "
                           "fit 512x512, Q 42-58", "auto-avif")]:
        keys = [k for k in results if k.startswith(prefix + "/")]
        if not keys:
            continue
        sections.append(f"### {title}\n\n{header}\n" + "\n".join(row(k) for k in keys))
        if prefix == "auto-avif":
            sizes = "; ".join(f"{k.split('/')[1]} {results[k]['mean_bytes'] / 1024:.1f} KiB "
                              f"({', '.join(results[k]['content_types'])})" for k in keys)
            sections[-1] += (f"\n\nMean result size over 24 of the variants, same sizes and Q on both: {sizes}. "
                             "Both encode with libvips' heifsave (libaom); Kiln at effort 2, ipx (sharp) at "
                             "its default effort 4, which spends more time for somewhat smaller files.")
        if prefix == "plugins":
            sections[-1] += "\n\n" + plugin_cost_table()
        if prefix == "cached" and "counting-cost" in results:
            c = results["counting-cost"]
            sections[-1] += (
                f"\n\nWhat per-request metrics and usage counting cost here (`[metrics] enabled` and "
                f"`[analytics] enabled`, on against off): the two Kilns driven at the same time, two "
                f"connections each, in {COUNTING_ROUNDS} rounds of {c['round_seconds']} s: "
                f"{c['on_rps']:.0f} against {c['off_rps']:.0f} req/s, **{c['cost'] * 100:.1f}%** fewer "
                f"(on ÷ off per round: {', '.join(map(str, c['ratios']))}); CPU per request "
                f"{c['cpu_on_ms'] * 1000:.1f} against {c['cpu_off_ms'] * 1000:.1f} µs, "
                f"**{c['cpu_cost'] * 100:+.1f}%**; non-2xx {c['errors']}.")
    def fastest_peer(fmt):
        return max((f"cold-{fmt}/ipx", f"cold-{fmt}/thumbor"), key=lambda k: results[k]["rps"])

    rss = results["rss/kiln"]["peak_rss_mb"]
    noop_cost = results["plugin-cost/noop"]["cost"]
    targets = [
        ("cold throughput ≥ 0.9× the libvips floor (JPEG)", ratio("cold-jpeg/kiln", "cold-jpeg/libvips floor"), 0.9),
        ("cold throughput ≥ 0.9× the libvips floor (WebP)", ratio("cold-webp/kiln", "cold-webp/libvips floor"), 0.9),
        *((f"cold throughput ≥ 1.2× the faster peer ({fastest_peer(fmt).split('/')[1]}, {name})",
           ratio(f"cold-{fmt}/kiln", fastest_peer(fmt)), 1.2) for fmt, name in [("jpeg", "JPEG"), ("webp", "WebP")]),
        ("cached throughput ≥ 0.5× nginx", ratio("cached/kiln", "cached/nginx"), 0.5),
    ]
    lines = [f"| {name} | {value:.2f}× | {'met' if value >= goal else '**missed**'} |" for name, value, goal in targets]
    lines.append(f"| a no-op plugin costs < 5% of (a) (side by side; see (d)) | {noop_cost * 100:.1f}% | "
                 f"{'met' if noop_cost < 0.05 else '**missed**'} |")
    lines.append(f"| peak RSS in (e) < 400 MB | {rss:.0f} MB | {'met' if rss < 400 else '**missed**'} |")
    if "counting-cost" in results:
        # CPU per request, not the throughput ratio: two servers sharing two
        # cores split them unevenly from round to round (on ÷ off ran from
        # 0.56 to 1.43 in one run), while the work each request costs does not move.
        counting = results["counting-cost"]["cpu_cost"]
        lines.append(f"| metrics and usage counting cost < 3% of (b) (CPU per request, side by side; see (b)) | "
                     f"{counting * 100:.1f}% | {'met' if counting < 0.03 else '**missed**'} |")
    cold_rounds = "; ".join(f"{k} {', '.join(map(str, results[k]['rounds']))}"
                            for k in results if k.startswith(("cold-", "cached/")))
    plugin_rounds = "; ".join(f"{k.split('/')[1]} {', '.join(map(str, results[k]['rounds']))}"
                              for k in results if k.startswith("plugins/"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    text = f"""# Benchmarks

Produced by `make bench` ({time.strftime('%Y-%m-%d %H:%M UTC', produced or time.gmtime())}) on {os.cpu_count()} cores
({cpu}), {args.seconds} s per system and workload, wrk with 2 threads and 4 connections (16 for (e)), every
system on loopback. Every request in (a) and (d) names a variant not made
before ({len(SIZES)} sizes × {len(QUALITIES)} qualities × 6 photos); ipx and thumbor keep no result cache. The libvips
floor is pyvips doing what Kiln's pipeline does (JPEG decoded at the DCT scale that covers the box, resized the rest of the way, encoded) in one process per core, without HTTP.
Kiln runs its release build as `make run` would, with no tuning. Every server first gets
{WARM_UP_SECONDS} s of the same kind of work on other variants (warm-up, not counted; Kiln once per plugin chain too).
This machine's speed drifts by ±10% from one minute to the next, as much as the margins the targets ask for,
so the systems take turns: (a) runs the four in {COLD_ROUNDS} alternating rounds of {results["cold-jpeg/kiln"]["round_seconds"]} s per format, Kiln's
rounds each on a part of the variants of its own, and (b) Kiln and nginx in as many; (d)'s "none" is (a)'s JPEG workload run again next to the plugin runs,
and the three run in {PLUGIN_ROUNDS} alternating rounds of {results["plugins/none"]["round_seconds"]} s, each round on originals of its own;
each plugin's cost is then measured side by side with none (see (d)).
Each round is led by another system (req/s: the mean of the rounds; p50: their median; p99: the worst).
Req/s per round: {cold_rounds}; (d) {plugin_rounds}.

![throughput](bench/chart.svg)

## Targets, as ratios measured in this run

| target | measured | |
|---|---|---|
{chr(10).join(lines)}

## Results

{chr(10).join(sections)}

(e) peak RSS of `kiln` (VmHWM): **{rss:.0f} MB** (after the upload, before the transforms:
{results['rss/kiln']['rss_before_mb']:.0f} MB).

CPU ms/request is the user + system time of the server's processes over the run (all of them for
thumbor, ipx and nginx) divided by the requests answered; for the floor there is no server to
count. thumbor's processes share one listening socket, and all four connections sometimes land on
one of them, which then serves them all on one core: such a round is repeated, up to three times,
and a round that still ran on one process is left out of thumbor's numbers (a row says so), so
thumbor is compared at its best.

## How to read and rerun

`make bench` installs wrk, nginx, thumbor, pyvips and ipx, builds Kiln and the plugins in release
mode, and runs `bench/run.py --corpus ../shared/corpus`; `BENCH_SECONDS=30 make bench` runs
longer. Raw numbers are in `target/tools/bench/results.json`.
"""
    Path(path).write_text(text + "\n" + args.notes.read_text() if args.notes and args.notes.exists() else text)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--notes", type=Path, default=ROOT / "bench/NOTES.md")
    args = parser.parse_args()
    results = run(args)
    (TOOLS / "results.json").write_text(json.dumps(results, indent=2))
    chart(results, ROOT / "bench/chart.svg")
    report(results, ROOT / "BENCHMARKS.md", args)
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
