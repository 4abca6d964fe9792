#!/usr/bin/env python3
"""Compare one split of a `datasets` save_to_disk directory with Spark's expected rows.

Usage:
    check_golden.py DATASET_DIR SPLIT EXPECTED_DIR

DATASET_DIR   a directory written by delta-hf (the `DatasetDict.save_to_disk` layout).
SPLIT         the split to check, e.g. `train`.
EXPECTED_DIR  a directory of Parquet files holding the expected rows (Spark output, e.g. a
              golden fixture's `expected/`). Every `*.parquet` below it is read, recursively;
              files and directories whose names start with `_` or `.` are skipped.

What it checks, with the real consumer libraries:
  * `datasets.load_from_disk(DATASET_DIR)` opens and returns a DatasetDict with SPLIT in it;
  * the split and the expected files have the same set of column names (order free);
  * each column has the same *kind* of type on both sides (int, float, decimal, string, binary,
    date, timestamp with / without time zone, struct, list, map, ...);
  * the two hold the same rows as multisets (row order is free), values compared by meaning:
      - timestamps as microseconds since the epoch, whatever the unit (s/ms/us/ns; ns values are
        floored to us); with a time zone = UTC instant, without = naive wall-clock time;
      - decimals as decimal.Decimal (1.50 == 1.5), ints of any width by value;
      - floats exactly, NaN == NaN; when either side is float32 (float16) at a position, both
        sides are rounded to float32 (float16) there first;
      - dates as dates, binary as bytes, strings as str, nulls equal nulls;
      - structs as {field name: value}, lists element by element;
      - an Arrow map on the expected side matches, on the dataset side, a list of structs with
        exactly the fields `key` and `value` (delta-hf's documented conversion, since `datasets`
        has no map feature); both are compared as multisets of (key, value) pairs, recursively
        (maps nested in lists, structs and map values too).

Exit status: 0 all match (one `ok: ...` line on stdout), 1 a difference (details on stderr),
2 bad usage or an unusable EXPECTED_DIR.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import math
import os
import struct
import sys
import traceback

MAX_EXAMPLES = 5
MAX_SHOW = 160  # characters of one shown value / row

# --------------------------------------------------------------------------------------------
# Canonical values: hashable, with `==` meaning "same value" and a readable repr.
# --------------------------------------------------------------------------------------------


class _NaN:
    """The one NaN value (NaN == NaN here, unlike float('nan'))."""

    def __eq__(self, other):
        return isinstance(other, _NaN)

    def __hash__(self):
        return hash("NaN")

    def __repr__(self):
        return "NaN"


NAN = _NaN()
_EPOCH = datetime.datetime(1970, 1, 1)


def _fmt_micros(us: int) -> str:
    try:
        return (_EPOCH + datetime.timedelta(microseconds=us)).isoformat()
    except OverflowError:
        return f"{us}us"


class Instant(int):
    """Timestamp with a time zone: microseconds since 1970-01-01T00:00:00Z."""

    def __repr__(self):
        return _fmt_micros(int(self)) + "Z"


class Naive(int):
    """Timestamp without time zone: wall-clock microseconds since 1970-01-01T00:00:00."""

    def __repr__(self):
        return _fmt_micros(int(self))


class Date(datetime.date):
    def __repr__(self):
        return self.isoformat()


class F32(float):
    """A float rounded to float32 (or float16), shown with the fewest digits that round-trip."""

    bits = 32

    def __repr__(self):
        if math.isinf(self):
            return super().__repr__()
        for p in range(1, 18):
            s = f"{float(self):.{p}g}"
            if _round_float(float(s), self.bits) == float(self):
                return s if any(ch in s for ch in ".en") else s + ".0"
        return super().__repr__()


class F16(F32):
    bits = 16


class Dec(decimal.Decimal):
    def __repr__(self):
        return str(self)


class Struct(tuple):
    """Sorted ((field name, value), ...)."""

    def __repr__(self):
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in self) + "}"


class List(tuple):
    def __repr__(self):
        return "[" + ", ".join(repr(v) for v in self) + "]"


class Map(frozenset):
    """Multiset of (key, value) pairs, stored as frozenset(((key, value), count), ...)."""

    def __repr__(self):
        parts = []
        for (k, v), n in sorted(self, key=repr):
            parts.extend([f"{k!r} => {v!r}"] * n)
        return "map{" + ", ".join(parts) + "}"


def _trunc(s: str, limit: int = MAX_SHOW) -> str:
    return s if len(s) <= limit else s[: limit - 3] + "..."


def show(v) -> str:
    return _trunc(repr(v))


# --------------------------------------------------------------------------------------------
# Types: kind signatures and float precision per position
# --------------------------------------------------------------------------------------------


def _is_kv_list(pa, t) -> bool:
    """list<struct<key, value>> (exactly these two fields): how a map is stored on the dataset side."""
    if not _is_list_like(pa, t):
        return False
    vt = t.value_type
    return pa.types.is_struct(vt) and sorted(vt.field(i).name for i in range(vt.num_fields)) == ["key", "value"]


def _is_list_view(pa, t) -> bool:
    f = getattr(pa.types, "is_list_view", None)
    g = getattr(pa.types, "is_large_list_view", None)
    return bool((f and f(t)) or (g and g(t)))


def _is_list_like(pa, t) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or _is_list_view(pa, t))


def map_paths(pa, t, path=(), out=None) -> set:
    """Positions (paths) at which type `t` holds an Arrow map."""
    if out is None:
        out = set()
    if pa.types.is_dictionary(t):
        return map_paths(pa, t.value_type, path, out)
    if pa.types.is_map(t):
        out.add(path)
        map_paths(pa, t.key_type, path + ("[]", "key"), out)
        map_paths(pa, t.item_type, path + ("[]", "value"), out)
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            f = t.field(i)
            map_paths(pa, f.type, path + (f.name,), out)
    elif _is_list_like(pa, t):
        map_paths(pa, t.value_type, path + ("[]",), out)
    return out


def _struct_field(t, name):
    for i in range(t.num_fields):
        if t.field(i).name == name:
            return t.field(i)
    raise KeyError(name)


def kind(pa, t, maps: set, path=()):
    """A hashable description of what a type means, ignoring widths/units/encodings.

    `maps` are positions where the other side has a map: a list<struct<key, value>> there
    counts as a map.
    """
    T = pa.types
    if T.is_dictionary(t):
        return kind(pa, t.value_type, maps, path)
    if T.is_map(t):
        return ("map", kind(pa, t.key_type, maps, path + ("[]", "key")),
                kind(pa, t.item_type, maps, path + ("[]", "value")))
    if path in maps and _is_kv_list(pa, t):
        vt = t.value_type
        return ("map", kind(pa, _struct_field(vt, "key").type, maps, path + ("[]", "key")),
                kind(pa, _struct_field(vt, "value").type, maps, path + ("[]", "value")))
    if T.is_struct(t):
        return ("struct", tuple(sorted(
            (t.field(i).name, kind(pa, t.field(i).type, maps, path + (t.field(i).name,)))
            for i in range(t.num_fields))))
    if _is_list_like(pa, t):
        return ("list", kind(pa, t.value_type, maps, path + ("[]",)))
    if T.is_boolean(t):
        return "bool"
    if T.is_integer(t):
        return "int"
    if T.is_floating(t):
        return "float"
    if T.is_decimal(t):
        return "decimal"
    if T.is_string(t) or T.is_large_string(t) or (hasattr(T, "is_string_view") and T.is_string_view(t)):
        return "string"
    if (T.is_binary(t) or T.is_large_binary(t) or T.is_fixed_size_binary(t)
            or (hasattr(T, "is_binary_view") and T.is_binary_view(t))):
        return "binary"
    if T.is_date(t):
        return "date"
    if T.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if T.is_time(t):
        return "time"
    if T.is_duration(t):
        return "duration"
    if T.is_null(t):
        return "null"
    return str(t)


def float_bits(pa, t, maps: set, path=(), out=None) -> dict:
    """{path: bits} for every float position of `t` (maps and kv-lists mapped to the same paths)."""
    if out is None:
        out = {}
    T = pa.types
    if T.is_dictionary(t):
        return float_bits(pa, t.value_type, maps, path, out)
    if T.is_map(t):
        float_bits(pa, t.key_type, maps, path + ("[]", "key"), out)
        float_bits(pa, t.item_type, maps, path + ("[]", "value"), out)
    elif T.is_struct(t):
        for i in range(t.num_fields):
            f = t.field(i)
            float_bits(pa, f.type, maps, path + (f.name,), out)
    elif _is_list_like(pa, t):
        float_bits(pa, t.value_type, maps, path + ("[]",), out)
    elif T.is_floating(t):
        out[path] = t.bit_width
    return out


# --------------------------------------------------------------------------------------------
# Arrow arrays -> canonical Python values
# --------------------------------------------------------------------------------------------

_TS_TO_US = {"s": (1_000_000, 1), "ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}


def _round_float(x: float, bits: int) -> float:
    """`x` rounded to a float of `bits` bits (16, 32 or 64), as a Python float."""
    fmt = {16: "<e", 32: "<f"}.get(bits)
    if fmt is None or math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack(fmt, struct.pack(fmt, x))[0]
    except OverflowError:  # beyond the narrow type's range: rounds to +-inf
        return math.copysign(math.inf, x)


def _canon_float(x, bits: int):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return NAN
    if bits == 32:
        return F32(_round_float(x, 32))
    if bits == 16:
        return F16(_round_float(x, 16))
    return x


class Converter:
    def __init__(self, pa, maps: set, bits: dict):
        self.pa = pa
        self.maps = maps  # positions that are maps (on the expected side)
        self.bits = bits  # positions -> float bit width to compare at

    def convert(self, arr, path=()) -> list:
        """Canonical Python values of a pyarrow Array or ChunkedArray."""
        pa = self.pa
        if isinstance(arr, pa.ChunkedArray):
            out = []
            for chunk in arr.chunks:
                out.extend(self.convert(chunk, path))
            return out
        T = pa.types
        t = arr.type
        if T.is_dictionary(t):
            return self.convert(arr.dictionary_decode(), path)
        valid = arr.is_valid().to_pylist()
        if T.is_map(t) or (path in self.maps and _is_kv_list(pa, t)):
            return self._maps(arr, path, valid)
        if T.is_struct(t):
            children = arr.flatten()  # honours slicing offsets
            names = [t.field(i).name for i in range(t.num_fields)]
            cols = [self.convert(c, path + (n,)) for n, c in zip(names, children)]
            order = sorted(range(len(names)), key=lambda i: names[i])
            return [Struct((names[i], cols[i][r]) for i in order) if valid[r] else None
                    for r in range(len(arr))]
        if _is_list_like(pa, t):
            return self._lists(arr, path, valid)
        if T.is_timestamp(t):
            mul, div = _TS_TO_US[t.unit]
            cls = Instant if t.tz else Naive
            raw = arr.view(pa.int64()).to_pylist()
            return [None if v is None else cls((v * mul) // div) for v in raw]
        if T.is_floating(t):
            bits = self.bits.get(path, 64)
            return [_canon_float(v, bits) for v in arr.to_pylist()]
        if T.is_decimal(t):
            return [None if v is None else Dec(v) for v in arr.to_pylist()]
        if T.is_time(t) or T.is_duration(t):
            unit = t.unit
            mul, div = _TS_TO_US[unit]
            width = pa.int32() if t.bit_width == 32 else pa.int64()
            raw = arr.view(width).to_pylist()
            return [None if v is None else (v * mul) // div for v in raw]
        vals = arr.to_pylist()
        if T.is_boolean(t):
            return vals
        if T.is_integer(t):
            return [None if v is None else int(v) for v in vals]
        if T.is_date(t):
            return [None if v is None else Date(v.year, v.month, v.day) for v in vals]
        return [None if v is None else (bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else v)
                for v in vals]

    def _offsets_values(self, arr):
        """(starts, sizes, values) of a list-like array; starts are absolute into `values`."""
        pa = self.pa
        t = arr.type
        if pa.types.is_fixed_size_list(t):
            n = t.list_size
            return [(arr.offset + r) * n for r in range(len(arr))], [n] * len(arr), arr.values
        if _is_list_view(pa, t):
            return arr.offsets.to_pylist(), arr.sizes.to_pylist(), arr.values
        offs = arr.offsets.to_pylist()
        return offs[:-1], [offs[i + 1] - offs[i] for i in range(len(offs) - 1)], arr.values

    def _lists(self, arr, path, valid):
        starts, sizes, values = self._offsets_values(arr)
        conv = self.convert(values, path + ("[]",))
        return [List(conv[s:s + n]) if valid[r] else None
                for r, (s, n) in enumerate(zip(starts, sizes))]

    def _maps(self, arr, path, valid):
        starts, sizes, entries = self._offsets_values(arr)
        children = entries.flatten()
        if self.pa.types.is_map(arr.type):  # entries are (key, value) by position
            key_arr, value_arr = children[0], children[1]
        else:  # list<struct<key, value>>, by field name
            et = entries.type
            by_name = {et.field(i).name: c for i, c in enumerate(children)}
            key_arr, value_arr = by_name["key"], by_name["value"]
        keys = self.convert(key_arr, path + ("[]", "key"))
        vals = self.convert(value_arr, path + ("[]", "value"))
        out = []
        for r, (s, n) in enumerate(zip(starts, sizes)):
            if not valid[r]:
                out.append(None)
                continue
            pairs = collections.Counter(zip(keys[s:s + n], vals[s:s + n]))
            out.append(Map(pairs.items()))
        return out


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class UsageError(Exception):
    pass


class CheckFailure(Exception):
    pass


def load_split(dataset_dir: str, split: str):
    import datasets

    datasets.disable_progress_bars()
    try:
        dd = datasets.load_from_disk(dataset_dir)
    except Exception as e:  # noqa: BLE001 - report whatever the consumer library says
        raise CheckFailure(f"datasets.load_from_disk({dataset_dir!r}) failed: {type(e).__name__}: {e}")
    if not isinstance(dd, datasets.DatasetDict):
        raise CheckFailure(f"load_from_disk({dataset_dir!r}) returned a {type(dd).__name__}, "
                           f"expected a DatasetDict (a dataset_dict.json with splits)")
    if split not in dd:
        raise CheckFailure(f"split {split!r} not in the DatasetDict; it has {list(dd.keys())}")
    ds = dd[split]
    # with_format("arrow")[:] honours an indices mapping, if any; `ds.data.table` would not.
    table = ds.with_format("arrow")[:]
    if table.num_rows != ds.num_rows:
        raise CheckFailure(f"split {split!r}: num_rows is {ds.num_rows} but its Arrow table has {table.num_rows} rows")
    return table


def load_expected(expected_dir: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not os.path.isdir(expected_dir):
        raise UsageError(f"EXPECTED_DIR {expected_dir!r} is not a directory")
    files = []
    for root, dirs, names in os.walk(expected_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        files.extend(os.path.join(root, n) for n in sorted(names)
                     if n.endswith(".parquet") and not n.startswith(("_", ".")))
    if not files:
        raise UsageError(f"no *.parquet files under EXPECTED_DIR {expected_dir!r}")
    tables = []
    for f in files:
        try:
            # INT96 as microseconds: nanoseconds would overflow outside 1677..2262.
            tables.append(pq.read_table(f, coerce_int96_timestamp_unit="us"))
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"cannot read expected file {f!r}: {e}")
    try:
        return pa.concat_tables(tables, promote_options="permissive"), len(files)
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"expected files under {expected_dir!r} have incompatible schemas: {e}")


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _row_repr(cols, row) -> str:
    return _trunc("{" + ", ".join(f"{c}: {v!r}" for c, v in zip(cols, row)) + "}", 2 * MAX_SHOW)


def compare(got_table, exp_table, split: str, expected_dir: str):
    import pyarrow as pa

    problems = []
    got_cols = set(got_table.column_names)
    exp_cols = set(exp_table.column_names)
    for name, tbl in (("dataset", got_table), ("expected", exp_table)):
        dup = [c for c, n in collections.Counter(tbl.column_names).items() if n > 1]
        if dup:
            problems.append(f"{name} side has duplicate column names: {dup}")
    missing = sorted(exp_cols - got_cols)
    extra = sorted(got_cols - exp_cols)
    if missing:
        problems.append(f"columns missing from the dataset: {missing}")
    if extra:
        problems.append(f"columns in the dataset but not expected: {extra}")
    cols = sorted(got_cols & exp_cols)

    # Types: kinds must agree; collect map positions and float widths per column.
    value_cols = []
    for c in cols:
        gt, et = got_table.schema.field(c).type, exp_table.schema.field(c).type
        maps = map_paths(pa, et)
        gk, ek = kind(pa, gt, maps), kind(pa, et, maps)
        if gk != ek and "null" not in (gk, ek):
            hint = ""
            if "timestamp" in str(gk) and "timestamp" in str(ek):
                hint = " (a timestamp with a time zone is a UTC instant, one without is wall-clock time)"
            if pa.types.is_map(et):
                hint = " (a map must be stored as a list of {key, value} structs)"
            problems.append(f"column {c!r}: type {gt} does not mean the same as expected {et}{hint}")
            continue
        value_cols.append(c)

    if got_table.num_rows != exp_table.num_rows:
        problems.append(f"row count: dataset has {got_table.num_rows}, expected {exp_table.num_rows}")

    # Values, as multisets of rows over the columns whose types agree.
    got_vals, exp_vals = [], []
    for c in value_cols:
        gt, et = got_table.schema.field(c).type, exp_table.schema.field(c).type
        maps = map_paths(pa, et)
        gb, eb = float_bits(pa, gt, maps), float_bits(pa, et, maps)
        bits = {p: min(gb.get(p, 64), eb.get(p, 64)) for p in set(gb) | set(eb)}
        conv = Converter(pa, maps, bits)
        got_vals.append(conv.convert(got_table.column(c)))
        exp_vals.append(conv.convert(exp_table.column(c)))
    got_rows = collections.Counter(zip(*got_vals)) if value_cols else collections.Counter()
    exp_rows = collections.Counter(zip(*exp_vals)) if value_cols else collections.Counter()
    if not value_cols:
        got_rows[()] = got_table.num_rows
        exp_rows[()] = exp_table.num_rows
    only_exp = exp_rows - got_rows
    only_got = got_rows - exp_rows
    if only_exp or only_got:
        left_out = sorted((set(cols) - set(value_cols)) | (got_cols ^ exp_cols))
        problems.append(_describe_row_diff(value_cols, only_exp, only_got, left_out))

    if problems:
        raise CheckFailure(f"split {split!r} differs from {expected_dir}:\n  - " + "\n  - ".join(problems))
    return len(cols)


def _describe_row_diff(cols, only_exp, only_got, left_out) -> str:
    n_exp, n_got = sum(only_exp.values()), sum(only_got.values())
    note = f" (compared without the mismatched columns {left_out})" if left_out else ""
    lines = [f"{n_exp} expected row(s) not found in the dataset, {n_got} dataset row(s) not expected{note}"]
    exp_list = sorted(only_exp.elements(), key=repr)
    got_list = sorted(only_got.elements(), key=repr)
    # Pair each missing row with the most similar unexpected row to name the differing cells.
    used = set()
    shown = 0
    for er in exp_list[:MAX_EXAMPLES]:
        best, best_score = None, -1
        for j, gr in enumerate(got_list[:2000]):
            if j in used:
                continue
            score = sum(1 for a, b in zip(er, gr) if a == b)
            if score > best_score:
                best, best_score = j, score
        if best is not None and best_score > 0 and 2 * best_score >= len(cols):
            used.add(best)
            gr = got_list[best]
            diffs = [f"{c}: expected {show(a)}, got {show(b)}" for c, a, b in zip(cols, er, gr) if a != b]
            lines.append(f"    row {_row_repr(cols, er)}")
            lines.append("      differs in " + "; ".join(diffs[:MAX_EXAMPLES])
                         + (f"; ... ({len(diffs)} columns)" if len(diffs) > MAX_EXAMPLES else ""))
        else:
            lines.append(f"    missing from dataset: {_row_repr(cols, er)}")
        shown += 1
    for j, gr in enumerate(got_list):
        if shown >= 2 * MAX_EXAMPLES:
            break
        if j in used:
            continue
        lines.append(f"    not expected: {_row_repr(cols, gr)}")
        shown += 1
    if n_exp > MAX_EXAMPLES or n_got - len(used) > MAX_EXAMPLES:
        lines.append("    ...")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Check one split of a datasets save_to_disk directory against expected Parquet rows.")
    parser.add_argument("dataset_dir", metavar="DATASET_DIR")
    parser.add_argument("split", metavar="SPLIT")
    parser.add_argument("expected_dir", metavar="EXPECTED_DIR")
    args = parser.parse_args(argv)  # exits 2 on bad usage
    try:
        exp_table, n_files = load_expected(args.expected_dir)
        got_table = load_split(args.dataset_dir, args.split)
        n_cols = compare(got_table, exp_table, args.split, args.expected_dir)
    except UsageError as e:
        print(f"check_golden: {e}", file=sys.stderr)
        return 2
    except CheckFailure as e:
        print(f"check_golden: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"ok: {args.split} {got_table.num_rows} rows, {n_cols} columns match {args.expected_dir}")
    return 0


def _hard_exit(code: int):
    """Exit without interpreter teardown. pyarrow/deltalake background threads can abort the
    process at shutdown ("terminate called without an active exception", exit 134) after all the
    work is done, a few runs in a hundred (see delta-io/delta-rs#2184, apache/arrow#34314)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        _code = main()
    except SystemExit:  # argparse: usage errors (2) and --help (0); nothing heavy has run yet
        raise
    except BaseException:  # noqa: BLE001 - an unexpected crash still counts as a failed check
        traceback.print_exc()
        _hard_exit(1)
    _hard_exit(_code)
