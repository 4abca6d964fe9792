//! `--label-kind regression`: a number per row (float, double or decimal; integers when asked
//! for), written as `label`, `Value("float32")`, with NaN as null. No label map.

use async_trait::async_trait;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::functions::math::expr_fn::isnan;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast, lit, when};
use deltalake::datafusion::scalar::ScalarValue;
use serde_json::{Value, json};

use super::{Decided, Kind, KindFlags, LabelKind, Labelled, Shape, refuse_flag};
use crate::error::{Error, Result};
use crate::transform::columns::LABEL;
use crate::transform::label_map::{LabelCounts, LabelMap, MapOrigin};
use crate::transform::label_pass::LabelPass;

/// A number per row.
pub struct Regression;

#[async_trait(?Send)]
impl Kind for Regression {
    fn takes(&self) -> &'static str {
        "a float, double, decimal or integer column"
    }

    fn fits(&self, shape: Shape) -> bool {
        matches!(shape, Shape::Number | Shape::Integer)
    }

    /// float32, with NaN as null.
    fn label_expr(&self, label: Expr) -> Expr {
        let value = cast(label, DataType::Float32);
        when(isnan(value.clone()), lit(ScalarValue::Float32(None))).otherwise(value).expect("a CASE")
    }

    fn output_column(&self) -> &'static str {
        LABEL
    }

    fn has_label_map(&self) -> bool {
        false
    }

    fn writes_class_label(&self, _multi_hot: bool) -> bool {
        false
    }

    fn summary_line(&self) -> Option<&'static str> {
        Some("label: --label-kind regression, a float32 value per row (no label map)")
    }

    fn check_flags(&self, flags: &KindFlags, decided: Decided<'_>) -> Result<()> {
        if flags.multi_hot {
            return Err(refuse_flag("--multi-hot", LabelKind::Regression, decided, "multi-label exports"));
        }
        if flags.label_all_tokens {
            return Err(refuse_flag(
                "--label-all-tokens",
                LabelKind::Regression,
                decided,
                "token classification",
            ));
        }
        if let Some(flag) = flags.label_map_flags.first() {
            return Err(Error::Usage(match decided {
                Decided::ByFlags => format!(
                    "{flag} is about a label map, and --label-kind regression exports numbers with no label \
                     map; drop {flag}"
                ),
                Decided::ByType { column } => format!(
                    "{flag} is about a label map, and a regression export (label column `{column}` holds \
                     numbers) has no label map; drop {flag}, or export classes with another --label-kind"
                ),
            }));
        }
        Ok(())
    }

    /// Null texts and null (or NaN) targets follow the null policy; no map.
    async fn label_pass(
        &self,
        pass: &LabelPass<'_>,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        _warn: &dyn Fn(String),
    ) -> Result<Labelled> {
        let mut dropped = vec![0u64; pass.splits.len()];
        pass.null_texts(ctx, inputs, &mut dropped).await?;
        let rows = pass.regression_checks(ctx, inputs, &mut dropped).await?;
        let map = LabelMap { names: Vec::new(), new_labels: Vec::new(), origin: MapOrigin::Computed };
        let counts = LabelCounts::new(pass.splits.to_vec());
        Ok(Labelled { counts, map, dropped, rows, kind: LabelKind::Regression })
    }

    /// The target as it is.
    async fn encode(&self, _ctx: &SessionContext, input: DataFrame, _multi_hot: bool) -> Result<DataFrame> {
        Ok(input)
    }

    fn label_map_document(&self, _names: &[String]) -> Value {
        json!({"problem_type": "regression", "num_labels": 1})
    }
}
