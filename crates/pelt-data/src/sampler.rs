//! Temperature sampling across tasks: which task (or tasks) fill each training batch.
//!
//! Task `i` with `n_i` training examples is drawn with `p_i ∝ (n_i / Σn)^(1/T)` (docs/method.md §6;
//! `T = 1` is proportional, large `T` uniform). By default one task fills a whole batch
//! (HyperFormer); mixed batches draw the task of every example independently. Within a task,
//! examples are visited epoch by epoch in a permutation seeded by (seed, task, epoch), so every
//! example is seen once per epoch.
//!
//! Every draw is a pure function of (seed, step, slot): a run restarted with
//! [`TemperatureSampler::resume`] at step `s` produces exactly the batches the original run
//! produced from step `s` on.

use crate::error::{DataError, Result};
use crate::rng::{mix_seed, randperm};

/// Sampler settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Examples per batch.
    pub batch_size: usize,
    /// Sampling temperature `T` (spec default 10).
    pub temperature: f64,
    /// Draw the task of each example separately instead of one task per batch.
    pub mixed: bool,
    /// Seed of every draw.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            temperature: 10.0,
            mixed: false,
            seed: 42,
        }
    }
}

/// The examples of one batch: `(task index, example index in that task's training set)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    /// Training step this batch is for (0-based).
    pub step: u64,
    /// One entry per batch row.
    pub items: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct Cursor {
    epoch: u64,
    position: usize,
    order: Vec<usize>,
}

/// Deterministic, resumable temperature sampler; an endless iterator of [`BatchPlan`]s.
#[derive(Debug, Clone)]
pub struct TemperatureSampler {
    sizes: Vec<usize>,
    cumulative: Vec<f64>,
    config: SamplerConfig,
    step: u64,
    cursors: Vec<Cursor>,
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / 9_007_199_254_740_992.0
}

impl TemperatureSampler {
    /// A sampler over tasks with `sizes[i]` training examples, starting at step 0.
    pub fn new(sizes: &[usize], config: SamplerConfig) -> Result<Self> {
        if sizes.is_empty() {
            return Err(DataError::EmptyDataset {
                what: "the task mixture".to_owned(),
            });
        }
        if let Some(i) = sizes.iter().position(|&n| n == 0) {
            return Err(DataError::EmptyDataset {
                what: format!("training set of task {i} in the mixture"),
            });
        }
        if config.batch_size == 0 || config.temperature.is_nan() || config.temperature <= 0.0 {
            return Err(DataError::Config(format!(
                "sampler needs batch_size > 0 and temperature > 0 (got {} and {})",
                config.batch_size, config.temperature
            )));
        }
        let total: usize = sizes.iter().sum();
        let weights: Vec<f64> = sizes
            .iter()
            .map(|&n| (n as f64 / total as f64).powf(1.0 / config.temperature))
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / sum;
                acc
            })
            .collect();
        let cursors = (0..sizes.len())
            .map(|t| Cursor {
                epoch: 0,
                position: 0,
                order: randperm(sizes[t], mix_seed(&[config.seed, t as u64, 0])),
            })
            .collect();
        Ok(Self {
            sizes: sizes.to_vec(),
            cumulative,
            config,
            step: 0,
            cursors,
        })
    }

    /// A sampler positioned at `step`, as if `step` batches had been drawn.
    pub fn resume(sizes: &[usize], config: SamplerConfig, step: u64) -> Result<Self> {
        let mut sampler = Self::new(sizes, config)?;
        let mut consumed = vec![0u64; sizes.len()];
        for s in 0..step {
            for slot in 0..sampler.tasks_per_batch() {
                consumed[sampler.task_at(s, slot)] += sampler.rows_per_task() as u64;
            }
        }
        for (t, &used) in consumed.iter().enumerate() {
            let n = sizes[t] as u64;
            let epoch = used / n;
            sampler.cursors[t] = Cursor {
                epoch,
                position: (used % n) as usize,
                order: randperm(sizes[t], mix_seed(&[config.seed, t as u64, epoch])),
            };
        }
        sampler.step = step;
        Ok(sampler)
    }

    /// The sampling probability of each task.
    pub fn probabilities(&self) -> Vec<f64> {
        let mut prev = 0.0;
        self.cumulative
            .iter()
            .map(|&c| {
                let p = c - prev;
                prev = c;
                p
            })
            .collect()
    }

    /// The step of the next batch.
    pub fn step(&self) -> u64 {
        self.step
    }

    fn tasks_per_batch(&self) -> usize {
        if self.config.mixed {
            self.config.batch_size
        } else {
            1
        }
    }

    fn rows_per_task(&self) -> usize {
        if self.config.mixed {
            1
        } else {
            self.config.batch_size
        }
    }

    fn task_at(&self, step: u64, slot: usize) -> usize {
        let u = unit(mix_seed(&[self.config.seed, step, slot as u64, 0x7a5c]));
        self.cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cumulative.len() - 1)
    }

    fn next_example(&mut self, task: usize) -> usize {
        let seed = self.config.seed;
        let cursor = &mut self.cursors[task];
        if cursor.position == cursor.order.len() {
            cursor.epoch += 1;
            cursor.position = 0;
            cursor.order = randperm(
                self.sizes[task],
                mix_seed(&[seed, task as u64, cursor.epoch]),
            );
        }
        let index = cursor.order[cursor.position];
        cursor.position += 1;
        index
    }
}

impl Iterator for TemperatureSampler {
    type Item = BatchPlan;

    fn next(&mut self) -> Option<BatchPlan> {
        let step = self.step;
        let mut items = Vec::with_capacity(self.config.batch_size);
        for slot in 0..self.tasks_per_batch() {
            let task = self.task_at(step, slot);
            for _ in 0..self.rows_per_task() {
                items.push((task, self.next_example(task)));
            }
        }
        self.step += 1;
        Some(BatchPlan { step, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mixed: bool) -> SamplerConfig {
        SamplerConfig {
            batch_size: 4,
            temperature: 10.0,
            mixed,
            seed: 7,
        }
    }

    #[test]
    fn probabilities_follow_the_temperature_formula() {
        let sizes = [100, 10_000];
        let s = TemperatureSampler::new(&sizes, config(false)).unwrap();
        let w: Vec<f64> = sizes
            .iter()
            .map(|&n| (n as f64 / 10_100.0).powf(0.1))
            .collect();
        let p = s.probabilities();
        assert!((p[0] - w[0] / (w[0] + w[1])).abs() < 1e-12);
        let t1 = SamplerConfig {
            temperature: 1.0,
            ..config(false)
        };
        let p1 = TemperatureSampler::new(&sizes, t1).unwrap().probabilities();
        assert!((p1[0] - 100.0 / 10_100.0).abs() < 1e-12);
    }

    #[test]
    fn empirical_frequencies_match_probabilities() {
        let sizes = [50, 500, 5000];
        let mut s = TemperatureSampler::new(&sizes, config(true)).unwrap();
        let p = s.probabilities();
        let mut counts = [0usize; 3];
        for plan in s.by_ref().take(5000) {
            for (t, _) in plan.items {
                counts[t] += 1;
            }
        }
        for t in 0..3 {
            let freq = counts[t] as f64 / 20_000.0;
            assert!((freq - p[t]).abs() < 0.015, "task {t}: {freq} vs {}", p[t]);
        }
    }

    #[test]
    fn one_task_per_batch_and_each_epoch_covers_every_example() {
        let mut s = TemperatureSampler::new(&[6], config(false)).unwrap();
        let first: Vec<usize> = s
            .by_ref()
            .take(3)
            .flat_map(|p| p.items)
            .map(|(_, i)| i)
            .collect();
        let mut epoch0 = first[..6].to_vec();
        epoch0.sort_unstable();
        assert_eq!(epoch0, (0..6).collect::<Vec<_>>());
        let mut s = TemperatureSampler::new(&[10, 10], config(false)).unwrap();
        for plan in s.by_ref().take(20) {
            assert!(plan.items.iter().all(|&(t, _)| t == plan.items[0].0));
        }
    }

    #[test]
    fn resume_reproduces_the_rest_of_the_run() {
        for mixed in [false, true] {
            let sizes = [7, 30, 3];
            let full: Vec<BatchPlan> = TemperatureSampler::new(&sizes, config(mixed))
                .unwrap()
                .take(40)
                .collect();
            let resumed: Vec<BatchPlan> = TemperatureSampler::resume(&sizes, config(mixed), 25)
                .unwrap()
                .take(15)
                .collect();
            assert_eq!(resumed, full[25..]);
            let again: Vec<BatchPlan> = TemperatureSampler::new(&sizes, config(mixed))
                .unwrap()
                .take(40)
                .collect();
            assert_eq!(again, full);
        }
    }

    #[test]
    fn bad_configurations_are_errors() {
        assert!(TemperatureSampler::new(&[], config(false)).is_err());
        assert!(TemperatureSampler::new(&[3, 0], config(false)).is_err());
        let zero = SamplerConfig {
            batch_size: 0,
            ..config(false)
        };
        assert!(TemperatureSampler::new(&[3], zero).is_err());
    }
}
