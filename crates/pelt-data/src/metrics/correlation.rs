//! Pearson and Spearman correlation of predicted and target scores (STS-B).

use crate::error::{DataError, Result};
use crate::metrics::classification::check_lengths;

/// The value an unparseable prediction takes, as `string_to_float(default=-1.)` in the reference
/// code: outside the score range, so it can only hurt.
pub const INVALID_SCORE: f64 = -1.0;

/// Parses predictions like Python's `float` (invalid ones become [`INVALID_SCORE`]; `nan` and
/// `inf` parse, as in the reference) and targets (which must parse).
pub fn parse_scores<P: AsRef<str>, T: AsRef<str>>(
    metric: &'static str,
    predictions: &[P],
    targets: &[T],
) -> Result<(Vec<f64>, Vec<f64>)> {
    check_lengths(metric, predictions.len(), targets.len())?;
    let preds = predictions
        .iter()
        .map(|p| p.as_ref().trim().parse::<f64>().unwrap_or(INVALID_SCORE))
        .collect();
    let targs = targets
        .iter()
        .map(|t| {
            t.as_ref()
                .trim()
                .parse::<f64>()
                .map_err(|_| DataError::Metric {
                    metric,
                    reason: format!("target {:?} is not a number", t.as_ref()),
                })
        })
        .collect::<Result<_>>()?;
    Ok((preds, targs))
}

/// Pearson correlation, in `[-1, 1]`; 0 where SciPy gives NaN (a constant side, a NaN or infinite
/// prediction), as the reference code does, so the GLUE mean and model selection stay defined.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_lengths("pearson", x.len(), y.len())?;
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    Ok(if r.is_finite() {
        r.clamp(-1.0, 1.0)
    } else {
        0.0
    })
}

/// 1-based ranks with ties given their average rank (SciPy `rankdata(method="average")`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the mean of ranks start+1..=end.
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman rank correlation: Pearson of the average ranks, in `[-1, 1]`; 0 where SciPy gives
/// NaN (a constant side or a NaN value), as the reference code does.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_lengths("spearman", x.len(), y.len())?;
    if x.iter().chain(y).any(|v| v.is_nan()) {
        return Ok(0.0);
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn perfect_and_constant_correlations() {
        let x = [1.0, 2.0, 3.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-15);
        assert!((spearman(&x, &[1.0, 10.0, 100.0]).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(pearson(&x, &[5.0, 5.0, 5.0]).unwrap(), 0.0);
        assert_eq!(spearman(&[2.0, 2.0, 2.0], &x).unwrap(), 0.0);
    }

    #[test]
    fn unparseable_predictions_become_the_invalid_score() {
        let (p, t) = parse_scores("pearson", &["3.2", "", "x"], &["1.0", "2", "3"]).unwrap();
        assert_eq!(p, vec![3.2, INVALID_SCORE, INVALID_SCORE]);
        let (p, _) = parse_scores("pearson", &["nan", "inf", "1"], &["1", "2", "3"]).unwrap();
        assert!(p[0].is_nan() && p[1].is_infinite());
        assert_eq!(pearson(&p, &[1.0, 2.0, 3.0]).unwrap(), 0.0);
        assert_eq!(spearman(&p, &[1.0, 2.0, 3.0]).unwrap(), 0.0);
        assert_eq!(t, vec![1.0, 2.0, 3.0]);
        assert!(parse_scores("pearson", &["1"], &["x"]).is_err());
    }
}
