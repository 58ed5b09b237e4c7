//! The optimiser's side of a step: AdamW fused into one pass per parameter on the CPU
//! (`adamw.rs`), the learning-rate schedule (`schedule.rs`), and what Burn leaves to us about
//! gradients, global-norm clipping and parameter ids that survive a restart (`gradients.rs`).

pub(crate) mod adamw;
pub(crate) mod gradients;
pub(crate) mod schedule;
