#!/usr/bin/env python3
"""`make bench`: delta-hf prepare vs the Python peer vs a pyarrow floor, on the same Delta tables.

Usage:
    bench.py [--scale S] [--runs N] [--bin PATH] [--only TOOL] [--data DIR] [--force]
             [--keep-outputs] [--no-save]

1. Generates (or reuses) DATA/scale-S/{train,eval}: 1,000,000 x S and 100,000 x S rows of
   40-400-word texts over a fixed vocabulary with 20 skewed labels (see gen.py).
2. Warms up, untimed: reads every input file once (Delta logs and active Parquet files) and starts
   each program once, so every timed run is warm. The OS page cache is never dropped.
3. Runs, N times each and interleaved (run 1: delta-hf, peer, floor; run 2: ...), each tool as its
   own child process, measuring wall time, CPU time (user + sys) and peak RSS from os.wait4's
   rusage. Before each timed run the previous output is deleted and `sync` flushes dirty pages.
     delta-hf  delta-hf prepare --split train=T --split test=E --output OUT --label-table LT
               --overwrite --json --quiet
     peer      peer.py: deltalake -> pyarrow -> datasets, one global ClassLabel -> save_to_disk
     floor     floor.py: pyarrow reads the active Parquet files (text, label) -> Arrow IPC streams
4. Validates every run (row counts per split; for delta-hf and the peer also the ClassLabel names
   and the per-label row counts of the written label ids), so a broken run cannot give a number.
   A tool that fails is reported as failed (exit status 1) and not run again. The peer holds all
   data in memory (~5x the text bytes): it is skipped when that cannot fit (--peer-anyway runs it)
   and otherwise runs with its address space capped at RAM + swap.
5. Prints the medians and writes bench/results.json and bench/results.md (results of other scales
   already there are kept, so SCALE=1 and SCALE=10 can be compared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gen

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TOOLS = ("delta-hf", "fan-out", "peer", "floor", "delta-hf-parquet", "peer-parquet")
# --format mds (issue 22): the same export as Mosaic Streaming MDS shards (zstd, the default).
# Its Python peer, streaming.MDSWriter (mds_peer.py), runs with the ML venv (DELTA_HF_ML_PYTHON,
# default ~/.cache/delta-hf/venv-ml/bin/python).
TOOLS += ("mds", "mds-peer")
ML_PYTHON = os.environ.get("DELTA_HF_ML_PYTHON") or str(Path.home() / ".cache/delta-hf/venv-ml/bin/python")
TOOL_TITLES = {
    "delta-hf": "delta-hf prepare",
    "fan-out": "delta-hf plan + 2 × run-task + commit (fan-out on this machine)",
    "peer": "Python peer (deltalake → pyarrow → datasets ClassLabel → save_to_disk)",
    "floor": "floor (pyarrow Parquet → Arrow IPC, no labels)",
    # issue 22: the Hub's Parquet layout, beside arrow.
    "delta-hf-parquet": "delta-hf prepare --format parquet (Hub layout)",
    "peer-parquet": "Python peer, Hub layout (… → datasets ClassLabel → to_parquet + card, as push_to_hub)",
    "mds": "delta-hf prepare --format mds (zstd shards)",
    "mds-peer": "Python peer (deltalake → pyarrow → streaming.MDSWriter, zstd → merge_index)",
}
SPLITS = (("train", "train"), ("test", "eval"))  # (split name, table directory)
MIB = 1024 * 1024

# The lead's targets (measured and reported, never tuned for).
TARGET_SPEEDUP = 6.0          # peer wall / delta-hf wall >= 6
TARGET_FLOOR_RATIO = 0.8      # delta-hf wall / floor wall <= 0.8
TARGET_RSS_MIB = 384          # delta-hf peak RSS <= 384 MiB
TARGET_RSS_GROWTH = 0.20      # SCALE=10 peak RSS <= 1.2 x SCALE=1 peak RSS
TARGET_FAN_OUT = 1.15          # fan-out (N tasks on this machine) wall / prepare wall <= 1.15
FAN_OUT_TASKS = 2

# The peer holds every split in memory, several times over: measured peak RSS ~5x the text bytes
# (SCALE=1: ~7.9 GiB for 1.67 GB of text). It is skipped when even 4x would not fit in the
# available memory (SCALE=10 needs ~80 GiB), and capped to RAM + swap when it runs.
PEER_RSS_PER_TEXT_BYTE = 4.0


def log(msg: str = "") -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- measuring


# Linux charges a child's peak RSS (`ru_maxrss`) with the RSS of the process it was forked from
# (at exec the kernel records the old address space's high-water mark), so a child forked from
# this Python process -- which grows as it validates outputs with pyarrow -- would report this
# process's memory as its own (it did: 587 MiB for a 377 MiB run after a digest). Children are
# therefore started by a small launcher process, started once while this one is still small.
_LAUNCHER_CODE = r"""
import json, os, resource, subprocess, sys, time
for line in sys.stdin:
    req = json.loads(line)
    preexec = None
    if req["as_limit"]:
        lim = req["as_limit"]
        def preexec():
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    with open(req["stdout"], "wb") as so, open(req["stderr"], "wb") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(req["cmd"], stdout=so, stderr=se, env=req["env"], cwd=req["cwd"],
                                preexec_fn=preexec)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    print(json.dumps({"status": status, "wall": wall, "utime": ru.ru_utime, "stime": ru.ru_stime,
                      "maxrss": ru.ru_maxrss}), flush=True)
"""
_launcher: subprocess.Popen | None = None


def _launch(req: dict) -> dict:
    global _launcher
    if _launcher is None or _launcher.poll() is not None:
        _launcher = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert _launcher.stdin is not None and _launcher.stdout is not None
    _launcher.stdin.write(json.dumps(req) + "\n")
    _launcher.stdin.flush()
    line = _launcher.stdout.readline()
    if not line:
        raise RuntimeError("the bench's launcher process died")
    return json.loads(line)


def measure(cmd: list[str], out_dir: Path, tag: str, env: dict, as_limit: int | None = None) -> dict:
    """Run cmd as a child process (of the launcher); wall from fork to reap, CPU and peak RSS
    from its rusage. With `as_limit`, the child's address space is capped (it fails with
    MemoryError instead of waking the OOM killer)."""
    stdout_path, stderr_path = out_dir / f"{tag}.stdout", out_dir / f"{tag}.stderr"
    try:
        r = _launch({"cmd": [str(c) for c in cmd], "env": env, "cwd": str(REPO), "as_limit": as_limit,
                     "stdout": str(stdout_path), "stderr": str(stderr_path)})
    except BaseException:
        if _launcher is not None:
            os.killpg(_launcher.pid, 9)  # the launcher and the child it runs
        raise
    maxrss = r["maxrss"] if sys.platform == "darwin" else r["maxrss"] * 1024  # bytes
    return {
        "exit_code": os.waitstatus_to_exitcode(r["status"]),
        "wall_s": r["wall"],
        "user_s": r["utime"],
        "sys_s": r["stime"],
        "cpu_s": r["utime"] + r["stime"],
        "peak_rss_bytes": maxrss,
        "stdout": stdout_path.read_text(errors="replace"),
        "stderr": stderr_path.read_text(errors="replace"),
    }


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTA_HF_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# ----------------------------------------------------------------------------- validation


def ipc_stream_rows(path: Path, column: str | None = None) -> tuple[int, dict]:
    """Rows of an Arrow IPC stream (memory-mapped, so only what is asked for is touched);
    with `column`, also the value counts of that (integer) column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows, counts = 0, {}
    with pa.memory_map(str(path)) as src:
        for batch in pa.ipc.open_stream(src):
            rows += batch.num_rows
            if column is not None:
                vc = pc.value_counts(batch.column(column))
                for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
                    counts[v] = counts.get(v, 0) + c
    return rows, counts


def check_hf_dir(out: Path, manifest: dict, problems: list[str]) -> None:
    """A save_to_disk DatasetDict: splits, ClassLabel names, rows and label ids per split."""
    try:
        splits = json.loads((out / "dataset_dict.json").read_text())["splits"]
    except (OSError, ValueError, KeyError) as e:
        problems.append(f"dataset_dict.json unreadable: {e}")
        return
    if splits != [s for s, _ in SPLITS]:
        problems.append(f"splits {splits}, expected {[s for s, _ in SPLITS]}")
    names = expected_names(manifest)
    for split, table in SPLITS:
        d = out / split
        try:
            state = json.loads((d / "state.json").read_text())
            info = json.loads((d / "dataset_info.json").read_text())
        except (OSError, ValueError) as e:
            problems.append(f"{split}: {e}")
            continue
        got_names = info.get("features", {}).get("label", {}).get("names")
        if got_names != names:
            problems.append(f"{split}: ClassLabel names {got_names}, expected {names}")
        rows, counts = 0, {}
        for f in state["_data_files"]:
            r, c = ipc_stream_rows(d / f["filename"], "label")
            rows += r
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
        want = manifest["splits"][table]
        if rows != want["rows"]:
            problems.append(f"{split}: {rows} rows, expected {want['rows']}")
        if got_names == names:
            by_name = {names[k]: v for k, v in counts.items() if k is not None and 0 <= k < len(names)}
            if by_name != want["label_counts"]:
                problems.append(f"{split}: rows per label id do not match the generated labels")


def check_parquet_dir(out: Path, manifest: dict, problems: list[str]) -> None:
    """The Hub layout: per split, the rows of data/<split>-*.parquet (from the footers) and the
    card's num_examples."""
    import pyarrow.parquet as pq

    card = (out / "README.md").read_text() if (out / "README.md").is_file() else ""
    for split, table in SPLITS:
        want = manifest["splits"][table]["rows"]
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in sorted((out / "data").glob(f"{split}-*.parquet")))
        if rows != want:
            problems.append(f"data/{split}-*.parquet: {rows} rows, expected {want}")
        if f"name: {split}\n    num_bytes:" not in card or f"num_examples: {want}\n" not in card:
            problems.append(f"README.md: no num_examples {want} for {split}")
def check_mds_dir(out: Path, summary: dict, manifest: dict, problems: list[str]) -> None:
    """An MDS output: per split, the index's samples and the summary's rows are the generated rows,
    and every shard file listed is there with its size."""
    if summary.get("labels") != expected_names(manifest):
        problems.append(f"summary labels {summary.get('labels')}")
    for split, table in SPLITS:
        try:
            shards = json.loads((out / split / "index.json").read_text())["shards"]
        except (OSError, ValueError, KeyError) as e:
            problems.append(f"{split}/index.json: {e}")
            continue
        rows = sum(s["samples"] for s in shards)
        if rows != manifest["splits"][table]["rows"]:
            problems.append(f"{split}: {rows} samples, expected {manifest['splits'][table]['rows']}")
        for s in shards:
            f = s["zip_data"] or s["raw_data"]
            if (out / split / f["basename"]).stat().st_size != f["bytes"]:
                problems.append(f"{split}/{f['basename']}: not {f['bytes']} bytes")
    if not (out / "index.json").is_file():
        problems.append("no top index.json")


def expected_names(manifest: dict) -> list[str]:
    return sorted(set().union(*(s["label_counts"] for s in manifest["splits"].values())))


def validate(tool: str, res: dict, out: Path, manifest: dict) -> list[str]:
    problems: list[str] = []
    if res["exit_code"] != 0:
        return [f"exit code {res['exit_code']}"]
    try:
        summary = json.loads(res["stdout"])
    except ValueError:
        return ["stdout is not a JSON summary"]
    res["summary"] = summary
    if tool in ("delta-hf", "fan-out"):
        got = {s["name"]: s["num_rows"] for s in summary.get("splits", [])}
        want = {split: manifest["splits"][table]["rows"] for split, table in SPLITS}
        if got != want:
            problems.append(f"summary rows {got}, expected {want}")
        if summary.get("labels") != expected_names(manifest):
            problems.append(f"summary labels {summary.get('labels')}")
        check_hf_dir(out / "dataset", manifest, problems)
    elif tool == "mds":
        check_mds_dir(out / "dataset", summary, manifest, problems)
    elif tool == "mds-peer":
        check_mds_dir(out / "dataset", {"labels": summary.get("names")}, manifest, problems)
    elif tool == "peer":
        check_hf_dir(out / "dataset", manifest, problems)
    elif tool in ("delta-hf-parquet", "peer-parquet"):
        check_parquet_dir(out / "dataset", manifest, problems)
    else:
        for split, table in SPLITS:
            rows, _ = ipc_stream_rows(out / "ipc" / f"{split}.arrow")
            if rows != manifest["splits"][table]["rows"]:
                problems.append(f"{split}.arrow: {rows} rows, expected {manifest['splits'][table]['rows']}")
    return problems


# ----------------------------------------------------------------------------- the bench


def tool_command(tool: str, binary: Path, tables: Path, out: Path) -> list[str]:
    split_args = []
    for split, table in SPLITS:
        split_args += ["--split", f"{split}={tables / table}"]
    if tool == "delta-hf":
        return [str(binary), "prepare", *split_args, "--output", str(out / "dataset"),
                "--label-table", str(out / "label_table"), "--overwrite", "--json", "--quiet"]
    if tool == "delta-hf-parquet":
        return [str(binary), "prepare", *split_args, "--output", str(out / "dataset"), "--format", "parquet",
                "--overwrite", "--json", "--quiet"]
    if tool == "peer-parquet":
        return [sys.executable, str(BENCH_DIR / "peer.py"), *split_args, "--output", str(out / "dataset"),
                "--format", "parquet"]
    if tool == "mds":
        return [str(binary), "prepare", *split_args, "--format", "mds", "--output", str(out / "dataset"),
                "--label-table", str(out / "label_table"), "--overwrite", "--json", "--quiet"]
    if tool == "mds-peer":
        return [ML_PYTHON, str(BENCH_DIR / "mds_peer.py"), *split_args, "--output", str(out / "dataset")]
    if tool == "fan-out":
        return [sys.executable, str(BENCH_DIR / "fanout.py"), "--bin", str(binary), "--tasks", str(FAN_OUT_TASKS),
                *split_args, "--output", str(out / "dataset"), "--label-table", str(out / "label_table")]
    script = BENCH_DIR / f"{tool}.py"
    return [sys.executable, str(script), *split_args, "--output", str(out / ("dataset" if tool == "peer" else "ipc"))]


def active_files(table: Path) -> list[Path]:
    from deltalake import DeltaTable
    from urllib.parse import unquote, urlparse

    return [Path(unquote(urlparse(u).path) if u.startswith("file:") else u)
            for u in DeltaTable(str(table)).file_uris()]


def warm_up(tables: Path, files: list[Path], binary: Path, env: dict) -> None:
    log(f"[warm-up] untimed: reading {len(files)} Parquet files and the Delta logs once, starting each program once")
    buf = bytearray(8 * MIB)
    for f in files + [p for t in ("train", "eval") for p in sorted((tables / t / "_delta_log").iterdir())]:
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    subprocess.run([str(binary), "--version"], check=True, capture_output=True, env=env)
    subprocess.run([sys.executable, "-c", "import datasets, deltalake, pyarrow.dataset, pyarrow.compute"],
                   check=True, capture_output=True, env=env)


def versions(binary: Path, env: dict) -> dict:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=env).stdout.strip()
    v = {"delta-hf": out.removeprefix("delta-hf ").strip(), "python": platform.python_version()}
    for pkg in ("datasets", "pyarrow", "deltalake", "numpy", "pandas"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            v[pkg] = None
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "sql", "Cargo.toml",
                                "Cargo.lock"], capture_output=True, text=True).stdout.strip()
        v["git"] = rev + ("-dirty" if dirty else "") if rev else None
    except OSError:
        v["git"] = None
    return v


def meminfo() -> dict:
    """/proc/meminfo in bytes (empty where there is none)."""
    out = {}
    try:
        for line in open("/proc/meminfo"):
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def machine() -> dict:
    mem = meminfo().get("MemTotal")
    if mem is None:
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            pass
    cpu = platform.processor() or None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_bytes": mem, "cpu": cpu, "os": platform.platform()}


def display_bin(binary: Path) -> str:
    """The binary without this machine's absolute paths."""
    try:
        return str(binary.resolve().relative_to(REPO))
    except ValueError:
        return "$CARGO_TARGET_DIR/" + "/".join(binary.parts[-2:])


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(scale_result: dict) -> None:
    """Medians, throughput, ratios, delta-hf stages and target verdicts, in place."""
    rows = scale_result["data"]["rows"]
    mb = scale_result["data"]["parquet_bytes"] / 1e6
    tools = scale_result["tools"]
    tools = {k: t for k, t in tools.items() if t.get("status", "ok") == "ok"}
    for name, t in tools.items():
        runs = t["runs"]
        med = {k: median_of(runs, k) for k in ("wall_s", "user_s", "sys_s", "cpu_s", "peak_rss_bytes")}
        med["rows_per_s"] = rows / med["wall_s"]
        med["mb_per_s"] = mb / med["wall_s"]
        t["median"] = med
        t["max_peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
        stage_keys = sorted({k for r in runs for k in r.get("timings", {})})
        if stage_keys:
            t["median_timings"] = {k: statistics.median(r["timings"].get(k, 0.0) for r in runs)
                                   for k in runs[0]["timings"]}
    ratios = {}
    if "delta-hf" in tools and "floor" in tools:
        ratios["delta_hf_over_floor_wall"] = tools["delta-hf"]["median"]["wall_s"] / tools["floor"]["median"]["wall_s"]
    if "delta-hf" in tools and "peer" in tools:
        ratios["peer_over_delta_hf_wall"] = tools["peer"]["median"]["wall_s"] / tools["delta-hf"]["median"]["wall_s"]
    if "delta-hf" in tools and "fan-out" in tools:
        ratios["fan_out_over_delta_hf_wall"] = tools["fan-out"]["median"]["wall_s"] / tools["delta-hf"]["median"]["wall_s"]
    if "delta-hf" in tools and "delta-hf-parquet" in tools:  # target: <= 1.3
        ratios["parquet_over_arrow_wall"] = (tools["delta-hf-parquet"]["median"]["wall_s"]
                                             / tools["delta-hf"]["median"]["wall_s"])
    if "delta-hf-parquet" in tools and "peer-parquet" in tools:  # target: >= 5
        ratios["peer_parquet_over_delta_hf_parquet_wall"] = (tools["peer-parquet"]["median"]["wall_s"]
                                                             / tools["delta-hf-parquet"]["median"]["wall_s"])
    if "delta-hf" in tools and "mds" in tools:
        ratios["mds_over_delta_hf_wall"] = tools["mds"]["median"]["wall_s"] / tools["delta-hf"]["median"]["wall_s"]
    if "mds" in tools and "mds-peer" in tools:
        ratios["mds_peer_over_mds_wall"] = tools["mds-peer"]["median"]["wall_s"] / tools["mds"]["median"]["wall_s"]
    scale_result["ratios"] = ratios
    if "delta-hf" in tools:
        d = tools["delta-hf"]
        elapsed = statistics.median(r["elapsed_seconds"] for r in d["runs"])
        lm = d.get("median_timings", {}).get("label_map")
        scale_result["delta_hf"] = {
            "median_elapsed_seconds": elapsed,
            "median_outside_stages_s": d["median"]["wall_s"] - elapsed,
            "label_map_pass_s": lm,
            "label_map_share_of_wall": lm / d["median"]["wall_s"] if lm is not None else None,
            "wall_without_label_map_s": d["median"]["wall_s"] - lm if lm is not None else None,
        }


def judge(results: dict) -> None:
    """Target verdicts for every scale >= 1 (smaller scales are smoke tests)."""
    for key, r in results["scales"].items():
        targets = []
        tools, ra = r["tools"], r["ratios"]

        def why(*names):
            bad = [f"{n}: {tools[n]['status']}" for n in names if n in tools and tools[n].get("status", "ok") != "ok"]
            return "not measured (" + ("; ".join(bad) if bad else "not run") + ")"
        if r["scale"] >= 1:
            sp = ra.get("peer_over_delta_hf_wall")
            fr = ra.get("delta_hf_over_floor_wall")
            ok = tools.get("delta-hf", {}).get("status", "ok") == "ok"
            rss = tools["delta-hf"]["max_peak_rss_bytes"] / MIB if ok else None
            targets += [
                {"target": f"delta-hf ≥ {TARGET_SPEEDUP:g}× faster than the peer (wall)",
                 "measured": f"{sp:.2f}×" if sp else why("delta-hf", "peer"),
                 "pass": sp >= TARGET_SPEEDUP if sp else None},
                {"target": f"delta-hf wall ≤ {TARGET_FLOOR_RATIO:g} × floor wall",
                 "measured": f"{fr:.2f} × floor" if fr else why("delta-hf", "floor"),
                 "pass": fr <= TARGET_FLOOR_RATIO if fr else None},
                {"target": f"fan-out ({FAN_OUT_TASKS} tasks) wall ≤ {TARGET_FAN_OUT:g} × delta-hf prepare wall",
                 "measured": (f"{ra['fan_out_over_delta_hf_wall']:.2f}×" if ra.get("fan_out_over_delta_hf_wall")
                              else why("delta-hf", "fan-out")),
                 "pass": (ra["fan_out_over_delta_hf_wall"] <= TARGET_FAN_OUT
                          if ra.get("fan_out_over_delta_hf_wall") else None)},
                {"target": f"delta-hf peak RSS ≤ {TARGET_RSS_MIB} MiB (max over runs)",
                 "measured": f"{rss:.0f} MiB" if ok else why("delta-hf"),
                 "pass": rss <= TARGET_RSS_MIB if ok else None},
            ]
        if r["scale"] == 10:
            base = results["scales"].get("1")
            t = {"target": f"SCALE=10 delta-hf peak RSS within {TARGET_RSS_GROWTH:.0%} of SCALE=1 (medians)"}
            if not ok:
                t.update(measured=why("delta-hf"), **{"pass": None})
            elif base and base["tools"].get("delta-hf", {}).get("status", "ok") == "ok":
                a = base["tools"]["delta-hf"]["median"]["peak_rss_bytes"]
                b = r["tools"]["delta-hf"]["median"]["peak_rss_bytes"]
                t.update(measured=f"{b / MIB:.0f} MiB vs {a / MIB:.0f} MiB ({b / a - 1:+.0%})",
                         **{"pass": b <= a * (1 + TARGET_RSS_GROWTH)})
            else:
                t.update(measured="SCALE=1 not measured", **{"pass": None})
            targets.append(t)
        r["targets"] = targets


# ----------------------------------------------------------------------------- reporting


def fmt_row(title: str, med: dict) -> str:
    return (f"| {title} | {med['wall_s']:.2f} | {med['cpu_s']:.2f} | {med['peak_rss_bytes'] / MIB:.0f} | "
            f"{med['rows_per_s']:,.0f} | {med['mb_per_s']:.1f} |")


def table_lines(r: dict) -> list[str]:
    lines = ["| tool | wall s | CPU s (user+sys) | peak RSS MiB | rows/s | MB/s |", "|---|--:|--:|--:|--:|--:|"]
    for name in TOOLS:
        t = r["tools"].get(name)
        if t is None:
            continue
        if t.get("status", "ok") == "ok":
            lines.append(fmt_row(TOOL_TITLES[name], t["median"]))
        else:
            lines.append(f"| {TOOL_TITLES[name]} | {t['status']}: {t['note']} | | | | |")
    return lines


def verdict(p) -> str:
    return "—" if p is None else ("**PASS**" if p else "**FAIL**")


def render_md(results: dict) -> str:
    out = ["# delta-hf benchmark results", "",
           "Written by `bench/bench.py` (`make bench SCALE=… RUNS=…`); see README.md, section *Benchmark*.",
           "",
           "Method: every tool runs as its own child process on the same Delta tables; wall time from",
           "start to exit, CPU = user + sys and peak RSS = `ru_maxrss` from the child's rusage",
           "(`os.wait4`). Each figure is the **median** of the runs (tools interleaved per run). "
           "All runs are **warm**:",
           "the OS page cache is not dropped; instead one untimed warm-up reads every input file (Delta logs",
           "and active Parquet files) and starts each program once before the first timed run. Before each",
           "timed run the previous output is deleted and `sync` flushes dirty pages. rows/s counts train +",
           "eval rows; MB/s is input Parquet bytes (all active files of both tables, 10^6 bytes) per wall",
           "second. Every run is validated (rows per split; for delta-hf and the peer also the ClassLabel",
           "names and rows per label id) before its numbers count; a tool that fails is reported as such.",
           "The peer keeps every split in memory (peak RSS ≈ 5× the text bytes): it runs with its address",
           "space capped at RAM + swap, and is skipped when it clearly cannot fit.", ""]
    for key in sorted(results["scales"], key=float):
        r = results["scales"][key]
        d, m, v = r["data"], r["machine"], r["versions"]
        out += [f"## SCALE={key}: {d['rows_per_split']['train']:,} train + {d['rows_per_split']['eval']:,} eval rows",
                "",
                f"{r['date']} · {m['cores']} cores, {m['memory_bytes'] / 2**30:.1f} GiB RAM"
                f"{', ' + m['cpu'] if m.get('cpu') else ''} · {m['os']} · {r['runs_per_tool']} runs per tool, warm",
                "",
                f"Input: {d['parquet_files']} Parquet files, {d['parquet_bytes'] / 1e6:,.1f} MB "
                f"({d['text_bytes'] / 1e6:,.1f} MB of text), 20 labels (skewed), 40–400 words per text.",
                "", *table_lines(r), ""]
        ra = r["ratios"]
        if ra:
            out.append("Ratios (median wall): " + ", ".join(
                s for s in (f"delta-hf / floor = **{ra['delta_hf_over_floor_wall']:.2f}**"
                            if "delta_hf_over_floor_wall" in ra else None,
                            f"peer / delta-hf = **{ra['peer_over_delta_hf_wall']:.2f}×**"
                            if "peer_over_delta_hf_wall" in ra else None,
                            f"fan-out / delta-hf = **{ra['fan_out_over_delta_hf_wall']:.2f}**"
                            if "fan_out_over_delta_hf_wall" in ra else None) if s) + ".")
            out.append("")
        if "delta_hf" in r:
            dh, tm = r["delta_hf"], r["tools"]["delta-hf"].get("median_timings", {})
            out += ["delta-hf stages (median seconds, from its JSON summary `timings`):", "",
                    "| " + " | ".join(tm) + " | sum of stages (`elapsed_seconds`) | wall − elapsed |",
                    "|" + "--:|" * (len(tm) + 2),
                    "| " + " | ".join(f"{x:.2f}" for x in tm.values())
                    + f" | {dh['median_elapsed_seconds']:.2f} | {dh['median_outside_stages_s']:.2f} |", ""]
            if dh["label_map_pass_s"] is not None:
                out += [f"The label-map pass (`label_map`, a label-only scan of both tables) costs "
                        f"{dh['label_map_pass_s']:.2f} s, {dh['label_map_share_of_wall']:.0%} of delta-hf's wall "
                        f"time; without it delta-hf would take {dh['wall_without_label_map_s']:.2f} s.", ""]
        for name in ("fan-out", "peer", "floor"):
            tm = r["tools"].get(name, {}).get("median_timings")
            if tm:
                out.append(f"{name} stages (median s, measured inside the script): "
                           + ", ".join(f"{k} {x:.2f}" for k, x in tm.items()) + ".")
        out.append("")
        if r.get("targets"):
            out += ["| target | measured | result |", "|---|---|---|"]
            out += [f"| {t['target']} | {t['measured']} | {verdict(t['pass'])} |" for t in r["targets"]]
            if r["scale"] == 1 and "10" not in results["scales"]:
                out.append(f"| SCALE=10 delta-hf peak RSS within {TARGET_RSS_GROWTH:.0%} of SCALE=1 | "
                           "not measured (`make bench SCALE=10`) | — |")
            out.append("")
        elif r["scale"] < 1:
            out += ["(Scale below 1: a smoke test; targets not judged.)", ""]
        out += ["All runs:", "", "| run | tool | wall s | user s | sys s | peak RSS MiB |", "|--:|---|--:|--:|--:|--:|"]
        for i in range(r["runs_per_tool"]):
            for name in TOOLS:
                if name in r["tools"] and i < len(r["tools"][name]["runs"]):
                    x = r["tools"][name]["runs"][i]
                    out.append(f"| {i + 1} | {name} | {x['wall_s']:.2f} | {x['user_s']:.2f} | {x['sys_s']:.2f} | "
                               f"{x['peak_rss_bytes'] / MIB:.0f} |")
        out += ["", "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
                f"Command: `{r['command']}`.", ""]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="1 = 1,000,000 train + 100,000 eval rows (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (default 3)")
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    default_bin = Path(target_dir) / "release" / "delta-hf" if target_dir else REPO / "target" / "release" / "delta-hf"
    ap.add_argument("--bin", type=Path, default=default_bin,
                    help="the delta-hf binary (default $CARGO_TARGET_DIR/release/delta-hf, else target/release/delta-hf)")
    ap.add_argument("--only", choices=TOOLS, action="append", help="run only this tool (repeatable)")
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="data directory (default bench/data)")
    ap.add_argument("--force", action="store_true", help="regenerate the tables even if they exist")
    ap.add_argument("--keep-outputs", action="store_true", help="keep the last run's outputs under DATA/out")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results.{md,json}")
    ap.add_argument("--peer-anyway", action="store_true",
                    help="run the peer even when it cannot fit in memory (it is skipped by default)")
    a = ap.parse_args()
    if a.scale <= 0 or a.runs < 1:
        ap.error("--scale must be positive and --runs at least 1")
    tools = [t for t in TOOLS if not a.only or t in a.only]
    binary = a.bin.resolve()
    if "delta-hf" in tools and not os.access(binary, os.X_OK):
        ap.error(f"no delta-hf binary at {a.bin} (build it: cargo build --release --bin delta-hf, or pass --bin)")
    data_dir = a.data.resolve()
    env = child_env()

    p = gen.params(a.scale)
    log(f"[bench] SCALE={a.scale:g}: {p['train_rows']:,} train + {p['eval_rows']:,} eval rows; "
        f"{a.runs} run(s) of {', '.join(tools)}; delta-hf = {a.bin}")
    manifest = gen.ensure_data(a.scale, data_dir, a.force, log=log)
    tables = data_dir / gen.scale_name(a.scale)
    files = [f for t in ("train", "eval") for f in active_files(tables / t)]
    parquet_bytes = sum(f.stat().st_size for f in files)
    log(f"[data] {len(files)} active Parquet files, {parquet_bytes / 1e6:,.1f} MB")
    warm_up(tables, files, binary if "delta-hf" in tools else Path(sys.executable), env)

    out_root = data_dir / "out"
    logs = out_root / "logs"
    if out_root.exists():
        shutil.rmtree(out_root)
    logs.mkdir(parents=True)
    total_rows = p["train_rows"] + p["eval_rows"]
    result = {
        "scale": a.scale,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/bench.py", "--scale", f"{a.scale:g}", "--runs", str(a.runs), "--bin",
                             display_bin(a.bin)] + [f"--only {t}" for t in (a.only or [])]),
        "machine": machine(),
        "versions": versions(binary, env) if "delta-hf" in tools else {},
        "warm": True,
        "runs_per_tool": a.runs,
        "data": {"rows": total_rows, "rows_per_split": {"train": p["train_rows"], "eval": p["eval_rows"]},
                 "parquet_files": len(files), "parquet_bytes": parquet_bytes,
                 "text_bytes": sum(s["text_bytes"] for s in manifest["splits"].values()),
                 "params": manifest["params"]},
        "tools": {t: {"title": TOOL_TITLES[t], "status": "ok", "note": "", "runs": []} for t in tools},
    }
    failed = False

    mem = meminfo()
    peer_limit = (mem.get("MemTotal", 0) + mem.get("SwapTotal", 0)) or None
    for peer in ("peer", "peer-parquet"):
        if peer in tools and not a.peer_anyway and mem.get("MemAvailable"):
            need = PEER_RSS_PER_TEXT_BYTE * result["data"]["text_bytes"]
            if need > mem["MemAvailable"]:
                t = result["tools"][peer]
                t["status"] = "skipped"
                t["note"] = (f"needs ≳ {need / 2**30:.0f} GiB ({PEER_RSS_PER_TEXT_BYTE:g}× the text bytes), "
                             f"{mem['MemAvailable'] / 2**30:.0f} GiB available")
                log(f"[{peer}] skipped: it {t['note']} (--peer-anyway runs it)")

    for run in range(1, a.runs + 1):
        for tool in tools:
            if result["tools"][tool]["status"] != "ok":
                continue
            out = out_root / tool
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            os.sync()
            log(f"[run {run}/{a.runs}] {tool} ...")
            res = measure(tool_command(tool, binary, tables, out), logs, f"{tool}-{run}", env,
                          as_limit=peer_limit if tool in ("peer", "peer-parquet") else None)
            problems = validate(tool, res, out, manifest)
            if problems:
                log(f"[run {run}/{a.runs}] {tool} FAILED: " + "; ".join(problems))
                log(res["stderr"][-3000:])
                log(f"(stdout and stderr of the run: {logs}; {tool} is not run again)")
                t = result["tools"][tool]
                t["status"] = "failed"
                t["note"] = (f"run {run}: " + "; ".join(problems) + (
                    " (out of memory?)" if "MemoryError" in res["stderr"] or res["exit_code"] == -9 else "")
                ).replace(str(data_dir), "DATA").replace(str(REPO), ".")  # no machine paths in results
                t["runs"] = []
                failed = True
                if not a.keep_outputs:
                    shutil.rmtree(out)
                continue
            summary = res.pop("summary")
            res.pop("stdout"), res.pop("stderr")
            res["timings"] = summary.get("timings", {})
            if tool == "delta-hf":
                res["elapsed_seconds"] = summary.get("elapsed_seconds")
                res["shards"] = {s["name"]: s["num_shards"] for s in summary["splits"]}
            result["tools"][tool]["runs"].append(res)
            stages = ""
            if tool == "delta-hf":
                stages = "  [" + ", ".join(f"{k} {v:.2f}" for k, v in res["timings"].items()) + "]"
            log(f"[run {run}/{a.runs}] {tool}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU, "
                f"{res['peak_rss_bytes'] / MIB:.0f} MiB peak RSS, {total_rows / res['wall_s']:,.0f} rows/s, "
                f"rows ok{stages}")
            if not a.keep_outputs:
                shutil.rmtree(out)
    if not a.keep_outputs:
        shutil.rmtree(out_root)

    summarize(result)
    log("")
    log(f"Medians of {a.runs} warm run(s), SCALE={a.scale:g} ({total_rows:,} rows, {parquet_bytes / 1e6:,.1f} MB Parquet):")
    for line in table_lines(result):
        log(line)
    for k, v in result["ratios"].items():
        log(f"{k}: {v:.2f}")
    if "delta_hf" in result and result["delta_hf"]["label_map_pass_s"] is not None:
        dh = result["delta_hf"]
        log(f"delta-hf label-map pass: {dh['label_map_pass_s']:.2f} s ({dh['label_map_share_of_wall']:.0%} of wall); "
            f"stages: " + ", ".join(f"{k} {v:.2f}" for k, v in result["tools"]["delta-hf"]["median_timings"].items()))

    rc = 1 if failed else 0
    if a.no_save:
        return rc
    if set(tools) != set(TOOLS):
        log("(partial run with --only: bench/results.* not updated)")
        return rc
    json_path, md_path = BENCH_DIR / "results.json", BENCH_DIR / "results.md"
    results = {"scales": {}}
    if json_path.exists():
        try:
            results = json.loads(json_path.read_text())
            results.setdefault("scales", {})
        except ValueError:
            results = {"scales": {}}
    results["scales"][f"{a.scale:g}"] = result
    judge(results)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(render_md(results))
    for t in results["scales"][f"{a.scale:g}"]["targets"]:
        log(f"target: {t['target']}: {t['measured']} -> {verdict(t['pass']).strip('*')}")
    log(f"wrote {json_path.relative_to(REPO)} and {md_path.relative_to(REPO)}")
    if failed:
        log("some tool failed (see above): its numbers are missing from the results")
    return rc


if __name__ == "__main__":
    sys.exit(main())
