//! Train/validation/test splits of docs/method.md §9, identical to HyperFormer's for a seed.
//!
//! HyperFormer draws both partitions with `torch.randperm(n)` seeded with the run seed (42 by
//! default); [`crate::rng::randperm`] reproduces that permutation, so the examples in each split
//! are exactly the reference ones, in the same order.

use crate::error::{DataError, Result};
use crate::rng::randperm;

fn pick<T>(items: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.iter().filter_map(|&i| slots[i].take()).collect()
}

/// Shuffles a small official validation set and halves it: `(validation, test)`.
///
/// Validation is the first `n / 2` of the permutation, test the rest (the larger half when `n`
/// is odd), as in the reference code.
pub fn halve_validation<T>(validation: Vec<T>, seed: u64) -> (Vec<T>, Vec<T>) {
    let n = validation.len();
    let perm = randperm(n, seed);
    let mut shuffled = pick(validation, &perm);
    let test = shuffled.split_off(n / 2);
    (shuffled, test)
}

/// Moves `count` shuffled training examples to validation: `(train, validation)`.
///
/// Fails when the training set is not larger than `count`, since training would be left empty.
pub fn hold_out_train<T>(train: Vec<T>, count: usize, seed: u64) -> Result<(Vec<T>, Vec<T>)> {
    let n = train.len();
    if n <= count {
        return Err(DataError::Config(format!(
            "cannot hold out {count} validation examples from a training set of {n}"
        )));
    }
    let perm = randperm(n, seed);
    let mut shuffled = pick(train, &perm);
    let rest = shuffled.split_off(count);
    Ok((rest, shuffled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_partitions_deterministically() {
        let items: Vec<usize> = (0..11).collect();
        let (val, test) = halve_validation(items.clone(), 42);
        assert_eq!(val.len(), 5);
        assert_eq!(test.len(), 6);
        let mut all: Vec<usize> = val.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, items);
        assert_eq!(halve_validation(items.clone(), 42), (val.clone(), test));
        assert_ne!(halve_validation(items, 1).0, val);
    }

    #[test]
    fn hold_out_removes_validation_from_training() {
        let items: Vec<usize> = (0..50).collect();
        let (train, val) = hold_out_train(items, 10, 42).unwrap();
        assert_eq!(val.len(), 10);
        assert_eq!(train.len(), 40);
        assert!(val.iter().all(|v| !train.contains(v)));
        assert!(hold_out_train(vec![1, 2, 3], 3, 42).is_err());
    }
}
