//! CIDEr-D for captions, computed as `pycocoevalcap`'s `Cider` scorer does.
//!
//! n-grams up to 4, TF-IDF vectors with document frequencies over the references of the evaluated
//! set, clipped cosine similarity, Gaussian length penalty (sigma 6), mean over n and references,
//! times 10. Quirk kept for identical numbers: the "length" in the penalty is the reference
//! implementation's, the count of bigrams. Captions are tokenised by [`caption_tokens`] first.

use std::collections::HashMap;

use crate::error::{DataError, Result};
use crate::metrics::classification::check_lengths;

const N: usize = 4;
const SIGMA: f64 = 6.0;

/// Lower-cases and splits a caption into words, dropping punctuation (what the COCO evaluation's
/// PTB tokeniser leaves, for plain captions; that Java tool is not used here).
pub fn caption_tokens(caption: &str) -> String {
    let spaced: String = caption
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_punctuation() && c != '\'' && c != '-' {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

type Counts = HashMap<Vec<String>, f64>;

fn ngram_counts(text: &str) -> Counts {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let mut counts = Counts::new();
    for k in 1..=N {
        for window in words.windows(k) {
            *counts.entry(window.to_vec()).or_insert(0.0) += 1.0;
        }
    }
    counts
}

struct Vector {
    weights: [HashMap<Vec<String>, f64>; N],
    norms: [f64; N],
    length: f64,
}

fn to_vector(counts: &Counts, df: &HashMap<Vec<String>, f64>, log_docs: f64) -> Vector {
    let mut weights: [HashMap<Vec<String>, f64>; N] = Default::default();
    let mut norms = [0.0; N];
    let mut length = 0.0;
    for (gram, &tf) in counts {
        let n = gram.len() - 1;
        let idf = log_docs - df.get(gram).copied().unwrap_or(0.0).max(1.0).ln();
        let w = tf * idf;
        weights[n].insert(gram.clone(), w);
        norms[n] += w * w;
        if n == 1 {
            length += tf;
        }
    }
    Vector {
        weights,
        norms: norms.map(f64::sqrt),
        length,
    }
}

fn similarity(hyp: &Vector, reference: &Vector) -> f64 {
    let delta = hyp.length - reference.length;
    let penalty = (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
    let mut total = 0.0;
    for n in 0..N {
        let mut val = 0.0;
        for (gram, &w) in &hyp.weights[n] {
            let r = reference.weights[n].get(gram).copied().unwrap_or(0.0);
            val += w.min(r) * r;
        }
        if hyp.norms[n] != 0.0 && reference.norms[n] != 0.0 {
            val /= hyp.norms[n] * reference.norms[n];
        }
        total += val * penalty;
    }
    total / N as f64
}

/// CIDEr-D of already tokenised captions: `(corpus score, per-image scores)`.
///
/// `references[i]` are the captions of image `i`. Document frequencies are counted over these
/// references, so the score depends on the whole evaluated set, as in the reference.
pub fn cider_d<P: AsRef<str>, R: AsRef<str>>(
    predictions: &[P],
    references: &[Vec<R>],
) -> Result<(f64, Vec<f64>)> {
    check_lengths("cider_d", predictions.len(), references.len())?;
    if let Some(i) = references.iter().position(Vec::is_empty) {
        return Err(DataError::Metric {
            metric: "cider_d",
            reason: format!("image {i} has no reference caption"),
        });
    }
    let refs: Vec<Vec<Counts>> = references
        .iter()
        .map(|rs| rs.iter().map(|r| ngram_counts(r.as_ref())).collect())
        .collect();
    let mut df: HashMap<Vec<String>, f64> = HashMap::new();
    for image_refs in &refs {
        let mut grams: Vec<&Vec<String>> = image_refs.iter().flat_map(|c| c.keys()).collect();
        grams.sort_unstable();
        grams.dedup();
        for gram in grams {
            *df.entry(gram.clone()).or_insert(0.0) += 1.0;
        }
    }
    let log_docs = (refs.len() as f64).ln();
    let scores: Vec<f64> = predictions
        .iter()
        .zip(&refs)
        .map(|(p, image_refs)| {
            let hyp = to_vector(&ngram_counts(p.as_ref()), &df, log_docs);
            let sum: f64 = image_refs
                .iter()
                .map(|r| similarity(&hyp, &to_vector(r, &df, log_docs)))
                .sum();
            sum / image_refs.len() as f64 * 10.0
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    Ok((mean, scores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_drop_punctuation_and_case() {
        assert_eq!(
            caption_tokens("A man, riding a Bike."),
            "a man riding a bike"
        );
        assert_eq!(
            caption_tokens("It's a black-and-white cat!"),
            "it's a black-and-white cat"
        );
    }

    #[test]
    fn empty_prediction_scores_zero_and_missing_references_error() {
        let refs = vec![vec!["a red circle"], vec!["a blue square"]];
        let (mean, scores) = cider_d(&["", ""], &refs).unwrap();
        assert_eq!(mean, 0.0);
        assert_eq!(scores, vec![0.0, 0.0]);
        let none: Vec<Vec<&str>> = vec![vec![]];
        assert!(cider_d(&["x"], &none).is_err());
    }

    #[test]
    fn matching_the_references_beats_not_matching() {
        let refs = vec![
            vec!["a red circle on a white background"],
            vec!["a blue square"],
        ];
        let (_, good) = cider_d(
            &["a red circle on a white background", "a blue square"],
            &refs,
        )
        .unwrap();
        let (_, bad) = cider_d(&["a blue square", "a red circle"], &refs).unwrap();
        assert!(good[0] > bad[0] && good[1] > bad[1]);
    }
}
