"""Run the delta-hf binary as a Databricks job task.

Used as a `spark_python_task` (see resources/prepare.job.yml):

    run_delta_hf.py --binary /Volumes/<catalog>/<schema>/<volume>/bin/delta-hf -- prepare --train ...

Why a `spark_python_task` and not a `python_wheel_task`: the binary is built once by `make dist`
and uploaded to a volume; the bundle syncs this script, so no wheel has to be built, versioned
and installed on the cluster for every change, and a new binary needs no redeploy. Databricks has
no task type that runs a native binary, so this script is the bridge. It

1. copies the binary from the volume to local disk (a volume is a FUSE mount: files there cannot
   be executed reliably) and makes it executable;
2. hands the child Databricks credentials through environment variables only (never on its
   command line, which shows in `ps` and in the job's logs, and never printed): values already in
   the environment (e.g. OAuth M2M secrets from `{{secrets/scope/key}}` in `spark_env_vars`) are
   kept; otherwise they come from the Databricks SDK (`WorkspaceClient().config`), which on a
   cluster knows the run's own credentials;
3. forwards every argument after `--` (an argument `--flag=` with an empty value, i.e. an
   optional job parameter left blank, is dropped), streams the child's output, and exits with the
   child's exit code (see delta-hf's README for their meaning). Cancelling the run interrupts
   the child (it then removes its staging and exits 130).

Exit status of the wrapper itself: 2 when its own arguments are wrong or the binary is missing.
Works without the Databricks SDK installed when the credentials are already in the environment.
"""

import argparse
import os
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


def log(msg):
    print(f"run_delta_hf: {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="run_delta_hf.py",
        description="Copy delta-hf to local disk and run it with Databricks credentials.",
    )
    p.add_argument("--binary", required=True, help="path of the delta-hf binary (on a volume)")
    p.add_argument(
        "--local-dir",
        default=None,
        help="where the binary is copied [default: /local_disk0/tmp if present, else the temp dir]",
    )
    if "--" not in argv:
        p.error("give the delta-hf arguments after `--`, e.g. `-- prepare --train ...`")
    cut = argv.index("--")
    opts = p.parse_args(argv[:cut])
    forwarded = [a for a in argv[cut + 1 :] if not (a.startswith("--") and a.endswith("="))]
    if not forwarded:
        p.error("no delta-hf command after `--`")
    return opts, forwarded


def local_copy(binary, local_dir):
    """Copy the binary to a fresh directory on local disk; return its path."""
    if not os.path.isfile(binary):
        log(
            f"error: the delta-hf binary `{binary}` does not exist (or is not a file). "
            "Build it with `make dist` and upload it with "
            f"`databricks fs cp dist/delta-hf-x86_64-linux-gnu dbfs:{binary} --overwrite`, "
            "or set the job parameter `binary` to where it is."
        )
        sys.exit(USAGE_EXIT)
    if local_dir is None:
        local_dir = "/local_disk0/tmp" if os.path.isdir("/local_disk0") else tempfile.gettempdir()
    os.makedirs(local_dir, exist_ok=True)
    target_dir = tempfile.mkdtemp(prefix="delta-hf-bin-", dir=local_dir)
    target = os.path.join(target_dir, "delta-hf")
    shutil.copyfile(binary, target)
    os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


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


def main(argv):
    opts, forwarded = parse_args(argv)
    exe = local_copy(opts.binary, opts.local_dir)
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
    # Not the arguments themselves: a `--storage-option` may carry a key.
    log(f"running {exe} {forwarded[0]} ({len(forwarded) - 1} arguments)")
    child = subprocess.Popen([exe, *forwarded], env=env)

    def interrupt(signum, _frame):
        # A cancelled run: let delta-hf stop cleanly (it removes its staging on SIGINT).
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, interrupt)
    code = child.wait()
    shutil.rmtree(os.path.dirname(exe), ignore_errors=True)
    # A child killed by a signal: report it the way a shell does.
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    status = main(sys.argv[1:])
    if status != 0:
        log(f"delta-hf exited with status {status}")
        sys.exit(status)
