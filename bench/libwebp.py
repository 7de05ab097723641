#!/usr/bin/env python3
"""The patched libwebp encoder against the published one, outside Kiln
(`make bench-libwebp`): host/vendor/libwebp-sys/README.kiln.md says what the
patch changes; `tests/libwebp/check.py` (run by `make test`) shows that it
writes the same bytes; this shows how much faster it does.

    target/tools/bench/venv/bin/python bench/libwebp.py [--corpus ../shared/corpus] \\
        [--rounds 4] [--reps 25] [--no-check]

The builds are check.py's. With --corpus, the check runs over every corpus
image first. Then the six photos' 512x320 frames at q80, effort 4 (what a
cold WebP transform encodes), the fastest of --reps encodes each, summed; the
builds take turns for --rounds rounds, pinned to one core.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests/libwebp"))
from check import builds, frame  # noqa: E402


def run(binary, *args, pin=None):
    command = [str(binary), *map(str, args)]
    if pin is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(pin), *command]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--no-check", action="store_true", help="time only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiln-libwebp-"))
    try:
        binaries = builds(work)
        photos = sorted(args.corpus.glob("photo-*-2560x1600.jpg"))
        if not photos:
            sys.exit(f"no photo-*-2560x1600.jpg in {args.corpus}")
        frames = [frame(photo, 512, work / f"{photo.stem}-512.ppm") for photo in photos]

        if not args.no_check:
            images = sorted(args.corpus.glob("*.jpg"))
            check_frames = [frame(image, size, work / f"{image.stem}-{size}.ppm")
                            for image in images for size in (37, 203, 777)]
            with ThreadPoolExecutor(2) as pool:
                outputs = dict(zip(binaries, pool.map(lambda b: run(b, "check", *check_frames), binaries.values())))
            for name, output in outputs.items():
                print(f"check {name}: {output}")
            if len(set(outputs.values())) != 1:
                sys.exit("a patched libwebp wrote other bytes than the published one")
            print("check: the same bytes")

        times = {name: [] for name in binaries}
        for round_ in range(args.rounds):
            order = list(binaries) if round_ % 2 == 0 else list(reversed(binaries))
            for name in order:
                output = run(binaries[name], "time", args.reps, 4, *frames, pin=0)
                times[name].append(float(output.split()[0]))
                print(f"round {round_ + 1} {name}: {output}")
        means = {name: sum(values) / len(values) for name, values in times.items()}
        for name, values in times.items():
            print(f"{name}: {', '.join(f'{v:.2f}' for v in values)} ms (mean {means[name]:.2f})")
        for name in list(binaries)[1:]:
            print(f"{name}/published: {means[name] / means['published']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
