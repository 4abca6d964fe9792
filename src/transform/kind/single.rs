//! `--label-kind single`: one class per row (a string, integer or boolean column), written as
//! `label`, a `ClassLabel` (int64 ids of the run's one map).

use async_trait::async_trait;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast};

use super::{Decided, Kind, KindFlags, LabelKind, Labelled, Shape, refuse_flag};
use crate::error::Result;
use crate::transform::columns::LABEL;
use crate::transform::encode;
use crate::transform::label_pass::LabelPass;

/// One class per row.
pub struct Single;

#[async_trait(?Send)]
impl Kind for Single {
    fn takes(&self) -> &'static str {
        "a string, integer or boolean column"
    }

    fn fits(&self, shape: Shape) -> bool {
        matches!(shape, Shape::Classes | Shape::Integer)
    }

    /// The string form of the class.
    fn label_expr(&self, label: Expr) -> Expr {
        cast(label, DataType::Utf8)
    }

    fn output_column(&self) -> &'static str {
        LABEL
    }

    fn check_flags(&self, flags: &KindFlags, decided: Decided<'_>) -> Result<()> {
        if flags.multi_hot {
            return Err(refuse_flag("--multi-hot", LabelKind::Single, decided, "multi-label exports"));
        }
        if flags.label_all_tokens {
            return Err(refuse_flag(
                "--label-all-tokens",
                LabelKind::Single,
                decided,
                "token classification",
            ));
        }
        Ok(())
    }

    async fn label_pass(
        &self,
        pass: &LabelPass<'_>,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        warn: &dyn Fn(String),
    ) -> Result<Labelled> {
        let mut dropped = vec![0u64; pass.splits.len()];
        pass.null_texts(ctx, inputs, &mut dropped).await?;
        let counts = pass.count_labels(ctx, inputs, &mut dropped).await?;
        pass.labels_outside_train(&counts, warn)?;
        let map =
            pass.build_map(&counts, "no labelled row in any split: the ClassLabel has no names", warn)?;
        let rows = (0..pass.splits.len()).map(|i| counts.labelled_rows(i)).collect();
        Ok(Labelled { counts, map, dropped, rows, kind: LabelKind::Single })
    }

    /// Labels → ids through `label_id` ([`encode::encode`]).
    async fn encode(&self, ctx: &SessionContext, input: DataFrame, _multi_hot: bool) -> Result<DataFrame> {
        encode::encode(ctx, input).await
    }
}
