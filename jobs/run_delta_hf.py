"""Run the delta-hf binary as a Databricks job task, on one node or fanned out over a Spark cluster.

Used as a `spark_python_task` (see resources/*.job.yml):

    run_delta_hf.py --binary /Volumes/<catalog>/<schema>/<volume>/bin/delta-hf -- prepare --train ...
    run_delta_hf.py -- run-task --plan /Volumes/.../plan.json --task 3      (the wheel's binary)
    run_delta_hf.py --fan-out 8 --plan /Volumes/.../plan.json -- prepare --train ...

Why a `spark_python_task` and not a `python_wheel_task`: the binary is built once by `make dist`
and uploaded to a volume (or installed on every node as the `delta-hf` wheel, a cluster library);
the bundle syncs this script, so a new binary needs no redeploy. Databricks has no task type that
runs a native binary, so this script is the bridge. It

1. finds the binary: `--binary PATH` (on a volume) is copied to local disk (a volume is a FUSE
   mount: files there cannot be executed reliably) and made executable; without `--binary`, the
   `delta-hf` that the wheel installed into this Python environment is run where it is;
2. hands the child Databricks credentials through environment variables only (never on its
   command line, which shows in `ps` and in the job's logs, and never printed): values already in
   the environment (e.g. OAuth M2M secrets from `{{secrets/scope/key}}` in `spark_env_vars`) are
   kept; otherwise they come from the Databricks SDK (`WorkspaceClient().config`), which on a
   cluster knows the run's own credentials;
3. forwards every argument after `--` (an argument `--flag=` with an empty value, i.e. an
   optional job parameter left blank, is dropped), streams the child's output, and exits with the
   child's exit code (see delta-hf's README for their meaning). Cancelling the run interrupts
   the child (it then removes its staging and exits 130).

With `--fan-out N --plan PLAN -- prepare ARGS` one export runs on the whole cluster, with Spark as
the scheduler (a dedicated-access cluster: Spark Connect, on shared access or serverless, has no
`sparkContext`):

1. on the driver: `delta-hf plan ARGS --tasks N --plan PLAN` (PLAN on storage every node reaches:
   a `/Volumes/...` path or an object-store URI);
2. on the executors: `sparkContext.parallelize(range(N), N)`, one Spark task per delta-hf task,
   each running `delta-hf run-task --plan PLAN --task I`. A non-zero exit raises an exception that
   carries the exit status and the end of delta-hf's stderr, so Spark retries the task
   (`spark.task.maxFailures`; run-task is idempotent, and speculative duplicates are safe) and,
   once it gives up, the driver names the task and its status. The credentials reach the
   executors inside the Spark task (Spark's own RPC), then the child's environment, as above;
3. on the driver: `delta-hf commit --plan PLAN`, which publishes the dataset.
A task that fails for good leaves nothing published: the wrapper exits with that task's status.

Exit status of the wrapper itself: 2 when its own arguments are wrong, the binary is missing, or
`--fan-out` finds no Spark. Works without the Databricks SDK installed when the credentials are
already in the environment.
"""

import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

USAGE_EXIT = 2
CREDENTIAL_VARS = (
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
)
# How much of a failed run-task's stderr travels back to the driver in the Spark exception (the
# whole stderr is in the executor's log).
STDERR_TAIL = 8000
# Flags of `prepare` that `run-task` and `commit` take as well (object-store options, retries,
# output format); run-task also takes `--working-dir` (its local scratch space).
SHARED_VALUE_FLAGS = ("--storage-option", "--profile", "--retry-timeout")
SHARED_SWITCHES = ("--json", "--quiet", "-q")
# The line a failed executor task carries; the driver reads the status back from it.
TASK_FAILED = re.compile(r"delta-hf run-task --task (\d+) exited with status (\d+)")


def log(msg):
    print(f"run_delta_hf: {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="run_delta_hf.py",
        description="Run delta-hf with Databricks credentials, on the driver or fanned out over Spark.",
    )
    p.add_argument(
        "--binary",
        default=None,
        help="path of the delta-hf binary (on a volume) [default: the `delta-hf` the wheel installed]",
    )
    p.add_argument(
        "--local-dir",
        default=None,
        help="where the binary is copied [default: /local_disk0/tmp if present, else the temp dir]",
    )
    p.add_argument(
        "--fan-out",
        type=int,
        default=None,
        metavar="N",
        help="run a `prepare` as `plan` (driver), N `run-task`s (Spark executors), `commit` (driver)",
    )
    p.add_argument(
        "--plan",
        default=None,
        help="with --fan-out: where the plan is written; storage every node reaches (/Volumes/..., s3://...)",
    )
    p.add_argument(
        "--tasks-from",
        default=None,
        metavar="JSON",
        help="for `plan`: the for-each's inputs, a JSON array [0, ..., N-1]; adds `--tasks N`",
    )
    if "--" not in argv:
        p.error("give the delta-hf arguments after `--`, e.g. `-- prepare --train ...`")
    cut = argv.index("--")
    opts = p.parse_args(argv[:cut])
    forwarded = [a for a in argv[cut + 1 :] if not (a.startswith("--") and a.endswith("="))]
    if not forwarded:
        p.error("no delta-hf command after `--`")
    if opts.fan_out is not None:
        if opts.fan_out < 1:
            p.error("--fan-out takes a number of tasks >= 1")
        if not opts.plan:
            p.error("--fan-out needs --plan (a /Volumes/... path or object-store URI every node reaches)")
        if forwarded[0] != "prepare":
            p.error(f"--fan-out runs a `prepare` (given after `--`) as plan/run-task/commit, not `{forwarded[0]}`")
    elif opts.plan:
        p.error("--plan is for --fan-out (give `--plan` after `--` to a delta-hf command)")
    if opts.tasks_from is not None:
        if forwarded[0] != "plan":
            p.error(f"--tasks-from is for `plan`, not `{forwarded[0]}`")
        try:
            numbers = json.loads(opts.tasks_from)
        except ValueError:
            numbers = None
        if not isinstance(numbers, list) or not numbers or numbers != list(range(len(numbers))):
            p.error(f"--tasks-from takes the task numbers as a JSON array [0, 1, ..., N-1], got `{opts.tasks_from}`")
        forwarded += ["--tasks", str(len(numbers))]
    return opts, forwarded


def installed_binary():
    """The `delta-hf` the wheel installed into this Python environment (where its `delta_hf`
    package finds it), else one on PATH; None if there is none."""
    try:
        from delta_hf import find_delta_hf_bin

        return find_delta_hf_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("delta-hf")


class MissingBinary(Exception):
    """No delta-hf binary where one was asked for (the message says what to do)."""


def local_copy(binary, local_dir):
    """Copy the binary to a fresh directory on local disk; return (its path, the directory to
    remove afterwards). Without `binary`, the installed one, nothing to remove."""
    if binary is None:
        exe = installed_binary()
        if exe is None:
            raise MissingBinary(
                "no delta-hf binary: install the delta-hf wheel (`make wheel`; a cluster library "
                "`whl`, or `%pip install`) or give `--binary /Volumes/.../delta-hf` (`make dist`, "
                "then `databricks fs cp`)."
            )
        return exe, None
    if not os.path.isfile(binary):
        raise MissingBinary(
            f"the delta-hf binary `{binary}` does not exist (or is not a file). "
            "Build it with `make dist` and upload it with "
            f"`databricks fs cp dist/delta-hf-x86_64-linux-gnu dbfs:{binary} --overwrite`, "
            "or set the job parameter `binary` to where it is."
        )
    if local_dir is None:
        local_dir = "/local_disk0/tmp" if os.path.isdir("/local_disk0") else tempfile.gettempdir()
    os.makedirs(local_dir, exist_ok=True)
    target_dir = tempfile.mkdtemp(prefix="delta-hf-bin-", dir=local_dir)
    target = os.path.join(target_dir, "delta-hf")
    shutil.copyfile(binary, target)
    os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target, target_dir


def credentials(env):
    """Databricks credentials for the child, as environment variables.

    Returns (variables to set, a description without any secret)."""
    host = env.get("DATABRICKS_HOST")
    has_token = bool(env.get("DATABRICKS_TOKEN"))
    has_m2m = bool(env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET"))
    if host and (has_token or has_m2m):
        return {}, "from the environment (" + ("token" if has_token else "OAuth M2M") + ")"
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        return {}, None
    try:
        cfg = WorkspaceClient().config
        out = {"DATABRICKS_HOST": cfg.host}
        if cfg.client_id and cfg.client_secret:
            # The child exchanges them itself, so it can refresh its token on long runs.
            out["DATABRICKS_CLIENT_ID"] = cfg.client_id
            out["DATABRICKS_CLIENT_SECRET"] = cfg.client_secret
            return out, "OAuth M2M from the Databricks SDK"
        header = cfg.authenticate().get("Authorization", "")
        if not header.startswith("Bearer "):
            return {}, None
        out["DATABRICKS_TOKEN"] = header[len("Bearer ") :]
        return out, f"a token from the Databricks SDK ({cfg.auth_type})"
    except Exception as e:  # noqa: BLE001 - any SDK failure means: no credentials from it
        # The SDK's messages name the auth method, not the secret; keep only the type to be safe.
        log(f"the Databricks SDK found no credentials ({type(e).__name__})")
        return {}, None


def child_credentials():
    """The DATABRICKS_* variables the child gets (from the environment or the SDK)."""
    env = dict(os.environ)
    extra, how = credentials(env)
    env.update({k: v for k, v in extra.items() if v})
    if how:
        log(f"Databricks credentials: {how}")
    else:
        log(
            "warning: no Databricks credentials (DATABRICKS_HOST with DATABRICKS_TOKEN or "
            "DATABRICKS_CLIENT_ID/SECRET, or the Databricks SDK); Unity Catalog names will fail"
        )
    return {k: env[k] for k in CREDENTIAL_VARS if env.get(k)}


def exit_status(code):
    """A child killed by a signal: report it the way a shell does."""
    return 128 - code if code < 0 else code


class Driver:
    """Runs delta-hf commands on this node, one at a time; a cancelled run (SIGTERM) interrupts
    the running one (delta-hf then removes its staging and exits 130)."""

    def __init__(self, exe, creds):
        self.exe = exe
        self.env = {**os.environ, **creds}
        self.child = None
        self.on_cancel = None
        signal.signal(signal.SIGTERM, self._interrupt)

    def _interrupt(self, signum, _frame):
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)
        elif self.on_cancel is not None:
            self.on_cancel()

    def run(self, args):
        # Not the arguments themselves: a `--storage-option` may carry a key.
        log(f"running {self.exe} {args[0]} ({len(args) - 1} arguments)")
        self.child = subprocess.Popen([self.exe, *args], env=self.env)
        try:
            return exit_status(self.child.wait())
        finally:
            self.child = None


def run_task(binary, local_dir, creds, plan, task, flags):
    """One `delta-hf run-task` on a Spark executor. Raises on a non-zero exit, with the status and
    the end of delta-hf's stderr, so that Spark retries the task and the driver can name it."""
    exe, tmp_dir = local_copy(binary, local_dir)
    try:
        r = subprocess.run(
            [exe, "run-task", "--plan", plan, "--task", str(task), *flags],
            env={**os.environ, **creds},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    finally:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    # The executor's log keeps everything.
    sys.stderr.write(r.stderr)
    sys.stderr.flush()
    code = exit_status(r.returncode)
    if code != 0:
        tail = r.stderr[-STDERR_TAIL:]
        raise RuntimeError(f"delta-hf run-task --task {task} exited with status {code}; its stderr ends:\n{tail}")
    return task, r.stdout


def shared_flags(args, value_flags=SHARED_VALUE_FLAGS):
    """The flags among `args` (a prepare command line) that run-task and commit take too."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.split("=", 1)[0] in value_flags:
            if "=" in a:
                out.append(a)
            elif i + 1 < len(args):
                out += [a, args[i + 1]]
                i += 1
        elif a in SHARED_SWITCHES:
            out.append(a)
        i += 1
    return out


def spark_context():
    """The running Spark application's context (a `spark_python_task` has one on a dedicated
    cluster; `spark-submit` starts one elsewhere)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        log("error: --fan-out needs Spark (pyspark): run it as a spark_python_task or with spark-submit")
        sys.exit(USAGE_EXIT)
    try:
        return SparkSession.builder.getOrCreate().sparkContext
    except Exception as e:  # noqa: BLE001 - Spark Connect raises its own types
        log(
            f"error: --fan-out needs a classic Spark cluster with a sparkContext (dedicated access "
            f"mode); Spark Connect (shared access, serverless) has none ({type(e).__name__}: {e})"
        )
        sys.exit(USAGE_EXIT)


def fan_out(opts, forwarded, driver, creds):
    """plan on the driver, run-task on the executors, commit on the driver."""
    n, plan = opts.fan_out, opts.plan
    sc = spark_context()
    status = driver.run(["plan", *forwarded[1:], "--tasks", str(n), "--plan", plan])
    if status != 0:
        return status
    log(f"running {n} run-task(s) as Spark tasks")
    sc.setJobDescription(f"delta-hf run-task x{n}")
    driver.on_cancel = sc.cancelAllJobs
    binary, local_dir = opts.binary, opts.local_dir
    prepare_args = forwarded[1:]
    task_flags = shared_flags(prepare_args, SHARED_VALUE_FLAGS + ("--working-dir",))
    try:
        done = (
            sc.parallelize(range(n), n)
            .map(lambda i: run_task(binary, local_dir, creds, plan, i, task_flags))
            .collect()
        )
    except Exception as e:  # noqa: BLE001 - Py4J wraps the executor's exception
        found = TASK_FAILED.search(str(e))
        if found:
            task, status = int(found.group(1)), int(found.group(2))
            log(f"run-task {task} failed for good (status {status}); nothing is published. Spark said:\n{e}")
            return status or 1
        log(f"the Spark job failed; nothing is published: {type(e).__name__}: {e}")
        return 1
    finally:
        driver.on_cancel = None
    log(f"{len(done)} run-task(s) done")
    return driver.run(["commit", "--plan", plan, *shared_flags(prepare_args)])


def main(argv):
    opts, forwarded = parse_args(argv)
    try:
        exe, tmp_dir = local_copy(opts.binary, opts.local_dir)
    except MissingBinary as e:
        log(f"error: {e}")
        sys.exit(USAGE_EXIT)
    creds = child_credentials()
    driver = Driver(exe, creds)
    try:
        if opts.fan_out is not None:
            return fan_out(opts, forwarded, driver, creds)
        return driver.run(forwarded)
    finally:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)


if __name__ == "__main__":
    status = main(sys.argv[1:])
    if status != 0:
        log(f"delta-hf exited with status {status}")
        sys.exit(status)
