//! Supervised fine-tuning data (issue 21).

pub mod pack;
