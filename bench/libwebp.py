#!/usr/bin/env python3
"""The vendored libwebp's encoder against the unpatched one, outside Kiln
(`make bench-libwebp`): host/vendor/libwebp-sys/README.kiln.md says what the
patch changes; this shows that it writes the same bytes and how much faster
it does.

    target/tools/bench/venv/bin/python bench/libwebp.py [--corpus ../shared/corpus] \\
        [--rounds 4] [--reps 25] [--no-check]

Both libraries are built here with the flags `host/vendor/libwebp-sys/build.rs`
gives them (the unpatched one is the vendored source with `kiln.patch` taken
back off). Then:
- check: every corpus image at 37, 203 and 777 pixels, as RGB and as RGBA,
  at efforts 0-6 and qualities 0-100 (4,200 encodes with the corpus as it
  is); the two libraries' bytes must hash the same.
- time: the six photos' 512x320 frames at q80, effort 4 (what a cold WebP
  transform encodes), the fastest of --reps encodes each, summed; the two
  builds take turns for --rounds rounds, pinned to one core.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyvips

ROOT = Path(__file__).resolve().parent.parent
CRATE = ROOT / "host/vendor/libwebp-sys"
HARNESS = ROOT / "bench/libwebp/encode.c"
# What build.rs passes to every file on x86-64 (with the crate's `sse41`
# feature, as host/Cargo.toml asks), and -O3 as cargo's release profile.
CFLAGS = ["-O3", "-msse4.1", "-DNDEBUG=1", "-D_THREAD_SAFE=1", "-DWEBP_USE_THREAD=1",
          "-DWEBP_HAVE_SSE2=1", "-DWEBP_HAVE_SSE41=1", "-fvisibility=hidden"]
AVX2_SOURCE = Path("src/dsp/enc_avx2.c")


def frame(source, size, path):
    """`source` thumbnailed to fit `size`x`size`, written as 8-bit RGB PPM."""
    image = pyvips.Image.thumbnail(str(source), size, height=size)
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten()
    image = image.extract_band(0, n=3).cast("uchar")
    with open(path, "wb") as out:
        out.write(f"P6\n{image.width} {image.height}\n255\n".encode())
        out.write(image.write_to_memory())
    return path


def build(tree, name, work, jobs):
    """The harness linked against the libwebp sources in `tree`."""
    objects = work / f"obj-{name}"
    objects.mkdir()
    patched = (tree / AVX2_SOURCE).exists()
    flags = CFLAGS + [f"-I{tree}"] + (["-DWEBP_HAVE_AVX2=1"] if patched else [])
    sources = sorted(tree.glob("src/**/*.c")) + sorted(tree.glob("sharpyuv/**/*.c"))

    def compile_one(index_source):
        index, source = index_source
        extra = ["-mavx2"] if source == tree / AVX2_SOURCE else []
        target = objects / f"{index}.o"
        subprocess.run(["cc", "-c", *flags, *extra, str(source), "-o", str(target)], check=True)
        return target

    with ThreadPoolExecutor(jobs) as pool:
        linked = list(pool.map(compile_one, enumerate(sources)))
    binary = work / f"encode-{name}"
    subprocess.run(["cc", *flags, str(HARNESS), *map(str, linked), "-o", str(binary), "-lpthread", "-lm"],
                   check=True)
    return binary


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
        unpatched = work / "unpatched"
        shutil.copytree(CRATE / "vendor", unpatched)
        with open(CRATE / "kiln.patch") as patch:
            subprocess.run(["patch", "-s", "-R", "-E", "-p1", "-d", str(unpatched)], stdin=patch, check=True)
        jobs = os.cpu_count() or 1
        binaries = {"unpatched": build(unpatched, "unpatched", work, jobs),
                    "patched": build(CRATE / "vendor", "patched", work, jobs)}
        photos = sorted(args.corpus.glob("photo-*-2560x1600.jpg"))
        if not photos:
            sys.exit(f"no photo-*-2560x1600.jpg in {args.corpus}")
        frames = [frame(photo, 512, work / f"{photo.stem}-512.ppm") for photo in photos]

        if not args.no_check:
            images = sorted(args.corpus.glob("*.jpg")) + sorted(args.corpus.glob("*.png"))
            check_frames = [frame(image, size, work / f"{image.stem}-{size}.ppm")
                            for image in images for size in (37, 203, 777)]
            with ThreadPoolExecutor(2) as pool:
                outputs = dict(zip(binaries, pool.map(lambda b: run(b, "check", *check_frames), binaries.values())))
            for name, output in outputs.items():
                print(f"check {name}: {output}")
            if len(set(outputs.values())) != 1:
                sys.exit("the patched libwebp wrote other bytes than the unpatched one")
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
        print(f"patched/unpatched: {means['patched'] / means['unpatched']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
