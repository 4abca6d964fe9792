"""delta-hf: turn Delta Lake tables into Hugging Face datasets.

This wheel ships the `delta-hf` binary in its scripts (pip puts it on PATH); this package only
finds it, for `python -m delta_hf` and for Python code that starts it (jobs/run_delta_hf.py on a
Databricks cluster, where the wheel is a cluster library), and runs `delta-hf prepare` from a
notebook (`prepare`): it builds the command line and nothing else.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading

__all__ = ["find_delta_hf_bin", "prepare", "prepare_args", "DeltaHfError"]

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


class DeltaHfError(Exception):
    """`delta-hf` failed: `exit_code` is its exit status (see the README's exit codes: 1 data,
    2 usage, 3 input, 4 output, 5 internal, 6 access, 130/143 interrupted), `message` what it
    said."""

    def __init__(self, exit_code, message):
        super().__init__(f"delta-hf exited {exit_code}: {message}")
        self.exit_code = exit_code
        self.message = message


def prepare_args(**options):
    """The `delta-hf prepare` command line (without the binary) for `options`: each keyword is
    the flag of the same name in snake_case (`label_col="y"` is `--label-col y`); `True` is a
    bare flag, `False` and `None` leave it out; a list repeats the flag; `split` also takes a
    dict `{name: table}` (`--split name=table` each)."""
    args = ["prepare"]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
            continue
        if isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            args.extend([flag, os.fspath(v) if hasattr(v, "__fspath__") else str(v)])
    return args


# The log's timestamp and level before a stage line.
_STAMP = re.compile(r"^\S+Z\s+INFO\s+")


def _format_of(options):
    output = str(options.get("output") or "")
    if output.startswith("hf://"):
        return "hub"
    return str(options.get("format") or os.environ.get("DELTA_HF_FORMAT") or "arrow")


def prepare(**options):
    """Run `delta-hf prepare` with `options` (see `prepare_args`), its progress shown as it runs,
    and return what it wrote: the `datasets.DatasetDict` (`load_from_disk`) for the arrow
    format, the output path for the mds and parquet formats, the repo's URL for an
    `output="hf://datasets/OWNER/NAME"`. Raises `DeltaHfError` when it fails."""
    args = prepare_args(**options)
    if "--json" not in args:
        args.append("--json")
    env = dict(os.environ)
    # Off a terminal the binary draws no bars: its stage lines (its own `info` log, not its
    # libraries') are the progress shown here.
    env.setdefault("DELTA_HF_LOG", "warn,delta_hf=info,deltalake_core=off,buoyant_kernel=off,hf_hub=off")
    proc = subprocess.Popen(
        [find_delta_hf_bin(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    said = []
    for line in proc.stderr:
        line = _STAMP.sub("", line)
        said.append(line.rstrip("\n"))
        sys.stderr.write(line)
        sys.stderr.flush()
    code = proc.wait()
    reader.join()
    if code != 0:
        errors = [l for l in said if l.startswith("error")]
        raise DeltaHfError(code, "\n".join(errors or said[-5:]) or f"exit status {code}")
    summary = json.loads("".join(out))
    kind = _format_of(options)
    if kind == "hub":
        repo = summary["output"][len("hf://datasets/"):].split("@")[0]
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/datasets/{repo}"
    if kind == "arrow":
        import datasets

        return datasets.load_from_disk(summary["output"])
    return summary["output"]
