//! The canonical string form of a value: what split keys and duplicate texts are hashed from,
//! written down so that anyone can recompute a row's split (README "Splits from one table").
//!
//! - null: U+0000 (one NUL character);
//! - strings: as they are;
//! - booleans: `true` / `false`;
//! - integers: decimal, `-` for negatives, no leading zeros;
//! - floats: Python's `repr(float(x))` (the shortest round-trip digits; float32 is widened to
//!   float64 first): `1.0`, `0.1`, `1e-05`, `1e+16`, `nan`, `inf`, `-inf`, `-0.0`;
//! - decimals: the digits with the column's scale (`12.50`), as Python's `str(Decimal)`;
//! - dates: `YYYY-MM-DD`; timestamps: microseconds since the Unix epoch as an integer;
//! - binary: lowercase hex;
//! - lists: the elements' forms joined by U+001E; structs: the fields' forms in field order
//!   joined by U+001D.

use std::fmt::Write as _;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use deltalake::arrow::util::display::array_value_to_string;

/// The separator of the key columns' forms (U+001F, unit separator).
pub const KEY_SEPARATOR: char = '\u{1f}';
const NULL: char = '\u{0}';
const LIST_SEPARATOR: char = '\u{1e}';
const FIELD_SEPARATOR: char = '\u{1d}';

/// Whether values of type `t` have a canonical form (checked before any row is read).
pub fn supported(t: &DataType) -> bool {
    match t {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..)
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => true,
        DataType::List(f) | DataType::LargeList(f) => supported(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| supported(f.data_type())),
        DataType::Dictionary(_, v) => supported(v),
        _ => false,
    }
}

/// Append row `i` of `a` in its canonical form to `out`.
pub fn write(a: &dyn Array, i: usize, out: &mut String) {
    if a.is_null(i) {
        out.push(NULL);
        return;
    }
    match a.data_type() {
        DataType::Utf8 => out.push_str(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => out.push_str(a.as_string::<i64>().value(i)),
        DataType::Utf8View => out.push_str(a.as_string_view().value(i)),
        DataType::Boolean => out.push_str(if a.as_boolean().value(i) { "true" } else { "false" }),
        DataType::Int8 => push_int(out, a.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => push_int(out, a.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => push_int(out, a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => push_int(out, a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => push_int(out, a.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => push_int(out, a.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => push_int(out, a.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => push_int(out, a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => python_float_repr(f64::from(a.as_primitive::<Float32Type>().value(i)), out),
        DataType::Float64 => python_float_repr(a.as_primitive::<Float64Type>().value(i), out),
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(i);
            match chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0) {
                Some(d) => {
                    let _ = write!(out, "{}", d.format("%Y-%m-%d"));
                }
                None => push_int(out, days),
            }
        }
        DataType::Timestamp(unit, _) => {
            let micros = match unit {
                TimeUnit::Second => {
                    a.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1_000_000)
                }
                TimeUnit::Millisecond => {
                    a.as_primitive::<TimestampMillisecondType>().value(i).saturating_mul(1000)
                }
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i).div_euclid(1000),
            };
            push_int(out, micros)
        }
        DataType::Binary => push_hex(out, a.as_binary::<i32>().value(i)),
        DataType::LargeBinary => push_hex(out, a.as_binary::<i64>().value(i)),
        DataType::BinaryView => push_hex(out, a.as_binary_view().value(i)),
        DataType::List(_) => push_list(out, a.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => push_list(out, a.as_list::<i64>().value(i).as_ref()),
        DataType::Struct(_) => {
            for (n, c) in a.as_struct().columns().iter().enumerate() {
                if n > 0 {
                    out.push(FIELD_SEPARATOR);
                }
                write(c.as_ref(), i, out);
            }
        }
        DataType::Dictionary(..) => {
            let d = a.as_any_dictionary();
            let k = d.normalized_keys()[i];
            write(d.values().as_ref(), k, out);
        }
        // Decimals (and any other type `supported` lets through) as Arrow displays them.
        _ => out.push_str(&array_value_to_string(a, i).unwrap_or_default()),
    }
}

fn push_int(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn push_list(out: &mut String, values: &dyn Array) {
    for j in 0..values.len() {
        if j > 0 {
            out.push(LIST_SEPARATOR);
        }
        write(values, j, out);
    }
}

/// Python's `repr(x)` of a float: the shortest digits that round-trip, in fixed notation when
/// the decimal exponent is in -5 < e < 16 (with `.0` for whole numbers), else `d.ddde±XX`.
pub fn python_float_repr(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits too: `-1.2345e-7`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if !(-5 < exp && exp < 16) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        python_float_repr(x, &mut s);
        s
    }

    #[test]
    fn floats_as_python_repr() {
        // Each right-hand side is Python 3's repr() of the left.
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (123456.789, "123456.789"),
            (1.2345e20, "1.2345e+20"),
            (f64::from(0.1f32), "0.10000000149011612"),
            (2.5, "2.5"),
            (-3.75e-300, "-3.75e-300"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(x), want, "{x}");
        }
    }
}
