//! f32 products with inputs rounded to bf16 (hyperpelt-rs patch; see `vendor/README.md` and
//! `docs/precision.md` in hyperpelt-rs).
//!
//! Off by default. When switched on ([`set_bf16_products`]) on a CPU with AVX512-BF16, every
//! f32 product that would go to `gemm` rounds both operands to bf16 (round to nearest even)
//! and multiplies them with `vdpbf16ps`: each instruction takes two bf16 pairs per f32 lane and
//! adds both products to an f32 accumulator, twice the multiply-adds of an f32 FMA. Storage
//! and accumulation stay f32; only the products' inputs lose precision (8 significant bits).
//! Like the instruction, the kernel flushes bf16 subnormal inputs and f32 subnormal sums to
//! zero.
//!
//! The kernel packs both operands once per call (bf16 pairs, zero-padded to whole panels),
//! then runs a register-blocked micro-kernel of `MR × NR` outputs over blocks of `KC` pairs;
//! with rayon, row blocks of `MC` rows split over the pool.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether this CPU has the instructions the kernel needs (AVX512-BF16, AVX-512 F and BW).
pub fn bf16_products_supported() -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    {
        false
    }
}

/// Switches bf16 products on or off for every f32 product of this process that goes to `gemm`
/// (forward and backward alike). Returns `false`, and leaves them off, when `on` is asked of a
/// CPU without the instructions ([`bf16_products_supported`]).
pub fn set_bf16_products(on: bool) -> bool {
    let honoured = !on || bf16_products_supported();
    ENABLED.store(on && honoured, Ordering::Relaxed);
    honoured
}

/// Whether f32 products currently round their inputs to bf16.
pub fn bf16_products() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// `x` rounded to the nearest bf16 (ties to even), as its 16 bits, as `vcvtne2ps2bf16` rounds:
/// NaN stays a (quiet) NaN, f32 subnormals become zeros of their sign.
pub fn round_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    if x.is_subnormal() {
        return ((bits >> 16) & 0x8000) as u16;
    }
    // No overflow: the largest non-NaN pattern is 0xff80_0000.
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// Rows of the micro-kernel's output tile.
const MR: usize = 8;
/// Columns of the micro-kernel's output tile (two 16-lane registers).
const NR: usize = 32;
/// k-pairs per block: a `KC × NR` panel of the right operand is 32 KiB of bf16.
const KC: usize = 256;
/// Rows per parallel block (a multiple of `MR`).
const MC: usize = 64;

/// A strided f32 operand: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Strided {
    /// The same elements with rows and columns swapped.
    fn transposed(self) -> Self {
        Self { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }

    /// SAFETY: `(i, j)` must lie inside the operand.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> f32 {
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// `op: [lines, k]` packed as panels of `W` lines: for panel `q`, pair `p`, line `l`, the
/// 32-bit lane `(op[q·W + l, 2p], op[q·W + l, 2p + 1])` as two bf16, the first in the low
/// half; lines and k past the end are zeros. The left operand is packed by rows (`W = MR`),
/// the right one by columns (`op` its transpose, `W = NR`). Where `op` is contiguous along k
/// or along lines, 16 lanes at a time are rounded by `vcvtne2ps2bf16`; the rest lane by lane.
///
/// SAFETY: `op` must hold `lines × k` elements; the CPU must have the kernel's instructions.
unsafe fn pack<const W: usize>(op: Strided, lines: usize, k: usize) -> Vec<u32> {
    let k2 = k.div_ceil(2);
    let mut out = vec![0u32; lines.div_ceil(W) * k2 * W];
    let at = |l: usize, p: usize| ((l / W) * k2 + p) * W + l % W;
    // Lanes done 16 at a time: `(lines, pairs)` from the origin when contiguous along k
    // (every line, the first `pairs` pairs), or along lines (the first `lines` lines, every
    // pair with both halves inside `k`).
    let (lines_done, pairs_done) = unsafe { x86::pack_runs::<W>(op, lines, k, &mut out) };
    for l in 0..lines {
        for p in 0..k2 {
            if l < lines_done && p < pairs_done {
                continue;
            }
            let lo = unsafe { op.at(l, 2 * p) };
            let hi = if 2 * p + 1 < k {
                unsafe { op.at(l, 2 * p + 1) }
            } else {
                0.0
            };
            out[at(l, p)] = u32::from(round_to_bf16(lo)) | (u32::from(round_to_bf16(hi)) << 16);
        }
    }
    out
}

/// A raw output pointer that row blocks share; each block writes only its own rows.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: blocks write disjoint rows (see `product`).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// `dst[m, n] = lhs[m, k] · rhs[k, n]` with bf16-rounded inputs and f32 accumulation; `dst`
/// rows are `dst_rs` apart, its columns contiguous. Runs on the rayon pool when `parallel`.
///
/// SAFETY: the operands must hold `m × k` and `k × n` elements at their strides, `dst` must
/// be valid for writes of `m` rows of `n` and overlap neither, and [`bf16_products_supported`]
/// must be true.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: Strided,
    rhs: Strided,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (a, b) = unsafe { (pack::<MR>(lhs, m, k), pack::<NR>(rhs.transposed(), n, k)) };
    let k2 = k.div_ceil(2);
    let out = Out(dst);
    let block = |i0: usize| {
        let rows = MC.min(m - i0);
        let out = out;
        for p0 in (0..k2.max(1)).step_by(KC) {
            let kc = KC.min(k2 - p0.min(k2));
            for jp in 0..n.div_ceil(NR) {
                let cols = NR.min(n - jp * NR);
                let b = &b[(jp * k2 + p0) * NR..];
                for r0 in (0..rows).step_by(MR) {
                    let ip = (i0 + r0) / MR;
                    let a = &a[(ip * k2 + p0) * MR..];
                    // SAFETY: the panels hold `kc` pairs from `p0`; the tile's rows
                    // `i0 + r0 ..` and columns `jp·NR ..` lie inside `dst`.
                    unsafe {
                        let c = out.0.offset((i0 + r0) as isize * dst_rs).add(jp * NR);
                        x86::tile(a, b, kc, c, dst_rs, MR.min(rows - r0), cols, p0 > 0);
                    }
                }
            }
        }
    };
    #[cfg(feature = "rayon")]
    if parallel && m > MC {
        use rayon::prelude::*;
        (0..m.div_ceil(MC)).into_par_iter().for_each(|bi| block(bi * MC));
        return;
    }
    let _ = parallel;
    (0..m).step_by(MC).for_each(block);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, Strided};
    use core::arch::x86_64::*;

    /// `lo` and `hi` rounded to bf16 (`vcvtne2ps2bf16`): the 16 of `lo` in the low half.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn round(lo: __m512, hi: __m512) -> __m512i {
        // SAFETY: both are 512-bit vectors.
        unsafe { core::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo)) }
    }

    /// The vector part of [`super::pack`]: rounds and stores the lanes it can take 16 at a
    /// time and returns which, as `(lines, pairs)` from the origin (`(0, 0)`: none).
    ///
    /// SAFETY: as [`super::pack`]; `out` is its zeroed output.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn pack_runs<const W: usize>(
        op: Strided,
        lines: usize,
        k: usize,
        out: &mut [u32],
    ) -> (usize, usize) {
        let k2 = k.div_ceil(2);
        let at = |l: usize, p: usize| ((l / W) * k2 + p) * W + l % W;
        let mut lanes = [0u32; 16];
        if op.cs == 1 {
            // Along k: 32 consecutive values of a line are 16 consecutive pairs.
            let pairs = k / 32 * 16;
            for l in 0..lines {
                for p in (0..pairs).step_by(16) {
                    // SAFETY: elements `2p .. 2p + 32 <= k` of line `l`.
                    let v = unsafe {
                        let x = op.ptr.offset(l as isize * op.rs).add(2 * p);
                        round(_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16)))
                    };
                    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
                    for (j, lane) in lanes.iter().enumerate() {
                        out[at(l, p + j)] = *lane;
                    }
                }
            }
            (lines, pairs)
        } else if op.rs == 1 {
            // Along lines: 16 lines of values `2p` and `2p + 1`, interleaved into pairs.
            let (whole, pairs) = (lines / 16 * 16, k / 2);
            let interleave = _mm512_set_epi16(
                31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5,
                20, 4, 19, 3, 18, 2, 17, 1, 16, 0,
            );
            for p in 0..pairs {
                for l in (0..whole).step_by(16) {
                    // SAFETY: lines `l .. l + 16 <= lines` of values `2p + 1 < k`.
                    let v = unsafe {
                        let x = op.ptr.add(l).offset(2 * p as isize * op.cs);
                        let both = round(_mm512_loadu_ps(x), _mm512_loadu_ps(x.offset(op.cs)));
                        _mm512_permutexvar_epi16(interleave, both)
                    };
                    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
                    for (j, lane) in lanes.iter().enumerate() {
                        out[at(l + j, p)] = *lane;
                    }
                }
            }
            (whole, pairs)
        } else {
            (0, 0)
        }
    }

    /// One `MR × NR` output tile: `kc` pairs of the packed panels `a` (`MR` lanes per pair)
    /// and `b` (`NR` lanes per pair); stores `rows × cols` outputs at `c` (rows `c_rs` apart),
    /// added to what is there when `add`.
    ///
    /// SAFETY: `a` and `b` hold `kc` pairs; `c` is valid for `rows` rows of `cols`; the CPU
    /// has AVX512-BF16, F and BW.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile(
        a: &[u32],
        b: &[u32],
        kc: usize,
        c: *mut f32,
        c_rs: isize,
        rows: usize,
        cols: usize,
        add: bool,
    ) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR);
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..kc {
            // SAFETY: `p · NR + NR <= b.len()`, checked above.
            let (b0, b1) = unsafe {
                let at = b.as_ptr().add(p * NR);
                (
                    _mm512_loadu_si512(at.cast()),
                    _mm512_loadu_si512(at.add(16).cast()),
                )
            };
            let (b0, b1): (__m512bh, __m512bh) =
                unsafe { (core::mem::transmute(b0), core::mem::transmute(b1)) };
            // SAFETY: `p · MR + MR <= a.len()`, checked above.
            let pairs = unsafe { a.as_ptr().add(p * MR) };
            for (r, acc) in acc.iter_mut().enumerate() {
                let x: __m512bh =
                    unsafe { core::mem::transmute(_mm512_set1_epi32(*pairs.add(r) as i32)) };
                acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
                acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
            }
        }
        let mask = |from: usize| -> __mmask16 {
            match cols.saturating_sub(from) {
                0 => 0,
                n if n >= 16 => 0xffff,
                n => (1u16 << n) - 1,
            }
        };
        let (m0, m1) = (mask(0), mask(16));
        for (r, acc) in acc.iter().enumerate().take(rows) {
            // SAFETY: row `r < rows` of `c`, columns under the masks only.
            unsafe {
                let row = c.offset(r as isize * c_rs);
                let (mut v0, mut v1) = (acc[0], acc[1]);
                if add {
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row.add(16)));
                }
                _mm512_mask_storeu_ps(row, m0, v0);
                _mm512_mask_storeu_ps(row.add(16), m1, v1);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod x86 {
    /// Never called: [`super::bf16_products_supported`] is false off x86-64.
    pub(super) unsafe fn pack_runs<const W: usize>(
        _: super::Strided,
        _: usize,
        _: usize,
        _: &mut [u32],
    ) -> (usize, usize) {
        unreachable!("bf16 products are refused off x86-64")
    }

    /// Never called: [`super::bf16_products_supported`] is false off x86-64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile(
        _: &[u32],
        _: &[u32],
        _: usize,
        _: *mut f32,
        _: isize,
        _: usize,
        _: usize,
        _: bool,
    ) {
        unreachable!("bf16 products are refused off x86-64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix in [-1, 1).
    fn matrix(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn widen(h: u16) -> f64 {
        f64::from(f32::from_bits(u32::from(h) << 16))
    }

    /// Runs the kernel on `lhs [m, k]` (transposed storage when `lhs_t`) and `rhs [k, n]`
    /// (transposed when `rhs_t`) and checks every output against two f64 references: the exact
    /// product of the rounded inputs (only f32 accumulation error allowed) and the exact
    /// product of the f32 inputs (the bf16 rounding of each input allowed on top).
    fn check(m: usize, n: usize, k: usize, lhs_t: bool, rhs_t: bool, parallel: bool) {
        let (a, b) = (matrix(m * k, 1 + m as u64), matrix(k * n, 2 + n as u64));
        let lhs = match lhs_t {
            false => Strided { ptr: a.as_ptr(), rs: k as isize, cs: 1 },
            true => Strided { ptr: a.as_ptr(), rs: 1, cs: m as isize },
        };
        let rhs = match rhs_t {
            false => Strided { ptr: b.as_ptr(), rs: n as isize, cs: 1 },
            true => Strided { ptr: b.as_ptr(), rs: 1, cs: k as isize },
        };
        let mut c = vec![f32::NAN; m * n];
        unsafe { product(m, n, k, c.as_mut_ptr(), n as isize, lhs, rhs, parallel) };
        // Per-product error bounds: bf16 keeps 8 significant bits, so each rounded input is
        // within 2^-9 (relative) of its f32, a product of two within 2^-8 + 2^-18; an f32
        // sum of k terms adds at most k · 2^-24 of the sum of magnitudes (plus slack).
        let (rounding, accumulation) = (2f64.powi(-8) + 2f64.powi(-18), k as f64 * 2f64.powi(-23));
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut rounded, mut magnitude) = (0f64, 0f64, 0f64);
                for p in 0..k {
                    let (x, y) = unsafe { (lhs.at(i, p), rhs.at(p, j)) };
                    exact += f64::from(x) * f64::from(y);
                    rounded += widen(round_to_bf16(x)) * widen(round_to_bf16(y));
                    magnitude += (f64::from(x) * f64::from(y)).abs();
                }
                let got = f64::from(c[i * n + j]);
                assert!(
                    (got - rounded).abs() <= accumulation * magnitude + 1e-30,
                    "[{m}x{k}]·[{k}x{n}] ({i}, {j}): {got} against {rounded} from rounded inputs"
                );
                assert!(
                    (got - exact).abs() <= (rounding + accumulation) * magnitude + 1e-30,
                    "[{m}x{k}]·[{k}x{n}] ({i}, {j}): {got} against {exact}"
                );
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(round_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even 1.
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3 · 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even.
        assert_eq!(round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        assert_eq!(round_to_bf16(-2.0), 0xc000);
        assert_eq!(round_to_bf16(f32::MAX), 0x7f80, "overflows to infinity");
        assert_eq!(round_to_bf16(f32::INFINITY), 0x7f80);
        assert!(f32::from_bits(u32::from(round_to_bf16(f32::NAN)) << 16).is_nan());
        assert_eq!(round_to_bf16(-f32::MIN_POSITIVE / 2.0), 0x8000, "subnormals flush");
    }

    #[test]
    fn vector_and_lane_by_lane_packing_agree_on_special_values() {
        if !bf16_products_supported() {
            eprintln!("skipped: this CPU has no AVX512-BF16 (the switch refuses it)");
            return;
        }
        let special = [
            1.0 + 2f32.powi(-8),
            1.0 + 3.0 * 2f32.powi(-8),
            -0.0,
            f32::MAX,
            -f32::INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            f32::MIN_POSITIVE / 3.0,
            -1e-40,
            3.0e38,
            65504.0,
            -1.0 / 3.0,
        ];
        // 2 lines × 64 values: the vector runs cover them whole, by rows and by columns.
        let values: Vec<f32> = (0..128).map(|i| special[i % special.len()] * 1.5f32.powi(i as i32 % 3)).collect();
        let expect = |line: &dyn Fn(usize) -> f32| -> Vec<u32> {
            (0..32)
                .map(|p| u32::from(round_to_bf16(line(2 * p))) | (u32::from(round_to_bf16(line(2 * p + 1))) << 16))
                .collect()
        };
        for l in 0..2 {
            let by_rows = Strided { ptr: values.as_ptr(), rs: 64, cs: 1 };
            let packed = unsafe { pack::<MR>(by_rows, 2, 64) };
            let got: Vec<u32> = (0..32).map(|p| packed[p * MR + l]).collect();
            assert_eq!(got, expect(&|j| values[l * 64 + j]), "contiguous along k, line {l}");
        }
        // The same values read as 32 lines contiguous along lines (k = 4).
        let by_columns = Strided { ptr: values.as_ptr(), rs: 1, cs: 32 };
        let packed = unsafe { pack::<NR>(by_columns, 32, 4) };
        for l in 0..32 {
            for p in 0..2 {
                let want = u32::from(round_to_bf16(values[2 * p * 32 + l]))
                    | (u32::from(round_to_bf16(values[(2 * p + 1) * 32 + l])) << 16);
                assert_eq!(packed[p * NR + l], want, "contiguous along lines, line {l}, pair {p}");
            }
        }
    }

    #[test]
    fn products_match_f64_within_the_rounding() {
        if !bf16_products_supported() {
            eprintln!("skipped: this CPU has no AVX512-BF16 (the switch refuses it)");
            assert!(!set_bf16_products(true) && !bf16_products());
            return;
        }
        // Tile and block edges: a single element, odd k, partial tiles, more than one k block
        // (KC pairs) and more than one row block (MC rows), transposed storage on each side.
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 1, 2),
            (3, 5, 7),
            (8, 32, 16),
            (9, 33, 17),
            (17, 47, 513),
            (70, 65, 600),
        ] {
            for (lhs_t, rhs_t) in [(false, false), (true, false), (false, true), (true, true)] {
                check(m, n, k, lhs_t, rhs_t, false);
            }
        }
        check(200, 40, 64, false, true, true);
        // An empty inner dimension gives zeros.
        let mut c = vec![f32::NAN; 6];
        let none = Strided { ptr: [].as_ptr(), rs: 0, cs: 1 };
        unsafe { product(2, 3, 0, c.as_mut_ptr(), 3, none, none, false) };
        assert_eq!(c, vec![0.0; 6]);
    }
}
