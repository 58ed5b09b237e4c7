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
        return src
            .par_iter()
            .with_min_len(MIN_PARALLEL / 4)
            .map(|&x| f(x))
            .collect();
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

/// Leading rows of `nest` per parallel chunk when its `numel` elements are worth splitting
/// (at least two chunks of at least `MIN_PARALLEL / 4` elements); `None` runs serially.
#[cfg(feature = "rayon")]
fn rows_per_chunk(nest: &crate::zip::ZipNest, numel: usize) -> Option<usize> {
    if numel < MIN_PARALLEL || nest.ndim == 0 || nest.shape[0] < 2 {
        return None;
    }
    let row = numel / nest.shape[0];
    Some(chunk_len(numel).div_ceil(row).max(1))
}

/// `nest` restricted to leading rows `start..start + rows`, its lhs rebased to `lhs_offset`.
#[cfg(feature = "rayon")]
fn rows_of(
    nest: &crate::zip::ZipNest,
    start: usize,
    rows: usize,
    lhs_offset: usize,
) -> crate::zip::ZipNest {
    let mut sub = *nest;
    sub.shape[0] = rows;
    sub.lhs_offset = lhs_offset;
    sub.rhs_offset = (nest.rhs_offset as isize + start as isize * nest.rhs_strides[0]) as usize;
    sub
}

/// [`crate::zip::zip_apply_inplace`] split over the rayon pool by leading rows when large.
/// The destination is dense from index 0 (the caller checked), so each chunk of rows is one
/// slice of it.
pub(crate) fn zip_nest_inplace<D: Copy + Send, S: Copy + Sync>(
    nest: &crate::zip::ZipNest,
    dst: &mut [D],
    src: &[S],
    op: impl Fn(D, S) -> D + Sync + Send,
) {
    #[cfg(feature = "rayon")]
    {
        let numel: usize = nest.shape[..nest.ndim].iter().product();
        if let Some(rows) = rows_per_chunk(nest, numel) {
            use rayon::prelude::*;
            let row = numel / nest.shape[0];
            dst[..numel]
                .par_chunks_mut(rows * row)
                .enumerate()
                .for_each(|(i, chunk)| {
                    let sub = rows_of(nest, i * rows, chunk.len() / row, 0);
                    crate::zip::zip_apply_inplace(&sub, chunk, src, &op);
                });
            return;
        }
    }
    crate::zip::zip_apply_inplace(nest, dst, src, op)
}

/// [`crate::zip::zip_map`] split over the rayon pool by leading rows of the output when large;
/// `None` where the layouts do not collapse (the caller falls back).
pub(crate) fn zip_nest_map<E: Copy + Sync, R: Copy + Default + Send>(
    lhs: &[E],
    lhs_layout: &crate::layout::Layout,
    rhs: &[E],
    rhs_layout: &crate::layout::Layout,
    op: impl Fn(E, E) -> R + Sync + Send,
) -> Option<Vec<R>> {
    #[cfg(feature = "rayon")]
    {
        let numel = lhs_layout.num_elements();
        if numel >= MIN_PARALLEL {
            let nest = crate::zip::collapse_for_zip(lhs_layout, rhs_layout)?;
            if let Some(rows) = rows_per_chunk(&nest, numel) {
                use rayon::prelude::*;
                let row = numel / nest.shape[0];
                let mut out = vec![R::default(); numel];
                out.par_chunks_mut(rows * row)
                    .enumerate()
                    .for_each(|(i, chunk)| {
                        let start = i * rows;
                        let lhs_offset = (nest.lhs_offset as isize
                            + start as isize * nest.lhs_strides[0])
                            as usize;
                        let sub = rows_of(&nest, start, chunk.len() / row, lhs_offset);
                        fill(&sub, chunk, lhs, rhs, &op);
                    });
                return Some(out);
            }
        }
    }
    crate::zip::zip_map(lhs, lhs_layout, rhs, rhs_layout, op)
}

/// Writes `op(lhs, rhs)` over `nest` (at least one dim, none empty) into `out` in row-major
/// order, the inner loop specialised on the stride pair as in [`crate::zip::zip_map`].
#[cfg(feature = "rayon")]
fn fill<E: Copy, R>(
    nest: &crate::zip::ZipNest,
    out: &mut [R],
    lhs: &[E],
    rhs: &[E],
    op: impl Fn(E, E) -> R,
) {
    let (len, l_st, r_st) = nest.inner();
    let mut runs = out.chunks_exact_mut(len);
    let mut next = || runs.next().expect("the output holds every run");
    match (l_st, r_st) {
        (1, 1) => nest.for_each_run(|lb, rb| {
            let o = next();
            for ((o, &a), &b) in o.iter_mut().zip(&lhs[lb..lb + len]).zip(&rhs[rb..rb + len]) {
                *o = op(a, b);
            }
        }),
        (1, 0) => nest.for_each_run(|lb, rb| {
            let (o, b) = (next(), rhs[rb]);
            for (o, &a) in o.iter_mut().zip(&lhs[lb..lb + len]) {
                *o = op(a, b);
            }
        }),
        (0, 1) => nest.for_each_run(|lb, rb| {
            let (o, a) = (next(), lhs[lb]);
            for (o, &b) in o.iter_mut().zip(&rhs[rb..rb + len]) {
                *o = op(a, b);
            }
        }),
        _ => nest.for_each_run(|lb, rb| {
            for (i, o) in next().iter_mut().enumerate() {
                *o = op(lhs[lb + i * l_st as usize], rhs[rb + i * r_st as usize]);
            }
        }),
    }
}
