//! Few-shot training sets: K examples per class, picked by a seeded hash (`pelt train --shots`).

use crate::record::Example;
use std::collections::BTreeMap;

/// SplitMix64: a seeded, well-mixed hash of `x`.
fn mix(seed: u64, x: u64) -> u64 {
    let mut z = seed ^ x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The few-shot training set: `k` examples per distinct target, picked in a seeded random
/// order, kept in their original order.
pub fn few_shot(train: Vec<Example>, k: usize, seed: u64) -> Vec<Example> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.sort_by_key(|&i| mix(seed, i as u64));
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    let mut keep = vec![false; train.len()];
    for i in order {
        let n = per_target.entry(train[i].target.as_str()).or_default();
        if *n < k {
            *n += 1;
            keep[i] = true;
        }
    }
    train
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_shot_keeps_k_per_class_deterministically_in_order() {
        let train: Vec<Example> = (0..100)
            .map(|i| Example {
                id: i.to_string(),
                source: String::new(),
                target: ["a", "b", "c"][i % 3].to_string(),
                references: Vec::new(),
                images: Vec::new(),
            })
            .collect();
        let picked = few_shot(train.clone(), 4, 7);
        assert_eq!(picked.len(), 12);
        for class in ["a", "b", "c"] {
            assert_eq!(picked.iter().filter(|e| e.target == class).count(), 4);
        }
        let ids: Vec<usize> = picked.iter().map(|e| e.id.parse().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "original order: {ids:?}"
        );
        assert_eq!(
            picked,
            few_shot(train.clone(), 4, 7),
            "same seed, same pick"
        );
        assert_ne!(
            picked,
            few_shot(train.clone(), 4, 8),
            "another seed, another pick"
        );
        assert_eq!(
            few_shot(train, 1000, 7).len(),
            100,
            "k above a class size keeps it whole"
        );
    }
}
