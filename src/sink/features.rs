//! Arrow types → what `datasets` can load, and the `features` JSON that describes them.
//!
//! `datasets` accepts a subset of Arrow (see `shared/docs/hf-datasets-format.md`). Every batch
//! written goes through [`normalize_batch`] so that each column has exactly one type across
//! shards and splits:
//! - `Utf8View`/`LargeUtf8` → `Utf8`, `BinaryView`/`LargeBinary`/`FixedSizeBinary` → `Binary`
//!   (batches are kept far below 2 GiB, so 32-bit offsets never overflow);
//! - dictionaries → their value type;
//! - `Map<K, V>` → `List<Struct<key: K, value: V>>` (Arrow maps have no `datasets` feature;
//!   entries keep their order);
//! - list item fields are named `item` and every field is nullable, as pyarrow writes them.
//!
//! [`features_json`] then gives the `datasets` feature for every column; the label column of a
//! labelled export is overridden with a `ClassLabel` (or a `Sequence` of one, for a list of ids).
//!
//! Lists are spelled so that every `datasets` release from 2.19 through 5.x loads them with the
//! same features and values: `{"feature": ..., "_type": "Sequence"}` for a list of values (4.x
//! and later read it as `List`; 3.x and older have no `List` and refuse it), with `"length": n`
//! for a fixed-size list, and a JSON list holding one object, `[{...}]`, for a list of structs (a
//! `Sequence` of a dict means a struct of lists before 4.0). A fixed-size list of structs has no
//! such spelling and is written as a plain list of structs.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, ListArray, MapArray, RecordBatch, StructArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The output type for an input type.
pub fn normalize_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary | DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::Dictionary(_, v) => normalize_type(v),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::LargeListView(f) => {
            DataType::List(item_field(normalize_type(f.data_type())))
        }
        DataType::FixedSizeList(f, _) if matches!(normalize_type(f.data_type()), DataType::Struct(_)) => {
            DataType::List(item_field(normalize_type(f.data_type())))
        }
        DataType::FixedSizeList(f, n) => {
            DataType::FixedSizeList(item_field(normalize_type(f.data_type())), *n)
        }
        DataType::Struct(fields) => DataType::Struct(normalize_fields(fields)),
        DataType::Map(entries, _) => {
            let (k, v) = map_key_value(entries);
            DataType::List(item_field(DataType::Struct(Fields::from(vec![
                Field::new("key", normalize_type(k.data_type()), true),
                Field::new("value", normalize_type(v.data_type()), true),
            ]))))
        }
        DataType::RunEndEncoded(_, v) => normalize_type(v.data_type()),
        other => other.clone(),
    }
}

fn item_field(dt: DataType) -> FieldRef {
    Arc::new(Field::new("item", dt, true))
}

fn normalize_fields(fields: &Fields) -> Fields {
    fields.iter().map(|f| Field::new(f.name(), normalize_type(f.data_type()), true)).collect()
}

fn map_key_value(entries: &FieldRef) -> (FieldRef, FieldRef) {
    match entries.data_type() {
        DataType::Struct(kv) if kv.len() == 2 => (kv[0].clone(), kv[1].clone()),
        _ => unreachable!("Arrow map entries are always a two-field struct"),
    }
}

/// The output schema (all fields nullable, normalised types) for an input schema.
pub fn normalize_schema(schema: &Schema) -> Schema {
    Schema::new(normalize_fields(schema.fields()))
}

/// Convert one array to `target` (a type produced by [`normalize_type`]).
pub fn normalize_array(array: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    match (array.data_type(), target) {
        (DataType::Map(_, _), DataType::List(item)) => {
            let map = array.as_any().downcast_ref::<MapArray>().expect("map array");
            let entries = map.entries();
            let DataType::Struct(kv_fields) = item.data_type() else {
                return Err(Error::Internal("map target is not a list of structs".into()));
            };
            let keys = normalize_array(entries.column(0), kv_fields[0].data_type())?;
            let values = normalize_array(entries.column(1), kv_fields[1].data_type())?;
            let kv = StructArray::try_new(kv_fields.clone(), vec![keys, values], entries.nulls().cloned())?;
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                map.offsets().clone(),
                Arc::new(kv),
                map.nulls().cloned(),
            )?))
        }
        (DataType::Struct(_), DataType::Struct(target_fields)) => {
            let s = array.as_any().downcast_ref::<StructArray>().expect("struct array");
            let columns = s
                .columns()
                .iter()
                .zip(target_fields.iter())
                .map(|(c, f)| normalize_array(c, f.data_type()))
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StructArray::try_new(target_fields.clone(), columns, s.nulls().cloned())?))
        }
        (DataType::List(_), DataType::List(item)) if contains_map(array.data_type()) => {
            let l = array.as_any().downcast_ref::<ListArray>().expect("list array");
            let values = normalize_array(l.values(), item.data_type())?;
            Ok(Arc::new(ListArray::try_new(item.clone(), l.offsets().clone(), values, l.nulls().cloned())?))
        }
        (DataType::LargeList(_), DataType::List(_)) if contains_map(array.data_type()) => {
            let as_list = cast(
                array,
                &DataType::List(Arc::new(Field::new(
                    "item",
                    match array.data_type() {
                        DataType::LargeList(f) => f.data_type().clone(),
                        _ => unreachable!(),
                    },
                    true,
                ))),
            )?;
            normalize_array(&as_list, target)
        }
        _ => Ok(cast(array, target)?),
    }
}

fn contains_map(dt: &DataType) -> bool {
    match dt {
        DataType::Map(_, _) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            contains_map(f.data_type())
        }
        DataType::Struct(fs) => fs.iter().any(|f| contains_map(f.data_type())),
        _ => false,
    }
}

/// Convert a batch to `schema` (from [`normalize_schema`], possibly with metadata).
pub fn normalize_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| normalize_array(c, f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The `datasets` feature JSON of a normalised type.
pub fn feature_of(dt: &DataType) -> Result<Value> {
    let value = |dtype: String| Ok(json!({"dtype": dtype, "_type": "Value"}));
    match dt {
        DataType::Null => value("null".into()),
        DataType::Boolean => value("bool".into()),
        DataType::Int8 => value("int8".into()),
        DataType::Int16 => value("int16".into()),
        DataType::Int32 => value("int32".into()),
        DataType::Int64 => value("int64".into()),
        DataType::UInt8 => value("uint8".into()),
        DataType::UInt16 => value("uint16".into()),
        DataType::UInt32 => value("uint32".into()),
        DataType::UInt64 => value("uint64".into()),
        DataType::Float16 => value("float16".into()),
        DataType::Float32 => value("float32".into()),
        DataType::Float64 => value("float64".into()),
        DataType::Utf8 => value("string".into()),
        DataType::LargeUtf8 => value("large_string".into()),
        DataType::Binary => value("binary".into()),
        DataType::LargeBinary => value("large_binary".into()),
        DataType::Date32 => value("date32".into()),
        DataType::Date64 => value("date64".into()),
        DataType::Time32(u) => value(format!("time32[{}]", unit(u))),
        DataType::Time64(u) => value(format!("time64[{}]", unit(u))),
        DataType::Timestamp(u, None) => value(format!("timestamp[{}]", unit(u))),
        DataType::Timestamp(u, Some(tz)) => value(format!("timestamp[{}, tz={tz}]", unit(u))),
        DataType::Duration(u) => value(format!("duration[{}]", unit(u))),
        DataType::Decimal128(p, s) => value(format!("decimal128({p}, {s})")),
        DataType::Decimal256(p, s) => value(format!("decimal256({p}, {s})")),
        // A list of structs: a JSON list of one object (see the module docs).
        DataType::List(f) if matches!(f.data_type(), DataType::Struct(_)) => {
            Ok(Value::Array(vec![feature_of(f.data_type())?]))
        }
        DataType::List(f) => Ok(json!({"feature": feature_of(f.data_type())?, "_type": "Sequence"})),
        DataType::LargeList(f) => Ok(json!({"feature": feature_of(f.data_type())?, "_type": "LargeList"})),
        DataType::FixedSizeList(f, n) => {
            Ok(json!({"feature": feature_of(f.data_type())?, "length": n, "_type": "Sequence"}))
        }
        DataType::Struct(fields) => {
            let mut m = Map::new();
            for f in fields {
                m.insert(f.name().clone(), feature_of(f.data_type())?);
            }
            Ok(Value::Object(m))
        }
        other => {
            Err(Error::Data(format!("Arrow type {other} has no `datasets` feature; cast it in --select-sql")))
        }
    }
}

fn unit(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// The `features` object for a normalised schema; `class_label` = (column, names) overrides
/// that column with a `ClassLabel` (an int64 column) or a `Sequence` of one (a list of int64).
pub fn features_json(schema: &Schema, class_label: Option<(&str, &[String])>) -> Result<Value> {
    let mut m = Map::new();
    for f in schema.fields() {
        let feature = match class_label {
            Some((col, names)) if col == f.name() => match f.data_type() {
                DataType::List(_) => {
                    json!({"feature": {"names": names, "_type": "ClassLabel"}, "_type": "Sequence"})
                }
                _ => json!({"names": names, "_type": "ClassLabel"}),
            },
            _ => feature_of(f.data_type()).map_err(|e| match e {
                Error::Data(msg) => Error::Data(format!("column `{}`: {msg}", f.name())),
                e => e,
            })?,
        };
        m.insert(f.name().clone(), feature);
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_becomes_list_of_key_value() {
        let entries = Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("k", DataType::Utf8View, false),
                Field::new("v", DataType::Int32, true),
            ])),
            false,
        ));
        let t = normalize_type(&DataType::Map(entries, false));
        let f = feature_of(&t).unwrap();
        assert_eq!(
            f,
            json!([{"key": {"dtype": "string", "_type": "Value"}, "value": {"dtype": "int32", "_type": "Value"}}])
        );
    }

    #[test]
    fn lists_are_spelled_for_every_datasets_release() {
        let item = |dt| Arc::new(Field::new("element", dt, true));
        let strings = normalize_type(&DataType::LargeList(item(DataType::Utf8View)));
        assert_eq!(
            feature_of(&strings).unwrap(),
            json!({"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"})
        );
        let hot = DataType::FixedSizeList(item(DataType::Float32), 3);
        assert_eq!(
            feature_of(&normalize_type(&hot)).unwrap(),
            json!({"feature": {"dtype": "float32", "_type": "Value"}, "length": 3, "_type": "Sequence"})
        );
        let point = DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true)]));
        let fixed_points = normalize_type(&DataType::FixedSizeList(item(point), 2));
        assert!(matches!(fixed_points, DataType::List(_)));
        assert_eq!(feature_of(&fixed_points).unwrap(), json!([{"x": {"dtype": "int64", "_type": "Value"}}]));
        let nested = normalize_type(&DataType::List(item(DataType::List(item(DataType::Int64)))));
        assert_eq!(
            feature_of(&nested).unwrap(),
            json!({"feature": {"feature": {"dtype": "int64", "_type": "Value"}, "_type": "Sequence"},
                   "_type": "Sequence"})
        );
        let schema = Schema::new(vec![Field::new("labels", DataType::List(item(DataType::Int64)), true)]);
        let names = vec!["a".to_string()];
        assert_eq!(
            features_json(&schema, Some(("labels", &names))).unwrap()["labels"],
            json!({"feature": {"names": ["a"], "_type": "ClassLabel"}, "_type": "Sequence"})
        );
    }

    #[test]
    fn timestamps_and_decimals() {
        let t = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(feature_of(&t).unwrap()["dtype"], "timestamp[us, tz=UTC]");
        assert_eq!(feature_of(&DataType::Decimal128(10, 2)).unwrap()["dtype"], "decimal128(10, 2)");
    }
}
