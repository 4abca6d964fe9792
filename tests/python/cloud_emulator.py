#!/usr/bin/env python3
"""Loopback stand-ins for the cloud services the tests need, in one process:

* a real S3-compatible server: moto's (`moto[server]` from PyPI), on 127.0.0.1;
* with --azure, a real Azure Blob Storage emulator: azurite (npm), whose `azurite-blob` the
  DELTA_HF_AZURITE environment variable names (`make test` sets it), on 127.0.0.1;
* with --gcs, a Google Cloud Storage emulator of the XML API (gcs_emulator.py: none from the
  package registries speaks it), checking OAuth bearer tokens;
* a Unity Catalog emulator speaking the Databricks REST shapes delta-hf uses
  (see ../shared/docs/unity-catalog.md), vending credentials for those servers: AWS keys for
  s3:// locations, a container SAS signed with the azurite account key for abfss:// ones (read
  and list only for READ, so a write with READ credentials is refused by azurite), an OAuth
  token granted for the bucket (read-only for READ) and the vend's lifetime for gs:// ones.

Usage:  cloud_emulator.py [--azure] [--gcs]
Prints one JSON line {"s3": URL, "uc": URL, "azure": BLOB_ENDPOINT or null, "gcs": URL or null}
once all listen, then
serves until its standard input closes (the test that started it holds the pipe, so the emulator
dies with the test).

The UC emulator is configured and inspected by the test through two extra endpoints:
  POST /_emulator/setup   JSON merged into the state: buckets [names to create], containers [Azure
                          containers to create], gcs_buckets [GCS buckets to create; they take
                          the token GCS_ADMIN_TOKEN], gcs_service_account (an email: registers a
                          service account and replies {"gcs_service_account_key": key file}), token, client_id, client_secret, tables
                          {full_name: {storage_location, table_type?, data_source_format?}},
                          volumes {full_name: storage_location}, schemas {"c.s": storage_root},
                          deny [full names whose credentials are refused], vend_ttl (seconds,
                          may be negative), first_vend_ttl (ttl of the first vend per target),
                          read_only (every vended SAS / GCS token read-only, whatever was asked)
  GET  /_emulator/calls   every API call so far: {method, path, body, auth}
  GET  /_emulator/gcs     every GCS request so far: {method, bucket, auth: token|anonymous}
Secrets are checked, never echoed or recorded (`auth` records only which kind was used).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import gcs_emulator

API = "/api/2.1/unity-catalog/"

STATE = {
    "token": None,
    "client_id": None,
    "client_secret": None,
    "oauth_tokens": set(),
    "tables": {},
    "volumes": {},
    "schemas": {},
    "deny": [],
    "vend_ttl": 3600,
    "first_vend_ttl": None,
    "read_only": False,
    "vended_targets": set(),
    "calls": [],
}
LOCK = threading.Lock()

# Keys moto accepts; a test looks for these strings to prove they never leak.
VENDED = {
    "access_key_id": "ASIAVENDEDKEYID00001",
    "secret_access_key": "vended-secret-SENTINEL-7f3a",
    "session_token": "vended-session-SENTINEL-91c2",
}


S3_URL = None
AZURE_URL = None
GCS_URL = None
# The tests' own token for the GCS emulator (to upload and download), not a vended one.
GCS_ADMIN_TOKEN = "gcs-admin-test-token"
# azurite's well-known development account (public, documented by Microsoft).
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=S3_URL, region_name="us-east-1",
                        aws_access_key_id="emulator", aws_secret_access_key="emulator")


def azure_client():
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(AZURE_URL, credential={"account_name": AZURE_ACCOUNT, "account_key": AZURE_KEY})


def read_only(operation: str) -> bool:
    """Whether credentials vended for `operation` only read (called with LOCK held)."""
    return STATE["read_only"] or operation in ("READ", "READ_VOLUME")


def azure_sas(container: str, operation: str, ttl: float) -> str:
    """A container SAS: read + list for READ, everything for the write operations."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    ro = read_only(operation)
    perm = ContainerSasPermissions(read=True, list=True, write=not ro, add=not ro, create=not ro, delete=not ro)
    return generate_container_sas(AZURE_ACCOUNT, container, account_key=AZURE_KEY, permission=perm,
                                  expiry=datetime.now(timezone.utc) + timedelta(seconds=ttl))


def now_ms() -> int:
    return int(time.time() * 1000)


def table_info(full: str, t: dict) -> dict:
    c, s, n = full.split(".")
    return {
        "name": n,
        "catalog_name": c,
        "schema_name": s,
        "full_name": full,
        "table_type": t.get("table_type", "EXTERNAL"),
        "data_source_format": t.get("data_source_format", "DELTA"),
        "columns": t.get("columns", []),
        "properties": {},
        "created_at": t.get("created_at", now_ms()),
        "updated_at": now_ms(),
        "table_id": t["table_id"],
        "storage_location": t["storage_location"],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def reply(self, status: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, code: str, message: str):
        self.reply(status, {"error_code": code, "message": message})

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        return raw

    def auth_kind(self) -> str:
        h = self.headers.get("authorization", "")
        if not h.startswith("Bearer "):
            return "none"
        tok = h[len("Bearer "):]
        with LOCK:
            if STATE["token"] is not None and tok == STATE["token"]:
                return "pat"
            if tok in STATE["oauth_tokens"]:
                return "oauth"
        return "bad"

    def record(self, body, auth):
        with LOCK:
            STATE["calls"].append({"method": self.command, "path": unquote(self.path), "body": body, "auth": auth})

    # -- routing -------------------------------------------------------------------------
    def do_GET(self):
        if self.path == "/_emulator/calls":
            with LOCK:
                return self.reply(200, {"calls": STATE["calls"]})
        if self.path == "/_emulator/gcs":
            return self.reply(200, {"requests": gcs_emulator.requests()})
        self.api("GET", None)

    def do_POST(self):
        raw = self.body()
        if self.path == "/_emulator/setup":
            cfg = json.loads(raw)
            try:
                for b in cfg.pop("buckets", []):
                    s3_client().create_bucket(Bucket=b)
                for c in cfg.pop("containers", []):
                    azure_client().create_container(c)
                for b in cfg.pop("gcs_buckets", []):
                    gcs_emulator.create_bucket(b)
                reply = {}
                if "gcs_service_account" in cfg:
                    reply["gcs_service_account_key"] = gcs_emulator.add_service_account(cfg.pop("gcs_service_account"))
            except Exception as e:  # noqa: BLE001 - reported to the test
                return self.reply(500, {"error_code": "EMULATOR_SETUP", "message": str(e)})
            with LOCK:
                for full, t in cfg.pop("tables", {}).items():
                    t = dict(t)
                    t.setdefault("table_id", str(uuid.uuid4()))
                    STATE["tables"][full] = t
                for full, loc in cfg.pop("volumes", {}).items():
                    STATE["volumes"][full] = {"volume_id": str(uuid.uuid4()), "storage_location": loc}
                STATE["schemas"].update(cfg.pop("schemas", {}))
                STATE.update(cfg)
            return self.reply(200, reply)
        if self.path == "/oidc/v1/token":
            return self.oauth(raw)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self.error(400, "MALFORMED_REQUEST", "body is not JSON")
        self.api("POST", body)

    def oauth(self, raw: bytes):
        h = self.headers.get("authorization", "")
        form = parse_qs(raw.decode())
        ok = False
        if h.startswith("Basic "):
            cid, _, secret = base64.b64decode(h[6:]).decode().partition(":")
            with LOCK:
                ok = cid == STATE["client_id"] and secret == STATE["client_secret"] and STATE["client_id"]
        self.record({"grant_type": form.get("grant_type", [""])[0], "scope": form.get("scope", [""])[0]}, "basic" if ok else "bad")
        if not ok:
            return self.reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        tok = "oauth-" + uuid.uuid4().hex
        with LOCK:
            STATE["oauth_tokens"].add(tok)
        self.reply(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 3600})

    def api(self, method: str, body):
        auth = self.auth_kind()
        self.record(body, auth)
        if not self.path.startswith(API):
            return self.error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {self.path}")
        if auth in ("none", "bad"):
            return self.error(401, "UNAUTHENTICATED", "Invalid access token.")
        route = unquote(self.path[len(API):].split("?")[0])
        with LOCK:
            if method == "GET" and route.startswith("tables/"):
                full = route[len("tables/"):]
                t = STATE["tables"].get(full)
                if t is None:
                    return self.error(404, "TABLE_DOES_NOT_EXIST", f"Table '{full}' does not exist.")
                return self.reply(200, table_info(full, t))
            if method == "POST" and route == "tables":
                full = f"{body['catalog_name']}.{body['schema_name']}.{body['name']}"
                if full in STATE["tables"]:
                    return self.error(409, "TABLE_ALREADY_EXISTS", f"Table '{full}' already exists")
                if body.get("table_type") != "EXTERNAL" or not body.get("storage_location"):
                    return self.error(400, "INVALID_PARAMETER_VALUE", "only EXTERNAL tables with a storage_location")
                t = {"table_id": str(uuid.uuid4()), "storage_location": body["storage_location"],
                     "columns": body.get("columns", []), "table_type": "EXTERNAL"}
                STATE["tables"][full] = t
                return self.reply(200, table_info(full, t))
            if method == "GET" and route.startswith("schemas/"):
                full = route[len("schemas/"):]
                if full not in STATE["schemas"]:
                    return self.error(404, "SCHEMA_DOES_NOT_EXIST", f"Schema '{full}' does not exist.")
                c, s = full.split(".")
                return self.reply(200, {"name": s, "catalog_name": c, "full_name": full,
                                        "storage_root": STATE["schemas"][full]})
            if method == "GET" and route.startswith("volumes/"):
                full = route[len("volumes/"):]
                v = STATE["volumes"].get(full)
                if v is None:
                    return self.error(404, "RESOURCE_DOES_NOT_EXIST", f"Volume '{full}' does not exist.")
                c, s, n = full.split(".")
                return self.reply(200, {"name": n, "catalog_name": c, "schema_name": s, "full_name": full,
                                        "volume_type": "EXTERNAL", **v})
            if method == "POST" and route == "temporary-table-credentials":
                full = next((k for k, t in STATE["tables"].items() if t["table_id"] == body.get("table_id")), None)
                if full is None:
                    return self.error(404, "TABLE_DOES_NOT_EXIST", "no table with that id")
                if full in STATE["deny"]:
                    return self.error(403, "PERMISSION_DENIED",
                                      f"User does not have EXTERNAL USE SCHEMA on Schema '{full.rsplit('.', 1)[0]}'.")
                return self.vend(("table", full, body.get("operation")), STATE["tables"][full]["storage_location"])
            if method == "POST" and route == "temporary-volume-credentials":
                full = next((k for k, v in STATE["volumes"].items() if v["volume_id"] == body.get("volume_id")), None)
                if full is None:
                    return self.error(404, "RESOURCE_DOES_NOT_EXIST", "no volume with that id")
                if full in STATE["deny"]:
                    return self.error(403, "PERMISSION_DENIED", f"User does not have WRITE VOLUME on Volume '{full}'.")
                return self.vend(("volume", full, body.get("operation")), STATE["volumes"][full]["storage_location"])
            if method == "POST" and route == "temporary-path-credentials":
                return self.vend(("path", body.get("url"), body.get("operation")), body.get("url"))
        return self.error(404, "ENDPOINT_NOT_FOUND", f"no route {method} {route}")

    def vend(self, target, url):
        # Called with LOCK held.
        ttl = STATE["vend_ttl"]
        if STATE["first_vend_ttl"] is not None and target not in STATE["vended_targets"]:
            ttl = STATE["first_vend_ttl"]
        STATE["vended_targets"].add(target)
        reply = {"expiration_time": now_ms() + int(ttl * 1000), "url": url}
        parsed = urlparse(url)
        if parsed.scheme in ("abfss", "abfs"):
            # abfss://<container>@<account>.dfs.core.windows.net/<path>
            reply["azure_user_delegation_sas"] = {"sas_token": azure_sas(parsed.username, target[2], ttl)}
        elif parsed.scheme == "gs":
            token = "ya29.vended-SENTINEL-" + uuid.uuid4().hex
            gcs_emulator.grant(token, {parsed.hostname}, write=not read_only(target[2]), ttl=ttl)
            reply["gcp_oauth_token"] = {"oauth_token": token}
        else:
            reply["aws_temp_credentials"] = VENDED
        self.reply(200, reply)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """In the child before exec: SIGTERM when this emulator dies, even by SIGKILL (Linux)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_azurite():
    """Start azurite-blob in memory on a free port; returns the process once it answers."""
    import os
    import subprocess
    import urllib.error
    import urllib.request

    exe = os.environ.get("DELTA_HF_AZURITE")
    if not exe or not os.path.exists(exe):
        sys.exit(f"cloud_emulator.py --azure: DELTA_HF_AZURITE ({exe!r}) is not azurite-blob; "
                 "run the tests with `make test` (it installs azurite: `make emulators`)")
    global AZURE_URL
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent)
    AZURE_URL = f"http://127.0.0.1:{port}/{AZURE_ACCOUNT}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers (an error status is fine)
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"azurite exited with {proc.returncode}")
            time.sleep(0.1)
    return proc


def main():
    from moto.server import ThreadedMotoServer

    azurite = start_azurite() if "--azure" in sys.argv[1:] else None
    global GCS_URL
    if "--gcs" in sys.argv[1:]:
        GCS_URL = gcs_emulator.start()
        gcs_emulator.grant(GCS_ADMIN_TOKEN, None, write=True, ttl=10**9)
    s3_port = free_port()
    global S3_URL
    S3_URL = f"http://127.0.0.1:{s3_port}"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    moto.start()
    uc = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    uc.daemon_threads = True
    threading.Thread(target=uc.serve_forever, daemon=True).start()
    print(json.dumps({"s3": S3_URL, "uc": f"http://127.0.0.1:{uc.server_address[1]}", "azure": AZURE_URL,
                      "gcs": GCS_URL}),
          flush=True)
    try:
        sys.stdin.read()  # until the test closes the pipe (or dies)
    finally:
        if azurite is not None:
            azurite.terminate()
            azurite.wait()
        uc.shutdown()
        moto.stop()


if __name__ == "__main__":
    main()
