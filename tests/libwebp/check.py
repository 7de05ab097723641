#!/usr/bin/env python3
"""Kiln's libwebp encoder writes the bytes the published libwebp writes.

    python3 tests/libwebp/check.py [--images DIR] [--sizes 37,203,777] [--random N] [--seed S]

`host/vendor/libwebp-sys` holds the published libwebp 1.6 source in `vendor/`
and, in `kiln/`, the files the `patched-libwebp` feature compiles in their
place (its README.kiln.md). This builds the encoder harness (`encode.c`)
against the published source and against the patched one, the latter twice
on x86-64: once with the SSE2 code alone and once with the AVX2 file too,
which libwebp picks at run time on a CPU that has AVX2 (on one without, that
build is skipped and said so). Every image in --images (the fixtures by
default) (JPEG) is thumbnailed by `vips` to each size and encoded as RGB and as
RGBA, at efforts 0-6 and ten qualities, with and without SNS, with one
segment and four. Then --random images of random sizes (1 to 1200 pixels a
side) and contents (noise, blocks, gradients, stripes, flat), each at a
random effort, quality, alpha and SNS, from --seed (printed, so a failure
can be replayed). Every build must write the same bytes. `make test` runs
it; `bench/libwebp.py` reuses its builds to time them.
"""

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRATE = ROOT / "host/vendor/libwebp-sys"
HARNESS = Path(__file__).resolve().parent / "encode.c"
AVX2_SOURCE = Path("src/dsp/enc_avx2.c")
X86_64 = platform.machine() in ("x86_64", "AMD64")
# What the crate's build.rs passes to every file, with the `sse41` feature
# host/Cargo.toml asks for on x86-64, and -O3 as cargo's release profile.
CFLAGS = ["-O3", "-DNDEBUG=1", "-D_THREAD_SAFE=1", "-DWEBP_USE_THREAD=1", "-fvisibility=hidden"]
if X86_64:
    CFLAGS += ["-msse4.1", "-DWEBP_HAVE_SSE2=1", "-DWEBP_HAVE_SSE41=1"]


def cpu_has_avx2():
    try:
        return any("avx2" in line.split() for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except OSError:
        return False


def build(name, work, patched, avx2, jobs=os.cpu_count() or 1):
    """The harness linked against the published source, or with the `kiln/`
    files in place of theirs (and, with `avx2`, the AVX2 file added)."""
    vendor, overlay = CRATE / "vendor", CRATE / "kiln"
    objects = work / f"obj-{name}"
    objects.mkdir()
    includes = [f"-I{overlay}", f"-I{vendor}"] if patched else [f"-I{vendor}"]
    flags = CFLAGS + includes + (["-DWEBP_HAVE_AVX2=1"] if avx2 else [])
    relative = sorted(p.relative_to(vendor) for p in vendor.glob("src/**/*.c"))
    relative += sorted(p.relative_to(vendor) for p in vendor.glob("sharpyuv/**/*.c"))
    sources = [overlay / r if patched and (overlay / r).exists() else vendor / r for r in relative]
    if avx2:
        sources.append(overlay / AVX2_SOURCE)

    def compile_one(index_source):
        index, source = index_source
        extra = ["-mavx2"] if source.name == AVX2_SOURCE.name else []
        target = objects / f"{index}.o"
        subprocess.run(["cc", "-c", *flags, *extra, str(source), "-o", str(target)], check=True)
        return target

    with ThreadPoolExecutor(jobs) as pool:
        linked = list(pool.map(compile_one, enumerate(sources)))
    binary = work / f"encode-{name}"
    subprocess.run(["cc", *flags, str(HARNESS), *map(str, linked), "-o", str(binary), "-lpthread", "-lm"],
                   check=True)
    return binary


def builds(work):
    """Each build to compare, by name; the first is the published source."""
    made = {"published": build("published", work, patched=False, avx2=False),
            "patched-sse2" if X86_64 else "patched": build("patched", work, patched=True, avx2=False)}
    if X86_64 and cpu_has_avx2():
        made["patched-avx2"] = build("patched-avx2", work, patched=True, avx2=True)
    elif X86_64:
        print("this CPU has no AVX2: the AVX2 build is not checked here")
    return made


def frame(source, size, path):
    """`source` thumbnailed to fit `size`x`size`, as 8-bit RGB PPM."""
    subprocess.run(["vips", "thumbnail", str(source), f"{path}[strip]", str(size), "--height", str(size)],
                   check=True, capture_output=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=ROOT / "tests/fixtures/libwebp")
    parser.add_argument("--sizes", default="37,203,777")
    parser.add_argument("--random", type=int, default=300, help="random images to encode")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 62))
    args = parser.parse_args()
    print(f"libwebp: seed {args.seed}")
    images = sorted(args.images.glob("*.jpg"))
    if not images:
        sys.exit(f"no images in {args.images}")
    with tempfile.TemporaryDirectory(prefix="kiln-libwebp-") as work:
        work = Path(work)
        binaries = builds(work)
        frames = [frame(image, int(size), work / f"{image.stem}-{size}.ppm")
                  for image in images for size in args.sizes.split(",")]

        def check(binary):
            def run(*arguments):
                return subprocess.run([str(binary), *map(str, arguments)], check=True,
                                      capture_output=True, text=True).stdout.strip()
            return run("check", *frames) + "; " + run("random", args.seed, args.random)

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            outputs = dict(zip(binaries, pool.map(check, binaries.values())))
    for name, output in outputs.items():
        print(f"{name}: {output}")
    if len(set(outputs.values())) != 1:
        sys.exit("libwebp: a patched build wrote other bytes than the published source")
    print(f"libwebp: {len(outputs)} builds, the same bytes")


if __name__ == "__main__":
    main()
