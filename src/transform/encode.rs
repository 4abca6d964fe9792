//! Encode: labels → ids for an export ([`encode`], through `label_id(label)`, the scalar
//! function `sql/encode_labels.sql` uses), and ids → names for `pull` ([`names_of_ids`]).
//!
//! It is a vectorised DataFusion expression (one hash lookup per row inside a batch, no
//! per-row callback into anything slower): the projection it sits in keeps every other column
//! as it is — no copy of the text — and keeps row order, so the export stays streaming and
//! deterministic. (A hash join against a `label_map` table gives the same ids but copies every
//! probe-side column into its output batches, which dominated the write time.)

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{DataFusionError, ScalarValue};
use deltalake::datafusion::error::Result;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast, lit, when,
};
use deltalake::datafusion::prelude::{DataFrame, SessionContext};

use crate::transform::columns::{LABEL, TEXT, column};
use crate::transform::label_pass::as_i64;
use crate::transform::sql;

/// The split with its labels replaced by ids under the map registered as `label_id` (see
/// [`LabelId::udf`]): `text, label, <kept columns>`.
pub async fn encode(ctx: &SessionContext, input: DataFrame) -> crate::error::Result<DataFrame> {
    let keep: Vec<String> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != TEXT && n != LABEL)
        .collect();
    ctx.deregister_table(sql::INPUT_VIEW)?;
    ctx.register_table(sql::INPUT_VIEW, input.into_view())?;
    let encoded = ctx.sql(sql::ENCODE_LABELS).await?;
    let mut exprs = vec![column(TEXT), column(sql::LABEL_ID_COLUMN).alias(LABEL)];
    exprs.extend(keep.iter().map(|k| column(k)));
    Ok(encoded.select(exprs)?)
}

/// Rows of `df` (for `--num-shards` without a label pass).
pub async fn count_rows(ctx: &SessionContext, df: DataFrame) -> crate::error::Result<u64> {
    ctx.deregister_table(sql::INPUT_VIEW)?;
    ctx.register_table(sql::INPUT_VIEW, df.into_view())?;
    let batches = ctx.sql(sql::COUNT_ROWS).await?.collect().await?;
    Ok(batches.first().map(|b| as_i64(b.column(0)).map(|a| a.value(0) as u64)).transpose()?.unwrap_or(0))
}

/// `CASE id WHEN 0 THEN name0 ... ELSE NULL END AS <col>`: a ClassLabel column's ids as their
/// names (`-1`, the `datasets` "no label", and ids outside the names become null).
pub fn names_of_ids(col: &str, names: &[String]) -> Expr {
    let id = cast(column(col), DataType::Int64);
    if names.is_empty() {
        return lit(ScalarValue::Utf8(None)).alias(col);
    }
    let mut case = when(id.clone().eq(lit(0i64)), lit(names[0].clone()));
    for (i, n) in names.iter().enumerate().skip(1) {
        case = case.when(id.clone().eq(lit(i as i64)), lit(n.clone()));
    }
    case.otherwise(lit(ScalarValue::Utf8(None))).expect("a CASE with branches").alias(col)
}

/// The id of each label under one label map.
#[derive(Debug)]
pub struct LabelId {
    names: Arc<Vec<String>>,
    ids: HashMap<String, i64>,
    signature: Signature,
}

impl LabelId {
    /// The function for the map `names[id]`, ready to register.
    pub fn udf(names: &[String]) -> ScalarUDF {
        let ids = names.iter().enumerate().map(|(i, n)| (n.clone(), i as i64)).collect();
        ScalarUDF::new_from_impl(LabelId {
            names: Arc::new(names.to_vec()),
            ids,
            signature: Signature::string(1, Volatility::Immutable),
        })
    }

    fn id(&self, label: Option<&str>) -> Result<Option<i64>> {
        match label {
            None => Ok(None),
            Some(l) => self
                .ids
                .get(l)
                .copied()
                .map(Some)
                .ok_or_else(|| DataFusionError::Execution(format!("label `{l}` is not in the label map"))),
        }
    }

    fn ids_of<'a>(&self, labels: impl Iterator<Item = Option<&'a str>>) -> Result<ArrayRef> {
        let ids: Int64Array = labels.map(|l| self.id(l)).collect::<Result<_>>()?;
        Ok(Arc::new(ids))
    }
}

impl PartialEq for LabelId {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}
impl Eq for LabelId {}
impl Hash for LabelId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.names.hash(state);
    }
}

impl ScalarUDFImpl for LabelId {
    fn name(&self) -> &str {
        "label_id"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("label_id takes one argument".into()));
        };
        match arg {
            ColumnarValue::Array(a) => {
                let ids = match a.data_type() {
                    DataType::Utf8 => self.ids_of(a.as_string::<i32>().iter())?,
                    DataType::LargeUtf8 => self.ids_of(a.as_string::<i64>().iter())?,
                    DataType::Utf8View => self.ids_of(a.as_string_view().iter())?,
                    other => {
                        return Err(DataFusionError::Plan(format!("label_id takes a string, not {other}")));
                    }
                };
                Ok(ColumnarValue::Array(ids))
            }
            ColumnarValue::Scalar(s) => {
                let label = match s {
                    ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                        v.as_deref()
                    }
                    other => {
                        return Err(DataFusionError::Plan(format!("label_id takes a string, not {other}")));
                    }
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Int64(self.id(label)?)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::StringArray;
    use deltalake::arrow::datatypes::Field;

    #[test]
    fn ids_by_map_order() {
        let udf = LabelId::udf(&["b".to_string(), "a".to_string()]);
        let input: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(input)],
                arg_fields: vec![Arc::new(Field::new("label", DataType::Utf8, true))],
                number_rows: 3,
                return_field: Arc::new(Field::new("id", DataType::Int64, true)),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else { panic!("array expected") };
        let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![Some(1), None, Some(0)]);
    }
}
