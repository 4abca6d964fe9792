#!/usr/bin/env python3
"""Build the Delta tables the tests need that delta-rs cannot write, with the rows a reader must
return, so the suite does not depend on the Spark-written fixtures for them.

Usage:
    build_tables.py KIND DIR

KIND is one of:
  deletion-vectors  a table partitioned by `part` whose files carry inline deletion vectors
                    (storageType "i": a Z85-encoded portable RoaringBitmap array, written here
                    by hand from the Delta protocol, as Spark's DELETE writes them), the table
                    features `deletionVectors`, and a checkpoint;
  column-mapping    a table with `delta.columnMapping.mode = name`: Parquet columns under
                    physical names (`col-<uuid>`, with field ids), a logical name with a space, a
                    nested struct, and a second commit renaming a column (only the log changes);
  checkpoint        a table written with the Python `deltalake` package (appends, a delete that
                    rewrites files), checkpointed, appended to again, and whose commits before
                    the checkpoint are removed (as log cleanup does): readable only through the
                    checkpoint.

It writes `DIR/delta/` (the table) and `DIR/expected/rows.parquet`: exactly the rows reading the
latest version must return (in no particular order), computed here from what was written, never
by reading the table back. The layout is that of the golden fixtures, so
`check_golden.py OUT SPLIT DIR/expected` compares an export with it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

# A fixed instant (2024-05-01T00:00:00Z), so the logs are the same on every run.
T0 = 1714521600000

# --------------------------------------------------------------------------------------------
# Deletion vectors (Delta protocol, "Deletion Vector Format")
# --------------------------------------------------------------------------------------------

Z85_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
# RoaringBitmapArray, "portable" serialization.
PORTABLE_MAGIC = 1681511377
# 32-bit RoaringBitmap portable format without run containers.
SERIAL_COOKIE_NO_RUNCONTAINER = 12346


def z85_encode(data: bytes) -> str:
    """ZeroMQ's Z85 (RFC 32/Z85); the input is zero-padded to a multiple of 4 bytes, as Delta's
    Base85Codec does (the reader keeps `sizeInBytes` bytes)."""
    data = data + b"\0" * (-len(data) % 4)
    out = []
    for i in range(0, len(data), 4):
        v = int.from_bytes(data[i : i + 4], "big")
        chunk = []
        for _ in range(5):
            v, r = divmod(v, 85)
            chunk.append(Z85_CHARS[r])
        out.extend(reversed(chunk))
    return "".join(out)


def roaring32(values: list[int]) -> bytes:
    """A 32-bit RoaringBitmap in the portable format, array containers only."""
    groups: dict[int, list[int]] = {}
    for v in sorted(set(values)):
        assert 0 <= v < 2**32
        groups.setdefault(v >> 16, []).append(v & 0xFFFF)
    assert all(len(g) <= 4096 for g in groups.values()), "array containers only"
    n = len(groups)
    out = struct.pack("<II", SERIAL_COOKIE_NO_RUNCONTAINER, n)
    for key, lows in groups.items():
        out += struct.pack("<HH", key, len(lows) - 1)
    offset = 8 + 4 * n + 4 * n
    for lows in groups.values():
        out += struct.pack("<I", offset)
        offset += 2 * len(lows)
    for lows in groups.values():
        out += struct.pack(f"<{len(lows)}H", *lows)
    return out


def deletion_vector_bytes(rows: list[int]) -> bytes:
    """The serialized deletion vector of these row indexes: the magic number, then the
    RoaringBitmapArray (bitmap count as u64, then per bitmap the high 32 bits and a 32-bit
    portable RoaringBitmap of the low ones)."""
    highs: dict[int, list[int]] = {}
    for r in sorted(set(rows)):
        highs.setdefault(r >> 32, []).append(r & 0xFFFFFFFF)
    out = struct.pack("<I", PORTABLE_MAGIC) + struct.pack("<Q", len(highs))
    for high, lows in highs.items():
        out += struct.pack("<I", high) + roaring32(lows)
    return out


def inline_dv(rows: list[int]) -> dict:
    data = deletion_vector_bytes(rows)
    return {"storageType": "i", "pathOrInlineDv": z85_encode(data), "sizeInBytes": len(data),
            "cardinality": len(set(rows))}


# --------------------------------------------------------------------------------------------
# Writing logs by hand
# --------------------------------------------------------------------------------------------


def commit(table: str, version: int, actions: list[dict]) -> None:
    log = os.path.join(table, "_delta_log")
    os.makedirs(log, exist_ok=True)
    info = {"commitInfo": {"timestamp": T0 + version * 1000, "operation": "WRITE",
                           "engineInfo": "delta-hf tests/python/build_tables.py"}}
    with open(os.path.join(log, f"{version:020d}.json"), "x") as f:
        for a in [info] + actions:
            f.write(json.dumps(a, separators=(",", ":")) + "\n")


def write_parquet(table: str, rel: str, t: pa.Table) -> dict:
    path = os.path.join(table, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(t, path)
    return {"path": rel, "size": os.path.getsize(path), "modificationTime": T0, "dataChange": True,
            "stats": json.dumps({"numRecords": t.num_rows})}


def write_expected(out: str, t: pa.Table) -> None:
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    pq.write_table(t, os.path.join(out, "expected", "rows.parquet"))


def field(name, typ, cm_id=None, physical=None):
    meta = {}
    if cm_id is not None:
        meta = {"delta.columnMapping.id": cm_id, "delta.columnMapping.physicalName": physical}
    return {"name": name, "type": typ, "nullable": True, "metadata": meta}


def metadata(schema_fields, partition_columns=(), configuration=None, table_id="delta-hf-test"):
    return {"metaData": {
        "id": table_id,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": json.dumps({"type": "struct", "fields": schema_fields}),
        "partitionColumns": list(partition_columns),
        "configuration": configuration or {},
        "createdTime": T0,
    }}


# --------------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------------


def build_deletion_vectors(out: str) -> None:
    """Three files in partitions part=0, part=0, part=1 (10 rows each). Commit 1 deletes rows
    0, 3 and 7 of the first file, commit 2 rows 9 of the first file too (its DV replaced by one
    of four rows) and 0..9 of the third but 5; a checkpoint at version 2; commit 3 deletes row 2
    of the second file after the checkpoint."""
    table = os.path.join(out, "delta")
    files = []
    for n, part in enumerate([0, 0, 1]):
        ids = list(range(n * 10, n * 10 + 10))
        data = pa.table({"id": pa.array(ids, pa.int64()), "text": [f"row {i}" for i in ids]})
        rel = f"part={part}/part-{n:05d}-{uuid.UUID(int=n + 1)}.c000.snappy.parquet"
        add = write_parquet(table, rel, data)
        add["partitionValues"] = {"part": str(part)}
        files.append((add, ids, part))
    schema = [field("id", "long"), field("text", "string"), field("part", "integer")]
    commit(table, 0, [
        {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"],
                      "writerFeatures": ["deletionVectors"]}},
        metadata(schema, ["part"], {"delta.enableDeletionVectors": "true"}),
    ] + [{"add": f[0]} for f in files])

    deleted: dict[int, list[int]] = {0: [], 1: [], 2: []}

    def delete(version: int, changes: dict[int, list[int]]) -> None:
        actions = []
        for n, rows in changes.items():
            add, _, _ = files[n]
            old_dv = inline_dv(deleted[n]) if deleted[n] else None
            remove = {"path": add["path"], "deletionTimestamp": T0 + version * 1000, "dataChange": True,
                      "extendedFileMetadata": True, "partitionValues": add["partitionValues"],
                      "size": add["size"]}
            if old_dv:
                remove["deletionVector"] = old_dv
            deleted[n] = sorted(set(deleted[n]) | set(rows))
            actions += [{"remove": remove}, {"add": dict(add, deletionVector=inline_dv(deleted[n]))}]
        commit(table, version, actions)

    delete(1, {0: [0, 3, 7]})
    delete(2, {0: [9], 2: [0, 1, 2, 3, 4, 6, 7, 8, 9]})
    checkpoint(table)
    delete(3, {1: [2]})

    keep = [(i, f"row {i}", part) for n, (_, ids, part) in enumerate(files)
            for k, i in enumerate(ids) if k not in deleted[n]]
    write_expected(out, pa.table({
        "id": pa.array([r[0] for r in keep], pa.int64()),
        "text": [r[1] for r in keep],
        "part": pa.array([r[2] for r in keep], pa.int32()),
    }))


def checkpoint(table: str) -> None:
    """A classic checkpoint of the latest version, written by the Python `deltalake` package."""
    import deltalake

    deltalake.DeltaTable(table).create_checkpoint()


def build_column_mapping(out: str) -> None:
    table = os.path.join(out, "delta")
    phys = {k: f"col-{uuid.UUID(int=i + 100)}" for i, k in enumerate(["id", "review text", "label", "meta", "score"])}
    ids = list(range(12))
    texts = [f"review {i}" for i in ids]
    labels = [["pos", "neg", None][i % 3] for i in ids]
    scores = [i / 4 for i in ids]

    def pfield(name, typ, cm_id):
        return pa.field(phys[name], typ, metadata={b"PARQUET:field_id": str(cm_id).encode()})

    score = pfield("score", pa.float64(), 5)
    pschema = pa.schema([pfield("id", pa.int64(), 1), pfield("review text", pa.string(), 2),
                         pfield("label", pa.string(), 3), pfield("meta", pa.struct([score]), 4)])
    metas = [{phys["score"]: s} for s in scores]
    adds = []
    for n, rng in enumerate([range(0, 7), range(7, 12)]):
        data = pa.table([pa.array([ids[i] for i in rng], pa.int64()), pa.array([texts[i] for i in rng]),
                         pa.array([labels[i] for i in rng]), pa.array([metas[i] for i in rng], pschema[3].type)],
                        schema=pschema)
        adds.append({"add": dict(write_parquet(table, f"{phys['id'][:6]}/part-{n:05d}.parquet", data),
                                 partitionValues={})})

    def schema(label_name):
        return [
            field("id", "long", 1, phys["id"]),
            field("review text", "string", 2, phys["review text"]),
            field(label_name, "string", 3, phys["label"]),
            field("meta", {"type": "struct", "fields": [field("score", "double", 5, phys["score"])]}, 4,
                  phys["meta"]),
        ]

    conf = {"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "5"}
    commit(table, 0, [{"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}},
                      metadata(schema("label"), (), conf)] + adds)
    # ALTER TABLE ... RENAME COLUMN label TO category: only the logical name changes.
    commit(table, 1, [metadata(schema("category"), (), conf)])
    write_expected(out, pa.table({
        "id": pa.array(ids, pa.int64()),
        "review text": texts,
        "category": labels,
        "meta": pa.array([{"score": s} for s in scores], pa.struct([("score", pa.float64())])),
    }))


def build_checkpoint(out: str) -> None:
    import deltalake

    table = os.path.join(out, "delta")
    rows: list[tuple[int, str]] = []

    def append(ids):
        data = pa.table({"id": pa.array(ids, pa.int64()), "text": [f"text {i}" for i in ids]})
        deltalake.write_deltalake(table, data, mode="append")
        rows.extend((i, f"text {i}") for i in ids)

    append(list(range(0, 10)))
    append(list(range(10, 25)))
    deltalake.DeltaTable(table).delete("id % 3 = 0")
    rows[:] = [r for r in rows if r[0] % 3 != 0]
    append(list(range(25, 30)))
    dt = deltalake.DeltaTable(table)
    checkpointed = dt.version()
    dt.create_checkpoint()
    append(list(range(30, 33)))
    log = os.path.join(table, "_delta_log")
    for v in range(checkpointed):
        os.remove(os.path.join(log, f"{v:020d}.json"))
    assert os.path.exists(os.path.join(log, f"{checkpointed:020d}.checkpoint.parquet"))
    write_expected(out, pa.table({"id": pa.array([r[0] for r in rows], pa.int64()),
                                  "text": [r[1] for r in rows]}))


KINDS = {
    "deletion-vectors": build_deletion_vectors,
    "column-mapping": build_column_mapping,
    "checkpoint": build_checkpoint,
}


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: build_tables.py {{{'|'.join(KINDS)}}} DIR")
    KINDS[sys.argv[1]](sys.argv[2])
    sys.stdout.flush()
    # The deltalake package can abort at interpreter shutdown after its work is done.
    os._exit(0)


if __name__ == "__main__":
    main()
