//! List labels (multi-label and token classification) in DataFusion: the scalar functions the
//! list-label SQL in `sql/` uses (the sub-word alignment of token tags is in
//! [`super::tokenize::align_tags`]).
//!
//! - `label_ids(labels)`: `list<string>` → `list<int64>`, every element looked up in the run's
//!   one label map; offsets and nulls are kept, so element order is the source's;
//! - `multi_hot(labels)`: `list<string>` → `fixed_size_list<float32, N>` (N = number of labels),
//!   1.0 where a label is present — what transformers' `BCEWithLogitsLoss` takes;
//! - `null_elements(list)`: the number of null elements of each row's list (for the checks).
//!
//! All three are vectorised (one pass over a batch's values, no per-row callback), keep row order
//! and buffer nothing, like `label_id` of [`super::encode`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, GenericListArray, Int64Array, ListArray,
    OffsetSizeTrait,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef};
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::error::Result;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::datafusion::prelude::{DataFrame, SessionContext};

use crate::transform::columns::{LABEL, column};
use crate::transform::sql;

/// What a list function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    LabelIds,
    MultiHot,
    NullElements,
}

/// One of the list functions, bound to the run's label map (unused by `null_elements`).
#[derive(Debug)]
pub struct ListLabels {
    op: Op,
    names: Arc<Vec<String>>,
    ids: HashMap<String, i64>,
    signature: Signature,
}

impl ListLabels {
    fn udf(op: Op, names: &[String]) -> ScalarUDF {
        let ids = names.iter().enumerate().map(|(i, n)| (n.clone(), i as i64)).collect();
        ScalarUDF::new_from_impl(ListLabels {
            op,
            names: Arc::new(names.to_vec()),
            ids,
            signature: Signature::any(1, Volatility::Immutable),
        })
    }

    /// `label_ids(labels)` for the map `names[id]`.
    pub fn label_ids(names: &[String]) -> ScalarUDF {
        Self::udf(Op::LabelIds, names)
    }

    /// `multi_hot(labels)` for the map `names[id]`.
    pub fn multi_hot(names: &[String]) -> ScalarUDF {
        Self::udf(Op::MultiHot, names)
    }

    /// `null_elements(list)`.
    pub fn null_elements() -> ScalarUDF {
        Self::udf(Op::NullElements, &[])
    }

    fn id(&self, label: &str) -> Result<i64> {
        self.ids
            .get(label)
            .copied()
            .ok_or_else(|| DataFusionError::Execution(format!("label `{label}` is not in the label map")))
    }

    /// The ids of `values[start..end]` (null elements stay null).
    fn ids_of(&self, values: &ArrayRef, start: usize, end: usize) -> Result<Int64Array> {
        let values = values.slice(start, end - start);
        let lookup = |l: Option<&str>| l.map(|l| self.id(l)).transpose();
        match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().iter().map(lookup).collect(),
            DataType::LargeUtf8 => values.as_string::<i64>().iter().map(lookup).collect(),
            DataType::Utf8View => values.as_string_view().iter().map(lookup).collect(),
            other => Err(DataFusionError::Plan(format!("list labels must be strings, not {other}"))),
        }
    }

    fn label_ids_of<O: OffsetSizeTrait>(&self, list: &GenericListArray<O>) -> Result<ArrayRef> {
        let offsets = list.value_offsets();
        let (start, end) = (offsets[0].as_usize(), offsets[offsets.len() - 1].as_usize());
        let ids = self.ids_of(list.values(), start, end)?;
        // Rebase the offsets on the slice of values actually referenced.
        let rebased = OffsetBuffer::from_lengths(offsets.windows(2).map(|w| (w[1] - w[0]).as_usize()));
        Ok(Arc::new(ListArray::try_new(id_item(), rebased, Arc::new(ids), list.nulls().cloned())?))
    }

    fn multi_hot_of<O: OffsetSizeTrait>(&self, list: &GenericListArray<O>) -> Result<ArrayRef> {
        let n = self.names.len();
        let offsets = list.value_offsets();
        let (start, end) = (offsets[0].as_usize(), offsets[offsets.len() - 1].as_usize());
        let ids = self.ids_of(list.values(), start, end)?;
        let mut hot = vec![0f32; list.len() * n];
        for row in 0..list.len() {
            let (a, b) = (offsets[row].as_usize() - start, offsets[row + 1].as_usize() - start);
            for id in ids.iter().skip(a).take(b - a).flatten() {
                hot[row * n + id as usize] = 1.0;
            }
        }
        let values = Float32Array::from(hot);
        Ok(Arc::new(FixedSizeListArray::try_new(
            hot_item(),
            n as i32,
            Arc::new(values),
            list.nulls().cloned(),
        )?))
    }

    fn null_elements_of<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> ArrayRef {
        let offsets = list.value_offsets();
        let nulls = list.values().logical_nulls();
        let counts: Int64Array = (0..list.len())
            .map(|row| {
                let (a, b) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
                let n = nulls.as_ref().map(|nb| (a..b).filter(|i| nb.is_null(*i)).count()).unwrap_or(0);
                Some(n as i64)
            })
            .collect();
        Arc::new(counts)
    }

    fn apply(&self, array: &ArrayRef) -> Result<ArrayRef> {
        macro_rules! on_list {
            ($list:expr) => {
                match self.op {
                    Op::LabelIds => self.label_ids_of($list),
                    Op::MultiHot => self.multi_hot_of($list),
                    Op::NullElements => Ok(Self::null_elements_of($list)),
                }
            };
        }
        match array.data_type() {
            DataType::List(_) => on_list!(array.as_list::<i32>()),
            DataType::LargeList(_) => on_list!(array.as_list::<i64>()),
            other => Err(DataFusionError::Plan(format!("{} takes a list, not {other}", self.name()))),
        }
    }
}

/// The item field of `label_ids`' lists.
fn id_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Int64, true))
}

/// The item field of `multi_hot`'s vectors.
fn hot_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, true))
}

impl PartialEq for ListLabels {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.names == other.names
    }
}
impl Eq for ListLabels {}
impl Hash for ListLabels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.names.hash(state);
    }
}

impl ScalarUDFImpl for ListLabels {
    fn name(&self) -> &str {
        match self.op {
            Op::LabelIds => "label_ids",
            Op::MultiHot => "multi_hot",
            Op::NullElements => "null_elements",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.op {
            Op::LabelIds => DataType::List(id_item()),
            Op::MultiHot => DataType::FixedSizeList(hot_item(), self.names.len() as i32),
            Op::NullElements => DataType::Int64,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [array] = arrays.as_slice() else {
            return Err(DataFusionError::Plan(format!("{} takes one argument", self.name())));
        };
        Ok(ColumnarValue::Array(self.apply(array)?))
    }
}

/// The split's list labels encoded by `query` (`sql/encode_label_lists.sql` or
/// `sql/encode_multi_hot.sql`, with `label_ids` / `multi_hot` registered for the run's map):
/// columns `first` (the text or the words), the ids as `output`, then the kept columns.
pub async fn encode_lists(
    ctx: &SessionContext,
    input: DataFrame,
    query: &str,
    first: &str,
    output: &str,
) -> crate::error::Result<DataFrame> {
    let keep: Vec<String> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != first && n != LABEL)
        .collect();
    ctx.deregister_table(sql::INPUT_VIEW)?;
    ctx.register_table(sql::INPUT_VIEW, input.into_view())?;
    let encoded = ctx.sql(query).await?;
    let mut exprs = vec![column(first), column(sql::LABEL_ID_COLUMN).alias(output)];
    exprs.extend(keep.iter().map(|k| column(k)));
    Ok(encoded.select(exprs)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{FixedSizeListArray, ListBuilder, StringBuilder};

    fn strings(rows: &[Option<Vec<Option<&str>>>]) -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for r in rows {
            match r {
                None => b.append_null(),
                Some(items) => {
                    for i in items {
                        b.values().append_option(*i);
                    }
                    b.append(true);
                }
            }
        }
        Arc::new(b.finish())
    }

    fn call(udf: &ScalarUDF, input: ArrayRef) -> ArrayRef {
        let n = input.len();
        let returns = udf.return_type(&[input.data_type().clone()]).unwrap();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                arg_fields: vec![Arc::new(Field::new("l", input.data_type().clone(), true))],
                args: vec![ColumnarValue::Array(input)],
                number_rows: n,
                return_field: Arc::new(Field::new("o", returns, true)),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else { panic!("array expected") };
        a
    }

    fn names() -> Vec<String> {
        vec!["b".into(), "a".into(), "c".into()]
    }

    #[test]
    fn label_ids_keep_order_duplicates_and_nulls() {
        let input = strings(&[
            Some(vec![Some("a"), Some("c"), Some("a")]),
            Some(vec![]),
            None,
            Some(vec![Some("b")]),
        ]);
        // A slice: offsets no longer start at 0.
        let out = call(&ListLabels::label_ids(&names()), input.slice(0, 4));
        let l = out.as_list::<i32>();
        let rows: Vec<Option<Vec<Option<i64>>>> = (0..l.len())
            .map(|i| {
                (!l.is_null(i))
                    .then(|| l.value(i).as_any().downcast_ref::<Int64Array>().unwrap().iter().collect())
            })
            .collect();
        assert_eq!(
            rows,
            vec![Some(vec![Some(1), Some(2), Some(1)]), Some(vec![]), None, Some(vec![Some(0)])]
        );
        let sliced = call(&ListLabels::label_ids(&names()), input.slice(3, 1));
        assert_eq!(
            sliced.as_list::<i32>().value(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0),
            0
        );
    }

    #[test]
    fn unknown_label_is_an_error() {
        let udf = ListLabels::label_ids(&names());
        let r = udf.invoke_with_args(ScalarFunctionArgs {
            arg_fields: vec![Arc::new(Field::new("l", DataType::Utf8, true))],
            args: vec![ColumnarValue::Array(strings(&[Some(vec![Some("zz")])]))],
            number_rows: 1,
            return_field: Arc::new(Field::new("o", DataType::Null, true)),
            config_options: Arc::new(Default::default()),
        });
        assert!(r.unwrap_err().to_string().contains("`zz`"));
    }

    #[test]
    fn multi_hot_vectors() {
        let input = strings(&[Some(vec![Some("a"), Some("a"), Some("c")]), Some(vec![])]);
        let out = call(&ListLabels::multi_hot(&names()), input);
        let f = out.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        assert_eq!(f.value_length(), 3);
        let v = f.values().as_any().downcast_ref::<Float32Array>().unwrap();
        assert_eq!(v.values().to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn null_elements_per_row() {
        let input = strings(&[Some(vec![Some("a"), None, None]), None, Some(vec![Some("b")])]);
        let out = call(&ListLabels::null_elements(), input);
        let n = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.iter().collect::<Vec<_>>(), vec![Some(2), Some(0), Some(0)]);
    }
}
