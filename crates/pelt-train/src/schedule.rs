//! Linear warm-up, then linear decay to zero (docs/method.md §6).

/// Learning rate of optimiser step `step` (0-based) of `total`, peaking at `peak` after
/// `warmup` steps.
pub fn learning_rate(step: u64, total: u64, warmup: u64, peak: f64) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let remaining = total.saturating_sub(step) as f64;
        peak * remaining / total.saturating_sub(warmup).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_zero() {
        assert_eq!(learning_rate(0, 100, 10, 1.0), 0.1);
        assert_eq!(learning_rate(9, 100, 10, 1.0), 1.0);
        assert_eq!(learning_rate(10, 100, 10, 1.0), 1.0);
        assert_eq!(learning_rate(55, 100, 10, 1.0), 0.5);
        assert_eq!(learning_rate(100, 100, 10, 1.0), 0.0);
        assert_eq!(learning_rate(0, 5, 0, 2.0), 2.0);
    }
}
