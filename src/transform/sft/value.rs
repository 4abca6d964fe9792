//! Arrow cells → the values a chat template sees, as `datasets` hands them to Python: structs
//! are dicts in field order (null fields are `None`), lists are lists, integers and floats stay
//! numbers, strings stay strings (a JSON string inside a struct is not parsed). A column of JSON
//! text is parsed keeping the key order.

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::datatypes::{DataType, Int8Type, Int16Type, Int32Type, Int64Type};
use deltalake::arrow::datatypes::{Float16Type, Float32Type, Float64Type};
use deltalake::arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use minijinja::value::Value;

/// The value of `array[row]` (None for a null).
pub fn cell(array: &ArrayRef, row: usize) -> Value {
    cell_of(array.as_ref(), row)
}

fn cell_of(a: &dyn Array, row: usize) -> Value {
    if a.is_null(row) {
        return Value::from(());
    }
    match a.data_type() {
        DataType::Null => Value::from(()),
        DataType::Boolean => Value::from(a.as_boolean().value(row)),
        DataType::Int8 => Value::from(a.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(a.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(a.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(a.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(a.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(a.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(a.as_primitive::<UInt64Type>().value(row)),
        DataType::Float16 => Value::from(f64::from(a.as_primitive::<Float16Type>().value(row))),
        DataType::Float32 => Value::from(f64::from(a.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => Value::from(a.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::from(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(a.as_string_view().value(row)),
        DataType::List(_) => list(a.as_list::<i32>().value(row).as_ref()),
        DataType::LargeList(_) => list(a.as_list::<i64>().value(row).as_ref()),
        DataType::FixedSizeList(_, _) => list(a.as_fixed_size_list().value(row).as_ref()),
        DataType::Struct(_) => {
            let s = a.as_struct();
            Value::from_iter(
                s.fields().iter().zip(s.columns()).map(|(f, c)| (f.name().clone(), cell_of(c.as_ref(), row))),
            )
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(row);
            let (k, v) = (entries.column(0), entries.column(1));
            Value::from_iter((0..entries.len()).map(|i| (cell_of(k.as_ref(), i), cell_of(v.as_ref(), i))))
        }
        _ => {
            let f = ArrayFormatter::try_new(a, &FormatOptions::default());
            match f {
                Ok(f) => Value::from(f.value(row).to_string()),
                Err(_) => Value::from(()),
            }
        }
    }
}

fn list(values: &dyn Array) -> Value {
    Value::from((0..values.len()).map(|i| cell_of(values, i)).collect::<Vec<_>>())
}

/// A JSON text as a value, keys in their order.
pub fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(text).map_err(|e| format!("not valid JSON: {e}"))
}

/// Whether an Arrow type holds text.
pub fn is_string(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Whether an Arrow type is a list (of anything).
pub fn is_list(dt: &DataType) -> bool {
    matches!(dt, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _))
}

/// The text of a string cell.
pub fn string_at(a: &ArrayRef, row: usize) -> Option<&str> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(a.as_string_view().value(row)),
        _ => None,
    }
}
