//! Evaluation metrics of docs/method.md §9, each tested against the reference libraries.
//!
//! The functions here return the reference libraries' scale (`[0, 1]`, correlations in
//! `[-1, 1]`, CIDEr-D as `pycocoevalcap`); [`evaluate`] reports a task's metrics ×100 and
//! [`glue_score`] averages them.

mod cider;
mod classification;
mod correlation;
mod task_scores;
mod vqa;

pub use cider::{caption_tokens, cider_d};
pub use classification::{accuracy, f1_with_invalid, int_or_invalid, matthews, python_int};
pub use correlation::{INVALID_SCORE, average_ranks, parse_scores, pearson, spearman};
pub use task_scores::{Score, evaluate, glue_score};
pub use vqa::{
    exact_match, normalize_answer, process_digit_article, process_punctuation, vqa_accuracy,
    vqa_score,
};
