"""A Google Cloud Storage emulator for the tests: the XML API subset that object_store's GCS
client (and so delta-hf) uses, with OAuth bearer tokens checked. Started by cloud_emulator.py.

No GCS emulator from the package registries speaks the XML API (gcp-storage-emulator has only
the JSON API; fake-gcs-server is a Go binary from GitHub), so this one is written here, after
https://cloud.google.com/storage/docs/xml-api/overview:

  GET    /BUCKET?list-type=2&prefix=&delimiter=&start-after=   ListBucketResult
  GET    /BUCKET/KEY  (Range: bytes=a-b | a- | -n)              object (206 for a range)
  HEAD   /BUCKET/KEY
  PUT    /BUCKET/KEY  (x-goog-if-generation-match: 0 → 412 if it exists; x-goog-copy-source)
  DELETE /BUCKET/KEY
  POST   /BUCKET/KEY?uploads, PUT ?partNumber=N&uploadId=U, POST ?uploadId=U, DELETE ?uploadId=U

Every request needs `Authorization: Bearer T`, 401 otherwise, where T is either
- an OAuth token granted (see `grant`) for that bucket, not expired, allowing writes if the request
  writes (403 for a read-only token that writes); or
- a self-signed JWT of a registered service account (see `add_service_account`): the RS256
  signature is checked against the account's public key, and `exp`. That is how a GCS client
  signs in with a service account key file, without a token exchange.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

LOCK = threading.Lock()
BUCKETS: dict[str, dict[str, dict]] = {}  # bucket -> key -> {data, generation, mtime}
SERVICE_ACCOUNTS: dict[str, object] = {}  # client_email -> RSA public key
TOKENS: dict[str, dict] = {}  # token -> {buckets: set|None (all), write: bool, expires: float}
UPLOADS: dict[str, dict] = {}  # upload id -> {bucket, key, parts: {n: bytes}}
REQUESTS: list[dict] = []  # {method, bucket, auth: "token"|"anonymous"}
GENERATION = [1000]


def create_bucket(name: str):
    with LOCK:
        BUCKETS.setdefault(name, {})


def add_service_account(email: str) -> dict:
    """Register a new service account; returns its key file (JSON) as Google issues it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    with LOCK:
        SERVICE_ACCOUNTS[email] = key.public_key()
    return {"type": "service_account", "project_id": "delta-hf-test", "private_key_id": uuid.uuid4().hex,
            "private_key": pem, "client_email": email, "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}


def _b64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _jwt_ok(token: str) -> bool:
    """A service account's self-signed JWT: signature and expiry check out."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, claims, sig = token.split(".")
        c = json.loads(_b64(claims))
        if json.loads(_b64(head)).get("alg") != "RS256" or c.get("exp", 0) < time.time():
            return False
        with LOCK:
            public = SERVICE_ACCOUNTS.get(c.get("iss"))
        if public is None:
            return False
        public.verify(_b64(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return True
    except (ValueError, InvalidSignature):
        return False


def grant(token: str, buckets: set[str] | None, write: bool, ttl: float):
    with LOCK:
        TOKENS[token] = {"buckets": buckets, "write": write, "expires": time.time() + ttl}


def requests() -> list[dict]:
    with LOCK:
        return list(REQUESTS)


def _etag(obj: dict) -> str:
    return '"' + hashlib.md5(obj["data"]).hexdigest() + '"'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # -- plumbing -----------------------------------------------------------------------
    def send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("content-type", "application/xml" if body else "application/octet-stream")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def fail(self, status: int, code: str, message: str, head: bool = False):
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        self.send(status, body.encode(), head=head)

    def body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def target(self):
        u = urlsplit(self.path)
        parts = u.path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0])
        key = unquote(parts[1]) if len(parts) > 1 else ""
        return bucket, key, {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}

    def authorize(self, bucket: str, write: bool, head: bool = False) -> bool:
        h = self.headers.get("authorization", "")
        bearer = h[len("Bearer "):] if h.startswith("Bearer ") else None
        jwt = bearer is not None and bearer.count(".") == 2 and bearer not in TOKENS
        with LOCK:
            REQUESTS.append({"method": self.command, "bucket": bucket,
                             "auth": "service_account" if jwt else "token" if bearer else "anonymous"})
            tok = TOKENS.get(bearer) if bearer is not None else None
        if jwt:
            if _jwt_ok(bearer):
                return True
            self.fail(401, "AuthenticationRequired", "Invalid service account credentials.", head)
            return False
        if tok is None:
            self.fail(401, "AuthenticationRequired", "Invalid or missing OAuth token.", head)
            return False
        if tok["expires"] < time.time():
            self.fail(401, "AuthenticationRequired", "The OAuth token has expired.", head)
            return False
        if (tok["buckets"] is not None and bucket not in tok["buckets"]) or (write and not tok["write"]):
            self.fail(403, "AccessDenied", "The token does not allow this request.", head)
            return False
        return True

    # -- verbs --------------------------------------------------------------------------
    def do_GET(self, head: bool = False):
        bucket, key, q = self.target()
        if not self.authorize(bucket, write=False, head=head):
            return
        with LOCK:
            objects = BUCKETS.get(bucket)
            if objects is None:
                return self.fail(404, "NoSuchBucket", f"bucket {bucket} does not exist", head)
            if not key:
                return self.send(200, self.listing(objects, q), head=head)
            obj = objects.get(key)
            if obj is None:
                return self.fail(404, "NoSuchKey", f"no object {key}", head)
            data = obj["data"]
            headers = {"etag": _etag(obj), "x-goog-generation": str(obj["generation"]),
                       "last-modified": email.utils.formatdate(obj["mtime"], usegmt=True),
                       "content-type": "application/octet-stream"}
        rng = self.headers.get("range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[len("bytes="):].partition("-")
            n = len(data)
            start, end = (n - int(b), n - 1) if a == "" else (int(a), min(int(b), n - 1) if b else n - 1)
            if start >= n or start > end:
                return self.fail(416, "InvalidRange", "range not satisfiable", head)
            headers["content-range"] = f"bytes {start}-{end}/{n}"
            return self.send(206, data[start:end + 1], headers, head)
        self.send(200, data, headers, head)

    def do_HEAD(self):
        self.do_GET(head=True)

    def listing(self, objects: dict, q: dict) -> bytes:
        prefix, delim, after = q.get("prefix", ""), q.get("delimiter"), q.get("start-after", "")
        contents, prefixes = [], set()
        for key in sorted(objects):
            if not key.startswith(prefix) or key <= after:
                continue
            rest = key[len(prefix):]
            if delim and delim in rest:
                prefixes.add(prefix + rest.split(delim, 1)[0] + delim)
                continue
            o = objects[key]
            mtime = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(o["mtime"]))
            contents.append(f"<Contents><Key>{escape(key)}</Key><Size>{len(o['data'])}</Size>"
                            f"<LastModified>{mtime}</LastModified><ETag>{escape(_etag(o))}</ETag></Contents>")
        cps = "".join(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in sorted(prefixes))
        return ("<?xml version='1.0' encoding='UTF-8'?><ListBucketResult>"
                + "".join(contents) + cps + "</ListBucketResult>").encode()

    def store(self, bucket: str, key: str, data: bytes) -> dict:
        # Called with LOCK held.
        GENERATION[0] += 1
        obj = {"data": data, "generation": GENERATION[0], "mtime": time.time()}
        BUCKETS[bucket][key] = obj
        return {"etag": _etag(obj), "x-goog-generation": str(obj["generation"])}

    def begin_write(self):
        """(bucket, key, query, body) of an authorised write to an existing bucket, or None."""
        bucket, key, q = self.target()
        data = self.body()
        if not self.authorize(bucket, write=True):
            return None
        with LOCK:
            exists = bucket in BUCKETS
        if not exists:
            self.fail(404, "NoSuchBucket", f"bucket {bucket} does not exist")
            return None
        return bucket, key, q, data

    def do_PUT(self):
        if (w := self.begin_write()) is None:
            return
        bucket, key, q, data = w
        with LOCK:
            if "uploadId" in q:
                up = UPLOADS.get(q["uploadId"])
                if up is None:
                    return self.fail(404, "NoSuchUpload", "no such upload")
                up["parts"][int(q["partNumber"])] = data
                return self.send(200, b"", {"etag": '"' + hashlib.md5(data).hexdigest() + '"'})
            src = self.headers.get("x-goog-copy-source")
            if src is not None:
                sb, _, sk = unquote(src).lstrip("/").partition("/")
                obj = BUCKETS.get(sb, {}).get(sk)
                if obj is None:
                    return self.fail(404, "NoSuchKey", f"no object {src}")
                data = obj["data"]
            if self.headers.get("x-goog-if-generation-match") == "0" and key in BUCKETS[bucket]:
                return self.fail(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
            headers = self.store(bucket, key, data)
        self.send(200, b"", headers)

    def do_POST(self):
        if (w := self.begin_write()) is None:
            return
        bucket, key, q, data = w
        with LOCK:
            if "uploads" in q:
                uid = uuid.uuid4().hex
                UPLOADS[uid] = {"bucket": bucket, "key": key, "parts": {}}
                body = (f"<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult><Bucket>{escape(bucket)}"
                        f"</Bucket><Key>{escape(key)}</Key><UploadId>{uid}</UploadId></InitiateMultipartUploadResult>")
                return self.send(200, body.encode())
            if "uploadId" in q:
                up = UPLOADS.pop(q["uploadId"], None)
                if up is None:
                    return self.fail(404, "NoSuchUpload", "no such upload")
                numbers = [int(p.findtext("PartNumber")) for p in ET.fromstring(data).iter("Part")]
                headers = self.store(bucket, key, b"".join(up["parts"][n] for n in numbers))
                body = (f"<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Bucket>{escape(bucket)}"
                        f"</Bucket><Key>{escape(key)}</Key><ETag>{escape(headers['etag'])}</ETag>"
                        "</CompleteMultipartUploadResult>")
                return self.send(200, body.encode(), headers)
        self.fail(400, "InvalidArgument", "unsupported POST")

    def do_DELETE(self):
        bucket, key, q = self.target()
        if not self.authorize(bucket, write=True):
            return
        with LOCK:
            if "uploadId" in q:
                UPLOADS.pop(q["uploadId"], None)
                return self.send(204)
            if key not in BUCKETS.get(bucket, {}):
                return self.fail(404, "NoSuchKey", f"no object {key}")
            del BUCKETS[bucket][key]
        self.send(204)


def start() -> str:
    """Serve on a free loopback port in a daemon thread; returns the base URL."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}"
