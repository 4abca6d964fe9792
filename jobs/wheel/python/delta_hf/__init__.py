"""delta-hf: turn Delta Lake tables into Hugging Face datasets.

This wheel ships the `delta-hf` binary in its scripts (pip puts it on PATH); this package only
finds it, for `python -m delta_hf` and for Python code that starts it (jobs/run_delta_hf.py on a
Databricks cluster, where the wheel is a cluster library).
"""

import os
import shutil
import sys
import sysconfig

__all__ = ["find_delta_hf_bin"]

_EXE = "delta-hf"


def find_delta_hf_bin():
    """The path of the `delta-hf` binary this wheel installed.

    Looked up where pip puts scripts for this interpreter (the environment's, then the user's),
    then beside an install made with `pip install --target`, then on PATH. Raises
    FileNotFoundError when there is none."""
    places = []
    for scheme in (sysconfig.get_default_scheme(), "posix_user"):
        try:
            places.append(sysconfig.get_path("scripts", scheme))
        except KeyError:
            pass
    # `pip install --target DIR`: the package in DIR/delta_hf, the binary in DIR/bin.
    places.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin"))
    for d in places:
        path = os.path.join(d, _EXE)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    path = shutil.which(_EXE)
    if path:
        return path
    raise FileNotFoundError(f"the {_EXE} binary of this wheel was not found (looked in {places} and PATH)")


def main():
    """`python -m delta_hf ARGS`: run the binary with ARGS, as this process."""
    exe = find_delta_hf_bin()
    if sys.platform == "win32":  # pragma: no cover - the wheel is built for Linux
        import subprocess

        sys.exit(subprocess.call([exe, *sys.argv[1:]]))
    os.execv(exe, [exe, *sys.argv[1:]])
