#!/usr/bin/env python3
"""A loopback Hugging Face Hub (and dataset viewer) for the `size` / `pull` tests.

Usage:
    hub_emulator.py DATA_DIR

Generates a few dataset repos into DATA_DIR (Parquet written by pyarrow, CSV, README cards),
binds 127.0.0.1 on a free port, prints `PORT <n>` on stdout and serves until killed.

Repos (rows are a pure function of config/split/index, see `text_of` / `label_of`; the Rust
tests compute the same rows independently):
  acme/reviews   card with `configs` (en: train in 2 files + test; fr: train) and `dataset_info`
                 (list form) with a ClassLabel `label` (en: neg, pos, mixed; fr: négatif, positif),
                 split sizes, download_size and dataset_size; Parquet files in LFS.
  acme/nosizes   card without sizes or configs; CSV files `train.csv`, `test.csv`; a
                 `refs/convert/parquet` branch with `default/{train,test}/0000.parquet`; sizes
                 only from the dataset viewer's `/size`.
  acme/corrupt   like acme/reviews, but resolve GETs of `en/test-00000-of-00001.parquet` serve
                 bytes with one byte flipped (the listing keeps the true sha256).
  acme/gated     gated: every endpoint answers 401 (403 with a token) and X-Error-Code GatedRepo.
Model repos (for `prepare --tokenizer hf://MODEL`):
  acme/tiny-bert     the WordPiece tokenizer of `tokenize_ref.py` (trained at start-up):
                     tokenizer.json (in LFS), tokenizer_config.json, config.json; also at tag `v1`
  acme/gated-model   gated like acme/gated

Endpoints (the real shapes; routing on the raw path, where revisions arrive as `refs%2Fconvert%2Fparquet`):
  GET  /api/datasets/{repo}[/revision/{rev}]          {id, sha, cardData, siblings, ...}
  GET  /api/datasets/{repo}/tree/{rev}[/{path}]        files (lfs {oid, size, pointerSize}) and
       ?recursive=true[&cursor=N]                      directories, 4 per page, Link rel="next"
  POST /api/datasets/{repo}/paths-info/{rev}          entries for the given `paths`
  HEAD|GET /datasets/{repo}/resolve/{rev}/{path}      ETag (quoted sha256 for LFS files, git
                                                       oid otherwise), X-Repo-Commit,
                                                       X-Linked-Size; never X-Xet-Hash
  GET  /size?dataset={repo}                           the dataset viewer (acme/nosizes only)
  GET  /api/models/{repo}[/revision/{rev}]            models: the same shapes without `datasets/`
  HEAD|GET /{repo}/resolve/{rev}/{path}
Writing (the commit API as the Hub speaks it; `huggingface_hub.HfApi().upload_folder` works):
  POST /api/repos/create                              {name, organization, type, private}: 200
                                                       {url}; 409 when it exists
  POST /api/validate-yaml                             a README's front matter parses as YAML
  POST /api/datasets/{repo}/preupload/{rev}           {files: [{path, size, sample}]} -> uploadMode
                                                       `lfs` for .parquet/.csv or binary samples
  POST /datasets/{repo}.git/info/lfs/objects/batch    upload batch: transfer `basic`, per object an
                                                       upload (PUT /_lfs/{oid}) and a verify action,
                                                       no actions for objects already stored
  PUT  /_lfs/{oid}?X-Amz-Signature=...               store (sha256 and size checked); the query is
                                                       a fake signature that must never be shown
  POST /_lfs/{oid}/verify                             verify
  POST /api/datasets/{repo}/commit/{rev}              NDJSON: header (summary, parentCommit),
                                                       file (base64; refused for binary files, as
                                                       the Hub refuses them), lfsFile (oid uploaded),
                                                       deletedFile, deletedFolder
  GET  /api/whoami-v2                                 user `acme`, org `acme-org`, the token's role
                                                       (`read` for a token holding `read-only`)
  Writes need a token (401 without); repos of the owner `other` answer 403; `acme/tiny-bert` is
  a model repo (a dataset repo of that name does not exist). GET /_commits lists the commits made.
Unknown repo: 404 RepoNotFound; unknown revision: 404 RevisionNotFound; unknown file: 404
EntryNotFound. Requests are logged to DATA_DIR/requests.log (with whether a token was sent,
never the token).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

EN_NAMES = ["neg", "pos", "mixed"]
FR_NAMES = ["négatif", "positif"]
# Rows per (config, split); the en train split is written as two files.
ROWS = {("en", "train"): 300, ("en", "test"): 50, ("fr", "train"): 40,
        ("default", "train"): 30, ("default", "test"): 12}


def text_of(config: str, split: str, i: int) -> str:
    return f"{config} {split} review {i}"


def label_of(config: str, split: str, i: int) -> int:
    if config == "en":
        # the test split never shows `mixed` (id 2)
        return (i * 7) % 3 if split == "train" else i % 2
    if config == "fr":
        return i % 2
    return i % 3


def parquet_bytes(config: str, split: str, start: int, stop: int, names: list[str] | None) -> bytes:
    texts = [text_of(config, split, i) for i in range(start, stop)]
    labels = [label_of(config, split, i) for i in range(start, stop)]
    table = pa.table({"text": pa.array(texts, pa.string()), "label": pa.array(labels, pa.int64())})
    if names is not None:
        features = {"text": {"dtype": "string", "_type": "Value"},
                    "label": {"names": names, "_type": "ClassLabel"}}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=64)
    return buf.getvalue()


def csv_bytes(config: str, split: str) -> bytes:
    lines = ["text,label"] + [f"{text_of(config, split, i)},{label_of(config, split, i)}"
                              for i in range(ROWS[(config, split)])]
    return ("\n".join(lines) + "\n").encode()


def card(meta: dict | None, body: str) -> bytes:
    if meta is None:
        return body.encode()
    return ("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body).encode()


def class_label_yaml(names: list[str]) -> dict:
    return {"class_label": {"names": {str(i): n for i, n in enumerate(names)}}}


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_sha(files: dict[str, bytes], salt: str) -> str:
    h = hashlib.sha1(salt.encode())
    for p in sorted(files):
        h.update(p.encode() + hashlib.sha256(files[p]).digest())
    return h.hexdigest()


def build_repos() -> dict:
    """repo id -> {revision name -> (sha, {path: bytes})}, plus card data per revision."""
    en_train = [parquet_bytes("en", "train", 0, 180, EN_NAMES), parquet_bytes("en", "train", 180, 300, EN_NAMES)]
    en_test = parquet_bytes("en", "test", 0, 50, EN_NAMES)
    fr_train = parquet_bytes("fr", "train", 0, 40, FR_NAMES)
    reviews_meta = {
        "license": "cc-by-4.0",
        "configs": [
            {"config_name": "en", "default": True, "data_files": [
                {"split": "train", "path": "en/train-*"}, {"split": "test", "path": "en/test-*"}]},
            {"config_name": "fr", "data_files": [{"split": "train", "path": "fr/train-*"}]},
        ],
        "dataset_info": [
            {"config_name": "en",
             "features": [{"name": "text", "dtype": "string"}, {"name": "label", "dtype": class_label_yaml(EN_NAMES)}],
             "splits": [{"name": "train", "num_bytes": 83_446_840, "num_examples": 300},
                        {"name": "test", "num_bytes": 1_234_567, "num_examples": 50}],
             "download_size": 83_446_840, "dataset_size": 133_190_302},
            {"config_name": "fr",
             "features": [{"name": "text", "dtype": "string"}, {"name": "label", "dtype": class_label_yaml(FR_NAMES)}],
             "splits": [{"name": "train", "num_bytes": 2048, "num_examples": 40}],
             "download_size": 5_000, "dataset_size": 2048},
        ],
    }
    reviews = {
        "README.md": card(reviews_meta, "# Reviews\n\nA tiny test dataset.\n"),
        ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
        "en/train-00000-of-00002.parquet": en_train[0],
        "en/train-00001-of-00002.parquet": en_train[1],
        "en/test-00000-of-00001.parquet": en_test,
        "fr/train-00000-of-00001.parquet": fr_train,
    }
    nosizes = {
        "README.md": card({"license": "mit"}, "# No sizes\n"),
        "train.csv": csv_bytes("default", "train"),
        "test.csv": csv_bytes("default", "test"),
    }
    nosizes_pq = {
        "default/train/0000.parquet": parquet_bytes("default", "train", 0, 30, None),
        "default/test/0000.parquet": parquet_bytes("default", "test", 0, 12, None),
    }
    repos = {}
    for repo, files, salt in (("acme/reviews", reviews, "r"), ("acme/corrupt", reviews, "c")):
        sha = commit_sha(files, salt)
        repos[repo] = {"main": (sha, files, reviews_meta)}
    sha = commit_sha(nosizes, "n")
    repos["acme/nosizes"] = {"main": (sha, nosizes, {"license": "mit"}),
                             "refs/convert/parquet": (commit_sha(nosizes_pq, "p"), nosizes_pq, None)}
    return repos


def build_models() -> dict:
    """Model repos: the WordPiece tokenizer of tokenize_ref.py, trained into DATA_DIR."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tokenize_ref

    out = os.path.join(DATA_DIR, "models", "tiny-bert")
    tokenize_ref.train_wordpiece(out)
    files = {name: open(os.path.join(out, name), "rb").read()
             for name in ("tokenizer.json", "tokenizer_config.json")}
    files["config.json"] = json.dumps({"model_type": "bert", "vocab_size": 500}).encode()
    files[".gitattributes"] = b"tokenizer.json filter=lfs diff=lfs merge=lfs -text\n"
    sha = commit_sha(files, "m")
    return {"acme/tiny-bert": {"main": (sha, files, None), "v1": (sha, files, None)}}


REPOS = build_repos()
PRIVATE: set = set()
# The query of the LFS upload URLs, as a presigned URL's signature: the tests' token sentinel, so
# their leak check catches it in any output.
SIGNATURE = "hf_SENTINEL_token_must_not_leak_4242"
LFS_STORE: dict = {}
COMMITS: list = []
MODELS: dict = {}  # filled in main(), once DATA_DIR is known
GATED = {"acme/gated", "acme/gated-model"}
CORRUPT = {("acme/corrupt", "en/test-00000-of-00001.parquet")}
LFS_SUFFIXES = (".parquet", ".csv", "tokenizer.json")


def repos_of(kind: str) -> dict:
    return MODELS if kind == "models" else REPOS


def find_revision(repo: str, rev: str, kind: str = "datasets"):
    revs = repos_of(kind)[repo]
    if rev in revs:
        return revs[rev]
    for sha, files, meta in revs.values():
        if rev == sha:
            return sha, files, meta
    return None


def entry(path: str, data: bytes) -> dict:
    e = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
    if path.endswith(LFS_SUFFIXES):
        e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return e


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-emulator"

    def log_message(self, fmt, *args):  # quiet; requests.log instead
        pass

    def _log(self):
        auth = "token" if self.headers.get("Authorization") else "anonymous"
        with open(os.path.join(DATA_DIR, "requests.log"), "a") as f:
            f.write(f"{self.command} {self.path} {auth}\n")

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict | None = None):
        self._send(status, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})})

    def _json(self, obj, headers=None):
        self._send(200, json.dumps(obj).encode(), headers)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def handle_any(self):
        self._log()
        raw_path, _, query = self.path.partition("?")
        params = urllib.parse.parse_qs(query)
        parts = raw_path.strip("/").split("/")
        try:
            if parts[:1] == ["_lfs"]:
                return self.lfs_object(parts[1:])
            if parts[:1] == ["_commits"]:
                return self._json(COMMITS)
            if parts[:3] == ["api", "repos", "create"]:
                return self.create_repo()
            if parts[:2] == ["api", "whoami-v2"]:
                return self.whoami()
            if parts[:2] == ["api", "validate-yaml"]:
                return self.validate_yaml()
            if parts[:1] == ["datasets"] and len(parts) >= 4 and parts[2].endswith(".git"):
                return self.lfs_batch(parts[1] + "/" + parts[2][:-4])
            if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] in ("preupload", "commit"):
                return self.write_api(parts[2] + "/" + parts[3], parts[4], parts[5])
            if parts[:1] == ["size"]:
                return self.viewer_size(params)
            if parts[:2] == ["api", "datasets"]:
                return self.api(parts[2:], params)
            if parts[:1] == ["datasets"]:
                return self.resolve(parts[1:])
            if parts[:2] == ["api", "models"]:
                return self.api(parts[2:], params, "models")
            if len(parts) >= 4 and parts[2] == "resolve":
                return self.resolve(parts, "models")
            self._error(404, "NotFound", "no such endpoint")
        except BrokenPipeError:
            pass

    def repo_of(self, parts: list[str], kind: str = "datasets"):
        """(repo id, rest) or None after answering the error."""
        if len(parts) < 2:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        repo = urllib.parse.unquote(parts[0]) + "/" + urllib.parse.unquote(parts[1])
        if repo in GATED:
            status = 403 if self.headers.get("Authorization") else 401
            self._error(status, "GatedRepo",
                        f"Access to {kind[:-1]} {repo} is restricted. You must have access to it and be authenticated to access it. Please log in.")
            return None
        if repo not in repos_of(kind):
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo, parts[2:]

    def revision(self, repo: str, raw_rev: str, kind: str = "datasets"):
        rev = urllib.parse.unquote(raw_rev)
        found = find_revision(repo, rev, kind)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return found

    def api(self, parts: list[str], params, kind: str = "datasets"):
        got = self.repo_of(parts, kind)
        if got is None:
            return
        repo, rest = got
        if not rest or rest[0] == "revision":
            found = self.revision(repo, rest[1] if len(rest) > 1 else "main", kind)
            if found is None:
                return
            sha, files, meta = found
            return self._json({"_id": "x" * 24, "id": repo, "author": repo.split("/")[0], "sha": sha,
                               "private": repo in PRIVATE, "gated": False, "disabled": False,
                               "cardData": meta, "tags": [],
                               "siblings": [{"rfilename": p} for p in sorted(files)]})
        if rest[0] == "tree" and len(rest) >= 2:
            found = self.revision(repo, rest[1], kind)
            if found is None:
                return
            sha, files, _ = found
            prefix = "/".join(urllib.parse.unquote(p) for p in rest[2:])
            recursive = params.get("recursive", ["false"])[0] == "true"
            entries, dirs = [], set()
            for p in sorted(files):
                if prefix and not p.startswith(prefix + "/"):
                    continue
                rel = p[len(prefix) + 1:] if prefix else p
                if "/" in rel:
                    d = (prefix + "/" if prefix else "") + rel.split("/")[0]
                    if d not in dirs:
                        dirs.add(d)
                        entries.append({"type": "directory", "oid": git_oid(d.encode()), "path": d})
                    if not recursive:
                        continue
                entries.append(entry(p, files[p]))
            cursor = int(params.get("cursor", ["0"])[0])
            page = entries[cursor:cursor + 4]
            headers = {}
            if cursor + 4 < len(entries):
                host = self.headers.get("Host")
                q = urllib.parse.urlencode({"recursive": str(recursive).lower(), "cursor": cursor + 4})
                headers["Link"] = f'<http://{host}{raw_path_of(self.path)}?{q}>; rel="next"'
            return self._json(page, headers)
        if rest[0] == "paths-info" and len(rest) >= 2:
            found = self.revision(repo, rest[1], kind)
            if found is None:
                return
            sha, files, _ = found
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            try:
                paths = json.loads(body)["paths"]
            except (ValueError, KeyError):
                paths = urllib.parse.parse_qs(body).get("paths", [])
            return self._json([entry(p, files[p]) for p in paths if p in files])
        self._error(404, "NotFound", "no such endpoint")

    def resolve(self, parts: list[str], kind: str = "datasets"):
        got = self.repo_of(parts, kind)
        if got is None:
            return
        repo, rest = got
        if len(rest) < 3 or rest[0] != "resolve":
            return self._error(404, "NotFound", "no such endpoint")
        found = self.revision(repo, rest[1], kind)
        if found is None:
            return
        sha, files, _ = found
        path = "/".join(urllib.parse.unquote(p) for p in rest[2:])
        if path not in files:
            # The Hub names the commit on a missing file too (clients cache the absence).
            return self._error(404, "EntryNotFound", f"{path} does not exist on {rest[1]}",
                               {"X-Repo-Commit": sha})
        data = files[path]
        e = entry(path, data)
        etag = e["lfs"]["oid"] if "lfs" in e else e["oid"]
        if self.command == "GET" and (repo, path) in CORRUPT:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if "lfs" in e:
            headers["X-Linked-Size"] = str(len(data))
            headers["X-Linked-Etag"] = f'"{etag}"'
        self._send(200, data, headers, ctype="application/octet-stream")

    def viewer_size(self, params):
        dataset = params.get("dataset", [""])[0]
        if dataset != "acme/nosizes":
            return self._error(404, "DatasetNotFoundError", "The dataset does not exist, or is not accessible")
        splits = [{"dataset": dataset, "config": "default", "split": s, "num_bytes_parquet_files": 1000 + n,
                   "num_bytes_memory": 3000 + n * 10, "num_rows": n, "num_columns": 2}
                  for s, n in (("train", 30), ("test", 12))]
        config = {"dataset": dataset, "config": "default", "num_bytes_original_files": 123_456_789,
                  "num_bytes_parquet_files": 2042, "num_bytes_memory": 6_543_210, "num_rows": 42, "num_columns": 2}
        self._json({"size": {"dataset": {k: v for k, v in config.items() if k not in ("config", "num_columns")},
                             "configs": [config], "splits": splits},
                    "pending": [], "failed": [], "partial": False})


    # --- writing -------------------------------------------------------------------------------

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def may_write(self, repo: str) -> bool:
        """Whether the request may write to `repo`, after answering the error when not."""
        if not self.headers.get("Authorization"):
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return False
        if repo.split("/")[0] == "other":
            self._error(403, "Forbidden", f"You don't have the rights to create or write to dataset {repo}")
            return False
        return True

    def whoami(self):
        """The token's user `acme`, its organization `acme-org`, and the token's role: `read` for
        a token holding `read-only`, else `write`; 401 without a token."""
        auth = self.headers.get("Authorization")
        if not auth:
            return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
        role = "read" if "read-only" in auth else "write"
        self._json({"type": "user", "name": "acme", "orgs": [{"type": "org", "name": "acme-org"}],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "t", "role": role}}})

    def create_repo(self):
        req = json.loads(self.body() or b"{}")
        repo = (req.get("organization") + "/" if req.get("organization") else "") + req["name"]
        if not self.may_write(repo):
            return
        if req.get("type") != "dataset":
            return self._error(400, "BadRequest", "only dataset repos can be created here")
        if repo in REPOS:
            return self._error(409, "Conflict", "You already created this dataset repo",
                               {"X-Error-Message": "You already created this dataset repo"})
        files = {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"}
        REPOS[repo] = {"main": (commit_sha(files, "new" + repo), files, None)}
        if req.get("private"):
            PRIVATE.add(repo)
        host = self.headers.get("Host")
        self._json({"url": f"http://{host}/datasets/{repo}", "name": repo})

    def validate_yaml(self):
        content = json.loads(self.body() or b"{}").get("content", "")
        try:
            if content.startswith("---\n"):
                yaml.safe_load(content[4:content.index("\n---", 4)])
        except (ValueError, yaml.YAMLError) as e:
            return self._send(400, json.dumps({"errors": [{"message": str(e)}], "warnings": []}).encode())
        self._json({"errors": [], "warnings": []})

    def write_api(self, repo_raw: str, what: str, raw_rev: str):
        repo = urllib.parse.unquote(repo_raw)
        body = self.body()
        if repo in GATED:
            return self._error(403 if self.headers.get("Authorization") else 401, "GatedRepo", "restricted")
        if not self.may_write(repo):
            return
        if repo not in REPOS:
            return self._error(404, "RepoNotFound", "Repository not found")
        rev = urllib.parse.unquote(raw_rev.partition("?")[0])
        if rev not in REPOS[repo]:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        sha, files, meta = REPOS[repo][rev]
        if what == "preupload":
            out = []
            for f in json.loads(body)["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = f["path"].endswith(LFS_SUFFIXES) or b"\0" in sample or f["size"] > 10_000_000
                e = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
                if f["path"] in files:
                    e["oid"] = git_oid(files[f["path"]])
                out.append(e)
            return self._json({"files": out, "commitOid": sha})
        # commit
        lines = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
        new = dict(files)
        summary = ""
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                summary = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent and parent != sha:
                    return self._error(412, "PreconditionFailed", "A commit has happened since. Please refresh and try again.")
            elif key == "file":
                data = base64.b64decode(value["content"])
                if value["path"].endswith(LFS_SUFFIXES) or b"\0" in data:
                    return self._error(400, "BadRequest",
                                       "Your push was rejected because it contains binary files. Please use LFS.")
                new[value["path"]] = data
            elif key == "lfsFile":
                data = LFS_STORE.get(value["oid"])
                if data is None or len(data) != value["size"]:
                    return self._error(422, "BadRequest", f"LFS object {value['oid']} was not uploaded")
                new[value["path"]] = data
            elif key == "deletedFile":
                if value["path"] not in new:
                    return self._error(404, "EntryNotFound", f"{value['path']} does not exist")
                del new[value["path"]]
            elif key == "deletedFolder":
                for p in [p for p in new if p.startswith(value["path"].rstrip("/") + "/")]:
                    del new[p]
            else:
                return self._error(400, "BadRequest", f"unknown key {key}")
        new_sha = commit_sha(new, sha)
        card_meta = None
        if "README.md" in new:
            text = new["README.md"].decode()
            if text.startswith("---\n"):
                card_meta = yaml.safe_load(text[4:text.index("\n---", 4)])
        REPOS[repo][rev] = (new_sha, new, card_meta)
        COMMITS.append({"repo": repo, "revision": rev, "summary": summary, "sha": new_sha,
                        "ops": [l["key"] for l in lines]})
        host = self.headers.get("Host")
        self._json({"commitUrl": f"http://{host}/datasets/{repo}/commit/{new_sha}", "commitOid": new_sha,
                    "success": True})

    def lfs_batch(self, repo_raw: str):
        repo = urllib.parse.unquote(repo_raw)
        req = json.loads(self.body() or b"{}")
        if not self.may_write(repo):
            return
        if repo not in REPOS:
            return self._error(404, "RepoNotFound", "Repository not found")
        if "basic" not in req.get("transfers", ["basic"]):
            return self._error(422, "BadRequest", "no transfer the Hub knows")
        host = self.headers.get("Host")
        objects = []
        for o in req["objects"]:
            out = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in LFS_STORE:
                out["actions"] = {
                    "upload": {"href": f"http://{host}/_lfs/{o['oid']}?X-Amz-Signature={SIGNATURE}",
                               "header": {"X-Lfs-Upload": "1"}},
                    "verify": {"href": f"http://{host}/_lfs/{o['oid']}/verify",
                               "header": {"X-Lfs-Verify": "1"}},
                }
            objects.append(out)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
                   ctype="application/vnd.git-lfs+json")

    def lfs_object(self, rest: list):
        oid = rest[0] if rest else ""
        body = self.body()
        if self.command == "PUT":
            if self.headers.get("Authorization"):
                return self._error(400, "BadRequest", "the storage URL is signed: no Authorization header")
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, "BadRequest", "the content does not match its oid")
            LFS_STORE[oid] = body
            return self._send(200)
        if len(rest) == 2 and rest[1] == "verify":
            req = json.loads(body or b"{}")
            if oid not in LFS_STORE or len(LFS_STORE[oid]) != req.get("size"):
                return self._error(404, "NotFound", "object not uploaded")
            return self._send(200)
        self._error(404, "NotFound", "no such endpoint")


def raw_path_of(path: str) -> str:
    return path.partition("?")[0]


def main():
    global DATA_DIR
    DATA_DIR = sys.argv[1]
    os.makedirs(DATA_DIR, exist_ok=True)
    MODELS.update(build_models())
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


DATA_DIR = "."

if __name__ == "__main__":
    main()
