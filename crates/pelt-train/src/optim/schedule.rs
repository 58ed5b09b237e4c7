//! The learning-rate schedule: linear warm-up, then linear decay to zero (docs/method.md §6) or,
//! as an option, a constant rate (docs/train.md, "Optimiser").

use serde::{Deserialize, Serialize};

/// What the learning rate does after warm-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear decay to zero at the last step (the spec's).
    #[default]
    Linear,
    /// The peak rate to the end.
    Constant,
}

/// Learning rate of optimiser step `step` (0-based) of `total`, peaking at `peak` after
/// `warmup` steps, then following `schedule`.
pub fn learning_rate(step: u64, total: u64, warmup: u64, peak: f64, schedule: Schedule) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => {
            let remaining = total.saturating_sub(step) as f64;
            peak * remaining / total.saturating_sub(warmup).max(1) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_zero() {
        let linear =
            |step, total, warmup, peak| learning_rate(step, total, warmup, peak, Schedule::Linear);
        assert_eq!(linear(0, 100, 10, 1.0), 0.1);
        assert_eq!(linear(9, 100, 10, 1.0), 1.0);
        assert_eq!(linear(10, 100, 10, 1.0), 1.0);
        assert_eq!(linear(55, 100, 10, 1.0), 0.5);
        assert_eq!(linear(100, 100, 10, 1.0), 0.0);
        assert_eq!(linear(0, 5, 0, 2.0), 2.0);
    }

    #[test]
    fn a_constant_schedule_warms_up_then_keeps_the_peak() {
        let constant = |step| learning_rate(step, 100, 10, 1.0, Schedule::Constant);
        assert_eq!(constant(0), 0.1);
        assert_eq!(constant(9), 1.0);
        assert_eq!(constant(55), 1.0);
        assert_eq!(constant(99), 1.0);
    }
}
