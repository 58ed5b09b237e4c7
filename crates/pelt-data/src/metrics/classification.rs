//! Classification metrics over predicted and target strings: accuracy, F1, Matthews correlation.
//!
//! Predictions are decoded text, so any string can come out. Each metric says how it treats a
//! prediction outside the label set; all follow the reference code (HyperFormer / T5), whose
//! post-processing turns the predictions of CoLA, MRPC and QQP into integers with Python's `int`,
//! `-1` when that fails ([`python_int`]).

use std::collections::HashMap;

use crate::error::{DataError, Result};

/// Checks equal, non-zero lengths.
pub(crate) fn check_lengths(
    metric: &'static str,
    predictions: usize,
    targets: usize,
) -> Result<()> {
    if predictions != targets {
        return Err(DataError::Metric {
            metric,
            reason: format!("{predictions} predictions for {targets} targets"),
        });
    }
    if targets == 0 {
        return Err(DataError::Metric {
            metric,
            reason: "nothing to score".to_owned(),
        });
    }
    Ok(())
}

/// Fraction of predictions equal to their target (both trimmed), in `[0, 1]`.
pub fn accuracy<P: AsRef<str>, T: AsRef<str>>(predictions: &[P], targets: &[T]) -> Result<f64> {
    check_lengths("accuracy", predictions.len(), targets.len())?;
    let correct = predictions
        .iter()
        .zip(targets)
        .filter(|(p, t)| p.as_ref().trim() == t.as_ref().trim())
        .count();
    Ok(correct as f64 / targets.len() as f64)
}

/// Python's `int(text)`: surrounding whitespace, an optional sign, ASCII digits with single
/// underscores between them (`"01"`, `" +1"`, `"1_0"` parse; `"1.0"`, `""`, `"one"` do not).
pub fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let valid = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !valid {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().ok()?;
    Some(if t.starts_with('-') { -value } else { value })
}

/// The reference's `string_to_int(text, default=-1)`.
pub fn int_or_invalid(text: &str) -> i64 {
    python_int(text).unwrap_or(-1)
}

fn binary(metric: &'static str, text: &str) -> Result<i64> {
    match python_int(text) {
        Some(v @ (0 | 1)) => Ok(v),
        _ => Err(DataError::Metric {
            metric,
            reason: format!("target {text:?} is not 0 or 1"),
        }),
    }
}

/// F1 of class `"1"` (scikit-learn's binary `f1_score`), in `[0, 1]`.
///
/// Predictions are read as integers ([`python_int`]); one that is not 0 or 1 counts as wrong: it
/// is replaced by the opposite of its target (T5's `f1_score_with_invalid`). With no true or predicted positive the score is 0,
/// as scikit-learn's `zero_division` default.
pub fn f1_with_invalid<P: AsRef<str>, T: AsRef<str>>(
    predictions: &[P],
    targets: &[T],
) -> Result<f64> {
    check_lengths("f1", predictions.len(), targets.len())?;
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for (p, t) in predictions.iter().zip(targets) {
        let t = binary("f1", t.as_ref())?;
        let p = match python_int(p.as_ref()) {
            Some(v @ (0 | 1)) => v,
            _ => 1 - t,
        };
        match (p, t) {
            (1, 1) => tp += 1,
            (1, 0) => fp += 1,
            (0, 1) => fneg += 1,
            _ => {}
        }
    }
    let denominator = 2 * tp + fp + fneg;
    Ok(if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    })
}

/// Matthews correlation coefficient (scikit-learn's multiclass formula), in `[-1, 1]`.
///
/// Labels are compared as integers after the reference's post-processing ([`int_or_invalid`]):
/// `"01"` is class 1, and every unparseable prediction falls into class `-1`. Zero when either
/// side is constant (scikit-learn's convention).
pub fn matthews<P: AsRef<str>, T: AsRef<str>>(predictions: &[P], targets: &[T]) -> Result<f64> {
    check_lengths("matthews", predictions.len(), targets.len())?;
    let mut classes: HashMap<i64, usize> = HashMap::new();
    let mut class_of = |v: i64| {
        let next = classes.len();
        *classes.entry(v).or_insert(next)
    };
    let pairs: Vec<(usize, usize)> = predictions
        .iter()
        .zip(targets)
        .map(|(p, t)| {
            let ti = class_of(int_or_invalid(t.as_ref()));
            (class_of(int_or_invalid(p.as_ref())), ti)
        })
        .collect();
    let k = classes.len();
    let mut t_sum = vec![0f64; k];
    let mut p_sum = vec![0f64; k];
    let mut correct = 0f64;
    for &(pi, ti) in &pairs {
        t_sum[ti] += 1.0;
        p_sum[pi] += 1.0;
        if ti == pi {
            correct += 1.0;
        }
    }
    let n = targets.len() as f64;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_tp = correct * n - dot(&t_sum, &p_sum);
    let cov_pp = n * n - dot(&p_sum, &p_sum);
    let cov_tt = n * n - dot(&t_sum, &t_sum);
    if cov_pp * cov_tt == 0.0 {
        return Ok(0.0);
    }
    Ok(cov_tp / (cov_tt * cov_pp).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_trims_and_counts_invalid_as_wrong() {
        assert_eq!(
            accuracy(&[" 1", "0", "yes"], &["1", "1", "0"]).unwrap(),
            1.0 / 3.0
        );
        assert_eq!(accuracy(&[""], &["0"]).unwrap(), 0.0);
    }

    #[test]
    fn f1_hand_worked() {
        // tp = 1, fp = 1, fn = 1 -> 2 / 4.
        assert_eq!(
            f1_with_invalid(&["1", "1", "0", "0"], &["1", "0", "1", "0"]).unwrap(),
            0.5
        );
        // All invalid: every prediction is the opposite of its target: tp = 0 -> 0.
        assert_eq!(
            f1_with_invalid(&["x", "", "maybe"], &["1", "0", "1"]).unwrap(),
            0.0
        );
        // An invalid prediction on a negative becomes a false positive.
        assert_eq!(
            f1_with_invalid(&["1", "?"], &["1", "0"]).unwrap(),
            2.0 / 3.0
        );
        assert!(f1_with_invalid(&["1"], &["2"]).is_err());
        // Python's int() reads "01" and " +1" as 1.
        assert_eq!(f1_with_invalid(&["01", " +1"], &["1", "1"]).unwrap(), 1.0);
    }

    #[test]
    fn python_int_follows_python() {
        for (text, value) in [
            ("1", Some(1)),
            (" 01 ", Some(1)),
            ("-2", Some(-2)),
            ("1_0", Some(10)),
        ] {
            assert_eq!(python_int(text), value, "{text:?}");
        }
        for text in ["", "1.0", "one", "_1", "1_", "1__0", "+", "0x1", "1 0"] {
            assert_eq!(python_int(text), None, "{text:?}");
        }
    }

    #[test]
    fn matthews_edge_cases() {
        assert_eq!(matthews(&["1", "1", "1"], &["1", "0", "1"]).unwrap(), 0.0);
        assert_eq!(matthews(&["1", "0"], &["1", "0"]).unwrap(), 1.0);
        assert_eq!(matthews(&["0", "1"], &["1", "0"]).unwrap(), -1.0);
        assert_eq!(matthews(&["", ""], &["1", "0"]).unwrap(), 0.0);
    }

    #[test]
    fn mismatched_or_empty_inputs_are_errors() {
        assert!(accuracy(&["1"], &["1", "0"]).is_err());
        assert!(matthews::<&str, &str>(&[], &[]).is_err());
    }
}
