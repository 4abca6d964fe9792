//! `--label-kind multi`: several classes per row (an array column), written as `labels`, a
//! `Sequence(ClassLabel)` of ids, or with `--multi-hot` a float32 vector of the map's length
//! (`Sequence(Value("float32"), length=N)`, what `BCEWithLogitsLoss` takes).

use async_trait::async_trait;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast};
use serde_json::{Value, json};

use super::{
    Decided, Kind, KindFlags, LabelKind, Labelled, Shape, class_map_document, refuse_flag, string_list,
};
use crate::error::Result;
use crate::transform::columns::{MULTI_LABELS, TEXT};
use crate::transform::label_pass::LabelPass;
use crate::transform::list_encode::{ListLabels, encode_lists};
use crate::transform::sql;
use crate::transform::stats::LabelStat;

/// Several classes per row.
pub struct Multi;

#[async_trait(?Send)]
impl Kind for Multi {
    fn takes(&self) -> &'static str {
        "an array of strings, integers or booleans"
    }

    fn fits(&self, shape: Shape) -> bool {
        shape == Shape::ListOfClasses
    }

    /// Lists of the classes' string forms.
    fn label_expr(&self, label: Expr) -> Expr {
        cast(label, string_list())
    }

    fn output_column(&self) -> &'static str {
        MULTI_LABELS
    }

    fn writes_class_label(&self, multi_hot: bool) -> bool {
        !multi_hot
    }

    fn counts_what(&self) -> &'static str {
        "rows containing the label"
    }

    fn check_flags(&self, flags: &KindFlags, decided: Decided<'_>) -> Result<()> {
        if flags.label_all_tokens {
            return Err(refuse_flag("--label-all-tokens", LabelKind::Multi, decided, "token classification"));
        }
        Ok(())
    }

    /// Null lists (null policy), null elements (refused), then counts over every element.
    async fn label_pass(
        &self,
        pass: &LabelPass<'_>,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        warn: &dyn Fn(String),
    ) -> Result<Labelled> {
        ctx.register_udf(ListLabels::null_elements());
        let mut dropped = vec![0u64; pass.splits.len()];
        pass.null_texts(ctx, inputs, &mut dropped).await?;
        let rows = pass.list_checks(ctx, inputs, &mut dropped).await?;
        let counts = pass.count_list_labels(ctx, inputs, sql::MULTI_LABEL_COUNTS).await?;
        pass.labels_outside_train(&counts, warn)?;
        let map =
            pass.build_map(&counts, "no label in any row of any split: the ClassLabel has no names", warn)?;
        Ok(Labelled { counts, map, dropped, rows, kind: LabelKind::Multi })
    }

    /// Lists of ids (`label_ids`), or multi-hot vectors (`multi_hot`).
    async fn encode(&self, ctx: &SessionContext, input: DataFrame, multi_hot: bool) -> Result<DataFrame> {
        let query = if multi_hot { sql::ENCODE_MULTI_HOT } else { sql::ENCODE_LABEL_LISTS };
        encode_lists(ctx, input, query, TEXT, MULTI_LABELS).await
    }

    /// Positives per label: a row counts once for each label it has.
    fn label_stat(&self, multi_hot: bool) -> LabelStat {
        match multi_hot {
            true => LabelStat::MultiHot(MULTI_LABELS),
            false => LabelStat::Positives(MULTI_LABELS),
        }
    }

    fn label_map_document(&self, names: &[String]) -> Value {
        let mut doc = class_map_document(names);
        doc["problem_type"] = json!("multi_label_classification");
        doc
    }
}
