//! Rayon paths for large element-wise kernels (hyperpelt-rs patch; see `vendor/README.md` in
//! hyperpelt-rs). Below [`MIN_PARALLEL`] elements, or without the `rayon` feature, every
//! helper runs its closure once over the whole slice, exactly as the unpatched kernels did.

/// Elements from which a kernel is split across the rayon pool: below this the hand-off
/// costs more than the work.
#[cfg(feature = "rayon")]
pub(crate) const MIN_PARALLEL: usize = 1 << 15;

/// Chunk length that gives every rayon thread a few chunks of at least `MIN_PARALLEL / 4`.
#[cfg(feature = "rayon")]
fn chunk_len(len: usize) -> usize {
    len.div_ceil(4 * rayon::current_num_threads())
        .max(MIN_PARALLEL / 4)
}

/// Calls `f` on consecutive chunks of `out`, in parallel when `out` is large.
pub(crate) fn for_chunks<E: Send>(out: &mut [E], f: impl Fn(&mut [E]) + Sync + Send) {
    #[cfg(feature = "rayon")]
    if out.len() >= MIN_PARALLEL {
        use rayon::prelude::*;
        let chunk = chunk_len(out.len());
        out.par_chunks_mut(chunk).for_each(f);
        return;
    }
    f(out)
}

/// Calls `f` on consecutive chunks of `out` and the matching chunks of `src` (same length),
/// in parallel when `out` is large.
pub(crate) fn zip_chunks<E: Send, R: Sync>(
    out: &mut [E],
    src: &[R],
    f: impl Fn(&mut [E], &[R]) + Sync + Send,
) {
    debug_assert_eq!(out.len(), src.len());
    #[cfg(feature = "rayon")]
    if out.len() >= MIN_PARALLEL {
        use rayon::prelude::*;
        let chunk = chunk_len(out.len());
        out.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(o, s)| f(o, s));
        return;
    }
    f(out, src)
}

/// `src.map(f)` collected into a new vector, in parallel when `src` is large.
pub(crate) fn map<E: Copy + Sync, R: Send>(src: &[E], f: impl Fn(E) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if src.len() >= MIN_PARALLEL {
        use rayon::prelude::*;
        return src.par_iter().with_min_len(MIN_PARALLEL / 4).map(|&x| f(x)).collect();
    }
    src.iter().map(|&x| f(x)).collect()
}

/// `lhs.zip(rhs).map(f)` collected into a new vector, in parallel when large.
pub(crate) fn zip_map<E: Copy + Sync, R: Send>(
    lhs: &[E],
    rhs: &[E],
    f: impl Fn(E, E) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if lhs.len() >= MIN_PARALLEL {
        use rayon::prelude::*;
        return lhs
            .par_iter()
            .zip(rhs.par_iter())
            .with_min_len(MIN_PARALLEL / 4)
            .map(|(&a, &b)| f(a, b))
            .collect();
    }
    lhs.iter().zip(rhs).map(|(&a, &b)| f(a, b)).collect()
}
