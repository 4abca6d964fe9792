#!/usr/bin/env python3
"""One venv per `datasets` release, created from PyPI and cached, for the compatibility tests.

Usage:
    compat_venvs.py CACHE_DIR [RELEASE ...]

RELEASE is a key of RELEASES below (default: all of them). Prints one JSON object on stdout,
{"<release>": "<path of that venv's python>", ...}, once every venv exists.

Each venv holds only `datasets` and `pyarrow` (and what they depend on), pinned below; it lives
in CACHE_DIR/datasets-<release>-<hash of its pins>/, so changing a pin makes a new venv and an
existing one is reused as is. Missing venvs are created at the same time (one `pip install` each,
wheels only); a file lock per venv lets concurrent test runs share the cache, and a venv that
was not completely installed (no `.installed` marker, e.g. an interrupted run) is rebuilt.

Exit status: 0 with the JSON, 1 when a venv cannot be created (pip's output on stderr).
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

# The pins: each release with a pyarrow of its time. 2.21 takes the oldest pyarrow it accepts
# (15, as on older Databricks ML runtimes), which needs numpy 1.x.
RELEASES = {
    "2.21": ["datasets==2.21.0", "pyarrow==15.0.2", "numpy<2", "pandas<2.3"],
    "3.6": ["datasets==3.6.0", "pyarrow==20.0.0"],
    "4.8": ["datasets==4.8.5", "pyarrow==22.0.0"],
    "5.2": ["datasets==5.2.0", "pyarrow==26.0.1"],
}

MARKER = ".installed"


def venv_dir(cache: str, release: str) -> str:
    pins = "\n".join(RELEASES[release])
    digest = hashlib.sha256(pins.encode()).hexdigest()[:10]
    return os.path.join(cache, f"datasets-{release}-{digest}")


def python_of(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def run(cmd: list, log: list):
    p = subprocess.run(cmd, capture_output=True, text=True)
    log.append(f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {p.returncode}")


def ensure(cache: str, release: str) -> str:
    """The venv of `release`, created unless it is already complete."""
    venv = venv_dir(cache, release)
    os.makedirs(cache, exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(venv, MARKER)):
            return python_of(venv)
        shutil.rmtree(venv, ignore_errors=True)
        log: list[str] = []
        try:
            run([sys.executable, "-m", "venv", venv], log)
            run([python_of(venv), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-input", "--only-binary", ":all:", *RELEASES[release]], log)
            # The venv must import what it was made for, at the pinned version.
            want = RELEASES[release][0].split("==")[1]
            run([python_of(venv), "-c",
                 "import datasets, pyarrow, sys; "
                 f"sys.exit(0 if datasets.__version__ == {want!r} else 'datasets ' + datasets.__version__)"],
                log)
        except Exception as e:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"cannot create the datasets {release} venv in {venv}: {e}\n" + "".join(log))
        with open(os.path.join(venv, MARKER), "w") as f:
            f.write("\n".join(RELEASES[release]) + "\n")
        return python_of(venv)


def main(argv: list) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    cache, releases = argv[0], argv[1:] or list(RELEASES)
    unknown = [r for r in releases if r not in RELEASES]
    if unknown:
        print(f"compat_venvs: unknown release(s) {unknown}; known: {list(RELEASES)}", file=sys.stderr)
        return 2
    out, failed = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(releases)) as pool:
        futures = {r: pool.submit(ensure, os.path.abspath(cache), r) for r in releases}
        for r, f in futures.items():
            try:
                out[r] = f.result()
            except RuntimeError as e:
                failed.append(str(e))
    if failed:
        print("\n\n".join(failed), file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
