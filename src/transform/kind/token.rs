//! `--label-kind token`: one tag per word (an array column beside `--tokens-col`, an array of
//! strings), written as `tokens` (`Sequence(Value("string"))`) and `ner_tags`
//! (`Sequence(ClassLabel)`); with `--tokenizer`, the words are tokenized and the tags aligned to
//! sub-words (`labels`, `--label-all-tokens`).

use std::sync::Arc;

use async_trait::async_trait;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, cast};

use super::{Decided, Kind, KindFlags, LabelKind, Labelled, Shape, refuse_flag, string_list};
use crate::error::{Error, Result};
use crate::transform::columns::{TOKEN_TAGS, TOKENS};
use crate::transform::label_pass::LabelPass;
use crate::transform::list_encode::{ListLabels, encode_lists};
use crate::transform::sql;
use crate::transform::tokenize::Tokenize;

/// One tag per word.
pub struct Token;

#[async_trait(?Send)]
impl Kind for Token {
    fn takes(&self) -> &'static str {
        "an array of strings, integers or booleans (one tag per word of --tokens-col)"
    }

    fn fits(&self, shape: Shape) -> bool {
        shape == Shape::ListOfClasses
    }

    /// Lists of the tags' string forms.
    fn label_expr(&self, label: Expr) -> Expr {
        cast(label, string_list())
    }

    fn output_column(&self) -> &'static str {
        TOKEN_TAGS
    }

    fn first_column(&self) -> &'static str {
        TOKENS
    }

    fn counts_what(&self) -> &'static str {
        "tags"
    }

    fn check_flags(&self, flags: &KindFlags, decided: Decided<'_>) -> Result<()> {
        if flags.tokens_col.is_none() {
            return Err(Error::Usage(
                "--label-kind token needs --tokens-col, the column of words (an array of strings)".into(),
            ));
        }
        if flags.multi_hot {
            return Err(refuse_flag("--multi-hot", LabelKind::Token, decided, "multi-label exports"));
        }
        Ok(())
    }

    /// Null word or tag lists (null policy), null words or tags and lengths that differ
    /// (refused), then counts over every tag.
    async fn label_pass(
        &self,
        pass: &LabelPass<'_>,
        ctx: &SessionContext,
        inputs: &mut [DataFrame],
        warn: &dyn Fn(String),
    ) -> Result<Labelled> {
        ctx.register_udf(ListLabels::null_elements());
        let mut dropped = vec![0u64; pass.splits.len()];
        let rows = pass.token_checks(ctx, inputs, &mut dropped).await?;
        let counts = pass.count_list_labels(ctx, inputs, sql::TOKEN_LABEL_COUNTS).await?;
        pass.labels_outside_train(&counts, warn)?;
        let map =
            pass.build_map(&counts, "no label in any row of any split: the ClassLabel has no names", warn)?;
        Ok(Labelled { counts, map, dropped, rows, kind: LabelKind::Token })
    }

    /// Lists of tag ids (`label_ids`).
    async fn encode(&self, ctx: &SessionContext, input: DataFrame, _multi_hot: bool) -> Result<DataFrame> {
        encode_lists(ctx, input, sql::ENCODE_LABEL_LISTS, TOKENS, TOKEN_TAGS).await
    }

    /// The words are tokenized and the tags aligned to sub-words.
    fn tokenizer(&self, t: Arc<Tokenize>, label_all_tokens: bool) -> Result<Arc<Tokenize>> {
        Ok(Arc::new(t.for_words(TOKENS, TOKEN_TAGS, label_all_tokens)?))
    }
}
