#!/usr/bin/env python3
"""Runs every shell block of README.md and docs/*.md against a live Kiln,
after checking that their relative links lead to files of the repository.

Each file gets a fresh `kiln --config examples/quickstart.toml serve` in a
directory of its own, holding `photo.jpg` (a fixture photo) and a link to
`examples/`; its `sh` blocks run in order, in one bash with `set -euo
pipefail`, with `kiln` on the PATH and `KEY` set to the server's development
key. `127.0.0.1:8080` and `localhost:8080` in the commands are the server's
address. A block that cannot run here is preceded by
`<!-- not run: why -->`; the reason is printed.

    python3 tests/docs/run.py --kiln target/debug/kiln [FILE.md ...]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->$")
SHELLS = {"sh", "bash", "shell"}


def blocks(markdown: Path):
    """(line, language, code, reason-not-run) for each fenced block."""
    lines = markdown.read_text().splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, language, start = opened.group(1), opened.group(2), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        before = next((l.strip() for l in reversed(lines[:start]) if l.strip()), "")
        reason = NOT_RUN.match(before)
        yield start + 1, language, "\n".join(body), reason.group(1) if reason else None


def outside_env() -> dict:
    """This environment without KILN_* variables, which kiln reads as configuration."""
    return {name: value for name, value in os.environ.items() if not name.startswith("KILN_")}


def start_kiln(kiln: Path, workdir: Path):
    env = dict(outside_env(), KILN_SERVER__LISTEN="127.0.0.1:0", KILN_LOG="warn")
    server = subprocess.Popen(
        [str(kiln), "--config", "examples/quickstart.toml", "serve"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, text=True,
    )
    key, deadline = None, time.time() + 120
    for line in server.stdout:
        if line.startswith("development API key"):
            key = line.rsplit(" ", 1)[-1].strip()
        if line.startswith("kiln listening on "):
            address = line.removeprefix("kiln listening on http://").strip()
            return server, address, key
        if time.time() > deadline:
            break
    server.kill()
    raise SystemExit("kiln did not start")


def run_file(markdown: Path, kiln: Path) -> tuple[int, list[str]]:
    shell = [(line, code) for line, language, code, reason in blocks(markdown) if language in SHELLS and not reason]
    skipped = [f"{markdown.relative_to(ROOT)}:{line}: not run: {reason}"
               for line, language, code, reason in blocks(markdown) if language in SHELLS and reason]
    if not shell:
        return 0, skipped
    with tempfile.TemporaryDirectory(prefix="kiln-docs-") as directory:
        workdir = Path(directory)
        shutil.copy(ROOT / "tests/fixtures/libwebp/bythewater-800.jpg", workdir / "photo.jpg")
        (workdir / "examples").symlink_to(ROOT / "examples")
        server, address, key = start_kiln(kiln, workdir)
        try:
            script = ["set -euo pipefail"]
            for line, code in shell:
                code = code.replace("127.0.0.1:8080", address).replace("localhost:8080", address)
                script.append(f"echo '::block {markdown.relative_to(ROOT)}:{line}' >&2")
                script.append(code)
            env = dict(outside_env(), KEY=key or "", PATH=f"{kiln.parent}:{os.environ['PATH']}")
            done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=600)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if done.returncode != 0:
        failed = [l for l in done.stderr.splitlines() if l.startswith("::block ")]
        where = failed[-1].removeprefix("::block ") if failed else str(markdown)
        print(f"FAILED {where} (exit {done.returncode})\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
        raise SystemExit(1)
    return len(shell), skipped


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def broken_links(files) -> list[str]:
    """Relative links that lead nowhere, and any that leave the repository."""
    broken = []
    for markdown in files:
        for match in LINK.finditer(markdown.read_text()):
            link = match.group(1)
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            target = (markdown.parent / link).resolve()
            if not target.exists() or ROOT not in target.parents:
                broken.append(f"{markdown.relative_to(ROOT)}: {link}")
    return broken


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", type=Path, default=ROOT / "target/debug/kiln")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    kiln = args.kiln.resolve()
    files = [f.resolve() for f in args.files] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = broken_links(files)
    if broken:
        raise SystemExit("broken links:\n" + "\n".join(broken))
    total = 0
    for markdown in files:
        ran, skipped = run_file(markdown, kiln)
        total += ran
        for line in skipped:
            print(line)
        if ran:
            print(f"{markdown.relative_to(ROOT)}: {ran} blocks ran")
    print(f"docs: {total} shell blocks ran against a live kiln")


if __name__ == "__main__":
    main()
