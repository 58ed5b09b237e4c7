//! f32 products with inputs rounded to bf16 (hyperpelt-rs patch; see `vendor/README.md` and
//! `docs/precision.md` in hyperpelt-rs).
//!
//! Off by default. When switched on ([`set_bf16_products`]) on a CPU with AVX512-BF16, every
//! f32 product that would go to `gemm` rounds both operands to bf16 (round to nearest even)
//! and multiplies them in one of two kernels ([`Bf16Kernel`]), both with f32 accumulation:
//! AMX tiles (`tdpbf16ps`, 16 × 16 outputs of 16 bf16 pairs each per instruction) where the
//! CPU has AMX-BF16 and Linux grants the process the tile state, else AVX512-BF16's
//! `vdpbf16ps` (two bf16 pairs per f32 lane, twice the multiply-adds of an f32 FMA). Storage
//! and accumulation stay f32; only the products' inputs lose precision (8 significant bits).
//! Like the instructions, the kernels flush bf16 subnormal inputs and f32 subnormal sums to
//! zero.
//!
//! Both kernels pack the operands (bf16 pairs, zero-padded to whole panels) and split the
//! output in blocks over the rayon pool. The left operand is packed at every call, the right
//! one too, except that a 2-D product's right operand used again keeps its packing
//! (`bf16_rhs_cache`: a frozen weight is packed once per view for the run).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

/// The kernel that multiplies, where bf16 products are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX512-BF16's `vdpbf16ps` on 16-lane vectors (Intel since Cooper Lake, AMD since Zen 4).
    Avx512Bf16,
    /// AMX-BF16's `tdpbf16ps` on 16 × 16 tiles (Intel since Sapphire Rapids).
    Amx,
}

impl Bf16Kernel {
    /// The kernel's short name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Bf16 => "avx512-bf16",
            Self::Amx => "amx",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Avx512Bf16 => 1,
            Self::Amx => 2,
        }
    }
}

/// 0: off; otherwise [`Bf16Kernel::code`].
static KERNEL: AtomicU8 = AtomicU8::new(0);

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

/// Whether `kernel` can run here: AVX512-BF16 for both; for [`Bf16Kernel::Amx`] also AMX-BF16
/// and the tile state, which Linux grants a process on request (asked once, here).
pub fn bf16_kernel_supported(kernel: Bf16Kernel) -> bool {
    bf16_products_supported() && (kernel == Bf16Kernel::Avx512Bf16 || amx::usable())
}

/// Switches bf16 products on (with the fastest kernel this CPU has: AMX, else AVX512-BF16) or
/// off for every f32 product of this process that goes to `gemm` (forward and backward
/// alike). Returns `false`, and leaves them off, when `on` is asked of a CPU without
/// AVX512-BF16 ([`bf16_products_supported`]).
pub fn set_bf16_products(on: bool) -> bool {
    if !on {
        KERNEL.store(0, Ordering::Relaxed);
        return true;
    }
    set_bf16_kernel(Bf16Kernel::Amx) || set_bf16_kernel(Bf16Kernel::Avx512Bf16)
}

/// Switches bf16 products on with `kernel`. Returns `false`, and leaves the setting as it was,
/// when the kernel cannot run here ([`bf16_kernel_supported`]).
pub fn set_bf16_kernel(kernel: Bf16Kernel) -> bool {
    let supported = bf16_kernel_supported(kernel);
    if supported {
        KERNEL.store(kernel.code(), Ordering::Relaxed);
    }
    supported
}

/// The kernel of the f32 products now: `None` when they are f32 products.
pub fn bf16_kernel() -> Option<Bf16Kernel> {
    match KERNEL.load(Ordering::Relaxed) {
        1 => Some(Bf16Kernel::Avx512Bf16),
        2 => Some(Bf16Kernel::Amx),
        _ => None,
    }
}

/// Whether f32 products currently round their inputs to bf16.
pub fn bf16_products() -> bool {
    bf16_kernel().is_some()
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
/// Columns per panel of a packed right operand, in both kernels (the vector kernel's `NR`,
/// the AMX kernel's output block width).
const PANEL: usize = 32;
/// Pairs per AMX tile row (64 bytes): the AMX kernel's pairs are padded to a multiple of it.
const TILE_PAIRS: usize = 16;

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
        Self {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// SAFETY: `(i, j)` must lie inside the operand.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> f32 {
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// `op: [lines, k]` packed as panels of `W` lines: for panel `q`, pair `p`, line `l`, the
/// 32-bit lane `(op[q·W + l, 2p], op[q·W + l, 2p + 1])` as two bf16, the first in the low
/// half, at `(q · pairs + p) · W + l`. `pairs ≥ ⌈k / 2⌉` pairs and `rows ≥ lines` lines (a
/// multiple of `W`) are stored; lines and k past the end are zeros. `W = 1` is row-major
/// pairs. Where `op` is contiguous along k or along lines, 16 lanes at a time are rounded by
/// `vcvtne2ps2bf16`; the rest lane by lane. The buffer is not zeroed first: the padding is
/// written as zeros and every other lane by the packing (in debug builds the buffer is first
/// filled with bf16 NaNs, so a lane left out shows as NaN products in the tests).
///
/// SAFETY: `op` must hold `lines × k` elements; the CPU must have AVX512-BF16, F and BW.
unsafe fn pack<const W: usize>(
    op: Strided,
    lines: usize,
    k: usize,
    pairs: usize,
    rows: usize,
) -> Vec<u32> {
    let k2 = k.div_ceil(2);
    debug_assert!(pairs >= k2 && rows >= lines && rows.is_multiple_of(W));
    let len = rows * pairs;
    let mut packed: Vec<u32> = Vec::with_capacity(len);
    let out = &mut packed.spare_capacity_mut()[..len];
    #[cfg(debug_assertions)]
    out.fill(core::mem::MaybeUninit::new(0x7fc0_7fc0));
    let at = |l: usize, p: usize| ((l / W) * pairs + p) * W + l % W;
    // The padding: pairs past `k2` of every line, every pair of the lines past `lines`.
    for l in 0..rows {
        for p in if l < lines { k2 } else { 0 }..pairs {
            out[at(l, p)].write(0);
        }
    }
    // Lanes done 16 at a time, as `(lines_done, pairs_done)` from the origin: when contiguous
    // along k, every line and the first whole runs of 16 pairs; along lines, the first whole
    // runs of 16 lines and the pairs with both halves inside `k`.
    let (lines_done, pairs_done) = unsafe { x86::pack_runs::<W>(op, lines, k, pairs, out) };
    // The rest lane by lane: pairs from `pairs_done` of the first `lines_done` lines, every
    // pair of the lines after.
    for l in 0..lines {
        for p in if l < lines_done { pairs_done } else { 0 }..k2 {
            let lo = unsafe { op.at(l, 2 * p) };
            let hi = if 2 * p + 1 < k {
                unsafe { op.at(l, 2 * p + 1) }
            } else {
                0.0
            };
            out[at(l, p)]
                .write(u32::from(round_to_bf16(lo)) | (u32::from(round_to_bf16(hi)) << 16));
        }
    }
    // SAFETY: every lane is written: the padding above, `(l < lines_done, p < pairs_done)` by
    // `pack_runs`, the rest of `(l < lines, p < k2)` by the loop above.
    unsafe { packed.set_len(len) };
    packed
}

/// A right operand `[k, n]` packed for one kernel: panels of [`PANEL`] columns, `pairs` bf16
/// pairs each ([`pack`]'s layout), zero-padded to whole panels and, for AMX, to whole tiles of
/// pairs. Packed at each product, or kept for a weight that comes back (`bf16_rhs_cache`).
pub(crate) struct PackedRhs {
    kernel: Bf16Kernel,
    k: usize,
    n: usize,
    pairs: usize,
    lanes: Vec<u32>,
}

impl PackedRhs {
    /// `rhs: [k, n]` packed for `kernel`.
    ///
    /// SAFETY: `rhs` must hold `k × n` elements at its strides; the CPU must have
    /// AVX512-BF16, F and BW.
    pub(crate) unsafe fn new(kernel: Bf16Kernel, k: usize, n: usize, rhs: Strided) -> Self {
        let pairs = match kernel {
            Bf16Kernel::Avx512Bf16 => k.div_ceil(2),
            Bf16Kernel::Amx => k.div_ceil(2).next_multiple_of(TILE_PAIRS),
        };
        let rows = n.next_multiple_of(PANEL);
        // SAFETY: as this function's.
        let lanes = unsafe { pack::<PANEL>(rhs.transposed(), n, k, pairs, rows) };
        Self {
            kernel,
            k,
            n,
            pairs,
            lanes,
        }
    }

    /// Its packed lanes.
    #[cfg(test)]
    pub(crate) fn lanes(&self) -> &[u32] {
        &self.lanes
    }
}

/// A raw output pointer that the parallel blocks share; each writes only its own part of the
/// output (rows in the vector kernel, rows × columns in the AMX kernel).
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: blocks write disjoint parts of the output (see the two kernels).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The pointer (a method, so that closures capture the whole `Out`, which is `Sync`).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `dst[m, n] = lhs[m, k] · rhs[k, n]` with bf16-rounded inputs and f32 accumulation, by the
/// kernel switched on ([`bf16_kernel`]); `dst` rows are `dst_rs` apart, its columns
/// contiguous. Runs on the rayon pool when `parallel`.
///
/// SAFETY: the operands must hold `m × k` and `k × n` elements at their strides, `dst` must
/// be valid for writes of `m` rows of `n` and overlap neither, and bf16 products must be on.
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
    let kernel = bf16_kernel().expect("bf16 products are on");
    unsafe { product_with(kernel, m, n, k, dst, dst_rs, lhs, rhs, parallel) }
}

/// [`product`] by `kernel`. SAFETY: as [`product`], with `kernel` supported here.
#[allow(clippy::too_many_arguments)]
unsafe fn product_with(
    kernel: Bf16Kernel,
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
    // SAFETY: as this function's.
    unsafe {
        let rhs = PackedRhs::new(kernel, k, n, rhs);
        product_packed(m, dst, dst_rs, lhs, &rhs, parallel)
    }
}

/// [`product`] with the right operand `rhs: [k, n]` packed already (by the kernel it names).
///
/// SAFETY: `lhs` must hold `m × k` elements at its strides, `dst` must be valid for writes of
/// `m` rows of `n` (`dst_rs` apart) and overlap neither operand, and `rhs`'s kernel must be
/// supported here.
pub(crate) unsafe fn product_packed(
    m: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: Strided,
    rhs: &PackedRhs,
    parallel: bool,
) {
    if m == 0 || rhs.n == 0 {
        return;
    }
    let out = Out(dst);
    match rhs.kernel {
        Bf16Kernel::Avx512Bf16 => unsafe { vector_product(m, out, dst_rs, lhs, rhs, parallel) },
        Bf16Kernel::Amx => unsafe { amx::product(m, out, dst_rs, lhs, rhs, parallel) },
    }
}

/// Runs `block(0) .. block(count - 1)`, on the rayon pool when `parallel`.
fn for_blocks(count: usize, parallel: bool, block: impl Fn(usize) + Send + Sync) {
    #[cfg(feature = "rayon")]
    if parallel && count > 1 {
        use rayon::prelude::*;
        (0..count).into_par_iter().for_each(block);
        return;
    }
    let _ = parallel;
    (0..count).for_each(block);
}

/// The AVX512-BF16 kernel: `MR × NR` register tiles of `vdpbf16ps` over blocks of `KC` pairs,
/// rayon over blocks of `MC` rows. SAFETY: as [`product_packed`], `rhs` packed for this
/// kernel.
unsafe fn vector_product(
    m: usize,
    out: Out,
    dst_rs: isize,
    lhs: Strided,
    rhs: &PackedRhs,
    parallel: bool,
) {
    const { assert!(NR == PANEL) };
    let (n, k, k2, b) = (rhs.n, rhs.k, rhs.pairs, rhs.lanes.as_slice());
    let a = unsafe { pack::<MR>(lhs, m, k, k2, m.next_multiple_of(MR)) };
    let block = |bi: usize| {
        let i0 = bi * MC;
        let rows = MC.min(m - i0);
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
                        let c = out.get().offset((i0 + r0) as isize * dst_rs).add(jp * NR);
                        x86::tile(a, b, kc, c, dst_rs, MR.min(rows - r0), cols, p0 > 0);
                    }
                }
            }
        }
    };
    for_blocks(m.div_ceil(MC), parallel && m > MC, block);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, Strided};
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;
    use core::mem::transmute;

    /// `lo` and `hi` rounded to bf16 (`vcvtne2ps2bf16`): the 16 of `lo` in the low half.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn round(lo: __m512, hi: __m512) -> __m512i {
        // SAFETY: both are 512-bit vectors.
        unsafe { transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)) }
    }

    /// A 16 × 16 matrix of 32-bit lanes transposed: lane `j` of row `i` becomes lane `i` of
    /// row `j` (unpacks of 32 and 64 bits within 128-bit lanes, then two shuffles of them).
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        let mut a = r;
        for i in 0..8 {
            a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        // b[4i + q], 128-bit lane L: column 4L + q of rows 4i .. 4i + 3.
        let mut b = a;
        for i in 0..4 {
            let (x, y) = (4 * i, 4 * i + 2);
            b[4 * i] = _mm512_unpacklo_epi64(a[x], a[y]);
            b[4 * i + 1] = _mm512_unpackhi_epi64(a[x], a[y]);
            b[4 * i + 2] = _mm512_unpacklo_epi64(a[x + 1], a[y + 1]);
            b[4 * i + 3] = _mm512_unpackhi_epi64(a[x + 1], a[y + 1]);
        }
        let mut t = b;
        for q in 0..4 {
            let (x0, x1, x2, x3) = (b[q], b[4 + q], b[8 + q], b[12 + q]);
            let y0 = _mm512_shuffle_i32x4::<0x44>(x0, x1);
            let y1 = _mm512_shuffle_i32x4::<0xee>(x0, x1);
            let y2 = _mm512_shuffle_i32x4::<0x44>(x2, x3);
            let y3 = _mm512_shuffle_i32x4::<0xee>(x2, x3);
            t[q] = _mm512_shuffle_i32x4::<0x88>(y0, y2);
            t[4 + q] = _mm512_shuffle_i32x4::<0xdd>(y0, y2);
            t[8 + q] = _mm512_shuffle_i32x4::<0x88>(y1, y3);
            t[12 + q] = _mm512_shuffle_i32x4::<0xdd>(y1, y3);
        }
        t
    }

    /// The vector part of [`super::pack`]: rounds and stores the lanes it can take 16 at a
    /// time and returns which, as `(lines, pairs)` from the origin (`(0, 0)`: none). Where
    /// the 16 lanes a load gives are adjacent in the packing (row-major pairs along k, panels
    /// of a multiple of 16 lines along lines) they are stored as one vector; where they are
    /// not but the transposed 16 are (the other way round), 16 × 16 blocks are transposed in
    /// registers; otherwise lane by lane.
    ///
    /// SAFETY: as [`super::pack`]; `out` is its output, `pairs` its pairs per line.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn pack_runs<const W: usize>(
        op: Strided,
        lines: usize,
        k: usize,
        pairs: usize,
        out: &mut [MaybeUninit<u32>],
    ) -> (usize, usize) {
        let at = |l: usize, p: usize| ((l / W) * pairs + p) * W + l % W;
        // Row-major pairs hold 16 pairs of a line side by side; panels of 16k lines hold 16
        // lines of a pair side by side (from a line that is a multiple of 16).
        let (pairs_adjacent, lines_adjacent) = (W == 1, W.is_multiple_of(16));
        // Stores the 16 lanes of `v` at lines `l ..` of pair `p` (`along_lines`) or pairs
        // `p ..` of line `l`: as one vector where they are adjacent in the packing.
        let mut put = |v: __m512i, l: usize, p: usize, along_lines: bool| {
            let last = match along_lines {
                true => at(l + 15, p),
                false => at(l, p + 15),
            };
            if last == at(l, p) + 15 {
                // SAFETY: lanes `at(l, p) ..= last` are packed lanes inside `out`.
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(at(l, p)).cast(), v) };
                return;
            }
            let mut lanes = [0u32; 16];
            // SAFETY: 16 lanes.
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
            for (j, lane) in lanes.iter().enumerate() {
                let (l, p) = if along_lines { (l + j, p) } else { (l, p + j) };
                out[at(l, p)].write(*lane);
            }
        };
        let interleave = _mm512_set_epi16(
            31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
            4, 19, 3, 18, 2, 17, 1, 16, 0,
        );
        if op.cs == 1 {
            // Along k: 32 consecutive values of a line are 16 consecutive pairs.
            // SAFETY (caller): elements `2p .. 2p + 32 <= k` of line `l`.
            let load = |l: usize, p: usize| unsafe {
                let x = op.ptr.offset(l as isize * op.rs).add(2 * p);
                round(_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16)))
            };
            let done = k / 32 * 16;
            if lines_adjacent && !pairs_adjacent {
                let whole = lines / 16 * 16;
                for l in (0..whole).step_by(16) {
                    for p in (0..done).step_by(16) {
                        let t = transpose16(core::array::from_fn(|j| load(l + j, p)));
                        for (j, v) in t.into_iter().enumerate() {
                            put(v, l, p + j, true);
                        }
                    }
                }
                return (whole, done);
            }
            for l in 0..lines {
                for p in (0..done).step_by(16) {
                    put(load(l, p), l, p, false);
                }
            }
            (lines, done)
        } else if op.rs == 1 {
            // Along lines: 16 lines of values `2p` and `2p + 1`, interleaved into pairs.
            // SAFETY (caller): lines `l .. l + 16 <= lines` of values `2p + 1 < k`.
            let load = |l: usize, p: usize| unsafe {
                let x = op.ptr.add(l).offset(2 * p as isize * op.cs);
                let both = round(_mm512_loadu_ps(x), _mm512_loadu_ps(x.offset(op.cs)));
                _mm512_permutexvar_epi16(interleave, both)
            };
            let whole = lines / 16 * 16;
            if pairs_adjacent {
                let done = k / 32 * 16;
                for p in (0..done).step_by(16) {
                    for l in (0..whole).step_by(16) {
                        let t = transpose16(core::array::from_fn(|j| load(l, p + j)));
                        for (j, v) in t.into_iter().enumerate() {
                            put(v, l + j, p, false);
                        }
                    }
                }
                return (whole, done);
            }
            let done = k / 2;
            for p in 0..done {
                for l in (0..whole).step_by(16) {
                    put(load(l, p), l, p, true);
                }
            }
            (whole, done)
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
            let (b0, b1): (__m512bh, __m512bh) = unsafe {
                (
                    transmute::<__m512i, __m512bh>(b0),
                    transmute::<__m512i, __m512bh>(b1),
                )
            };
            // SAFETY: `p · MR + MR <= a.len()`, checked above.
            let pairs = unsafe { a.as_ptr().add(p * MR) };
            for (r, acc) in acc.iter_mut().enumerate() {
                let x: __m512bh = unsafe {
                    transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*pairs.add(r) as i32))
                };
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
        _: usize,
        _: &mut [core::mem::MaybeUninit<u32>],
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

/// The AMX kernel: 32 × 32 output blocks of 2 × 2 accumulator tiles, each summing the whole
/// of k in 16-pair steps (`tdpbf16ps` of a 16 × 16-pair left tile and a 16-pair × 16 right
/// tile), then copied out; rayon over tasks of `TASK_ROWS × TASK_COLS` outputs.
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
mod amx {
    use super::{Out, PANEL, PackedRhs, Strided, TILE_PAIRS, for_blocks, pack};
    use core::arch::asm;

    /// Rows and columns of an output block (2 × 2 tiles of 16 × 16 f32).
    const BLOCK: usize = 32;
    /// Output rows of one parallel task (a multiple of `BLOCK`).
    const TASK_ROWS: usize = 64;
    /// Output columns of one parallel task (a multiple of `BLOCK`).
    const TASK_COLS: usize = 256;

    /// Whether the CPU has AMX-BF16 and AMX-TILE and Linux granted this process the tile state
    /// (asked once per process).
    pub(super) fn usable() -> bool {
        static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *USABLE.get_or_init(|| {
            use core::arch::x86_64::{__cpuid_count, __get_cpuid_max};
            // CPUID leaf 7, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE.
            let edx = if __get_cpuid_max(0).0 >= 7 {
                __cpuid_count(7, 0).edx
            } else {
                0
            };
            edx & (1 << 22) != 0 && edx & (1 << 24) != 0 && request_tile_state()
        })
    }

    /// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: Linux (5.16 and later) lets a
    /// process use the 8 KiB of tile registers only after it asks; true when granted.
    fn request_tile_state() -> bool {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: a system call that only changes this process's permissions; it clobbers
        // rcx and r11 and returns in rax.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            )
        };
        ret == 0
    }

    /// Palette 1 with tiles 0 to 7 all of 16 rows × 64 bytes: 0-3 the accumulators, 4-5 the
    /// left operand's rows, 6-7 the right operand's columns.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    impl TileConfig {
        fn new() -> Self {
            let mut bytes = [0u8; 64];
            bytes[0] = 1;
            for tile in 0..8 {
                bytes[16 + 2 * tile] = 64;
                bytes[48 + tile] = 16;
            }
            Self(bytes)
        }
    }

    /// As [`super::product_packed`], with this kernel. SAFETY: as
    /// [`super::product_packed`], `rhs` packed for this kernel, and [`usable`] true.
    pub(super) unsafe fn product(
        m: usize,
        out: Out,
        dst_rs: isize,
        lhs: Strided,
        rhs: &PackedRhs,
        parallel: bool,
    ) {
        const { assert!(BLOCK == PANEL) };
        let (n, k, pairs, b) = (rhs.n, rhs.k, rhs.pairs, rhs.lanes.as_slice());
        // Left: row-major pairs, rows padded to whole blocks; right: panels of 32 columns.
        let a = unsafe { pack::<1>(lhs, m, k, pairs, m.next_multiple_of(BLOCK)) };
        let col_tasks = n.div_ceil(TASK_COLS);
        let task = |t: usize| {
            let (i0, j0) = ((t / col_tasks) * TASK_ROWS, (t % col_tasks) * TASK_COLS);
            let config = TileConfig::new();
            // SAFETY: a valid palette-1 configuration of this thread's tiles.
            unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack)) };
            let mut sums = [0f32; BLOCK * BLOCK];
            for j in (j0..n.min(j0 + TASK_COLS)).step_by(BLOCK) {
                for i in (i0..m.min(i0 + TASK_ROWS)).step_by(BLOCK) {
                    let (rows, cols) = (BLOCK.min(m - i), BLOCK.min(n - j));
                    // SAFETY: row `i`, column `j` of `dst`, whose rows this task owns.
                    let at = unsafe { out.get().offset(i as isize * dst_rs).add(j) };
                    // A whole block goes straight to `dst`; an edge block through `sums`.
                    let (to, stride) = match rows == BLOCK && cols == BLOCK && dst_rs > 0 {
                        true => (at, dst_rs as usize),
                        false => (sums.as_mut_ptr(), BLOCK),
                    };
                    // SAFETY: rows `i ..` of `a` and the panel of columns `j ..` of `b` hold
                    // a whole block each; `to` takes 32 rows of 32 at `stride`; the tiles are
                    // configured.
                    unsafe { block(&a[i * pairs..], &b[j * pairs..], pairs, to, stride) };
                    if to == at {
                        continue;
                    }
                    for (r, row) in sums.chunks_exact(BLOCK).take(rows).enumerate() {
                        // SAFETY: row `i + r < m`, columns `j .. j + cols <= n` of `dst`.
                        unsafe {
                            let at = at.offset(r as isize * dst_rs);
                            core::ptr::copy_nonoverlapping(row.as_ptr(), at, cols);
                        }
                    }
                }
            }
            // SAFETY: gives the tile state back (the kernel then need not save it).
            unsafe { asm!("tilerelease", options(nostack, nomem)) };
        };
        for_blocks(m.div_ceil(TASK_ROWS) * col_tasks, parallel, task);
    }

    /// One 32 × 32 block of sums, stored at `c` (rows `stride` elements apart): `a` from 32
    /// rows of `pairs` pairs (row-major), `b` from a panel of 32 columns (`pairs` rows of 32
    /// lanes).
    ///
    /// SAFETY: the tiles must be configured as [`TileConfig::new`]; `c` must be valid for
    /// writes of 32 rows of 32 f32, `stride` apart.
    unsafe fn block(a: &[u32], b: &[u32], pairs: usize, c: *mut f32, stride: usize) {
        assert!(a.len() >= BLOCK * pairs && b.len() >= BLOCK * pairs);
        let (a, b) = (a.as_ptr(), b.as_ptr());
        // SAFETY: every tile load reads 16 rows of 64 bytes inside `a` or `b` (checked above:
        // rows `0 .. 32` of `a` and pairs `0 .. pairs` of `b`); the stores write the 32 × 32
        // at `c` (the caller's promise).
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for p in (0..pairs).step_by(TILE_PAIRS) {
                asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a.add(p),
                    a1 = in(reg) a.add(16 * pairs + p),
                    sa = in(reg) pairs * 4,
                    b0 = in(reg) b.add(p * BLOCK),
                    b1 = in(reg) b.add(p * BLOCK + 16),
                    sb = in(reg) BLOCK * 4,
                    options(nostack, readonly),
                );
            }
            asm!(
                "tilestored [{c0} + {s}*1], tmm0",
                "tilestored [{c1} + {s}*1], tmm1",
                "tilestored [{c2} + {s}*1], tmm2",
                "tilestored [{c3} + {s}*1], tmm3",
                c0 = in(reg) c,
                c1 = in(reg) c.add(16),
                c2 = in(reg) c.add(16 * stride),
                c3 = in(reg) c.add(16 * stride + 16),
                s = in(reg) stride * 4,
                options(nostack),
            );
        }
    }
}

#[cfg(not(all(feature = "std", target_arch = "x86_64", target_os = "linux")))]
mod amx {
    use super::{Out, PackedRhs, Strided};

    /// AMX is used on Linux x86-64 only (the tile state is asked of Linux).
    pub(super) fn usable() -> bool {
        false
    }

    /// Never called: [`usable`] is false here.
    pub(super) unsafe fn product(_: usize, _: Out, _: isize, _: Strided, _: &PackedRhs, _: bool) {
        unreachable!("the AMX kernel is refused off Linux x86-64")
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
    #[allow(clippy::too_many_arguments)]
    fn check(
        kernel: Bf16Kernel,
        m: usize,
        n: usize,
        k: usize,
        lhs_t: bool,
        rhs_t: bool,
        parallel: bool,
    ) {
        let (a, b) = (matrix(m * k, 1 + m as u64), matrix(k * n, 2 + n as u64));
        let lhs = match lhs_t {
            false => Strided {
                ptr: a.as_ptr(),
                rs: k as isize,
                cs: 1,
            },
            true => Strided {
                ptr: a.as_ptr(),
                rs: 1,
                cs: m as isize,
            },
        };
        let rhs = match rhs_t {
            false => Strided {
                ptr: b.as_ptr(),
                rs: n as isize,
                cs: 1,
            },
            true => Strided {
                ptr: b.as_ptr(),
                rs: 1,
                cs: k as isize,
            },
        };
        let mut c = vec![f32::NAN; m * n];
        unsafe {
            product_with(
                kernel,
                m,
                n,
                k,
                c.as_mut_ptr(),
                n as isize,
                lhs,
                rhs,
                parallel,
            )
        };
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
                    "{kernel:?} [{m}x{k}]·[{k}x{n}] ({i}, {j}): {got} against {rounded} from rounded inputs"
                );
                assert!(
                    (got - exact).abs() <= (rounding + accumulation) * magnitude + 1e-30,
                    "{kernel:?} [{m}x{k}]·[{k}x{n}] ({i}, {j}): {got} against {exact}"
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
        assert_eq!(
            round_to_bf16(-f32::MIN_POSITIVE / 2.0),
            0x8000,
            "subnormals flush"
        );
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
        let values: Vec<f32> = (0..128)
            .map(|i| special[i % special.len()] * 1.5f32.powi(i as i32 % 3))
            .collect();
        let expect = |line: &dyn Fn(usize) -> f32| -> Vec<u32> {
            (0..32)
                .map(|p| {
                    u32::from(round_to_bf16(line(2 * p)))
                        | (u32::from(round_to_bf16(line(2 * p + 1))) << 16)
                })
                .collect()
        };
        for l in 0..2 {
            let by_rows = Strided {
                ptr: values.as_ptr(),
                rs: 64,
                cs: 1,
            };
            let packed = unsafe { pack::<MR>(by_rows, 2, 64, 32, MR) };
            let got: Vec<u32> = (0..32).map(|p| packed[p * MR + l]).collect();
            assert_eq!(
                got,
                expect(&|j| values[l * 64 + j]),
                "contiguous along k, line {l}"
            );
        }
        // The same values read as 32 lines contiguous along lines (k = 4).
        let by_columns = Strided {
            ptr: values.as_ptr(),
            rs: 1,
            cs: 32,
        };
        let packed = unsafe { pack::<NR>(by_columns, 32, 4, 2, NR) };
        for l in 0..32 {
            for p in 0..2 {
                let want = u32::from(round_to_bf16(values[2 * p * 32 + l]))
                    | (u32::from(round_to_bf16(values[(2 * p + 1) * 32 + l])) << 16);
                assert_eq!(
                    packed[p * NR + l],
                    want,
                    "contiguous along lines, line {l}, pair {p}"
                );
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
        let kernels = [Bf16Kernel::Avx512Bf16, Bf16Kernel::Amx];
        let kernels: Vec<_> = kernels
            .into_iter()
            .filter(|k| bf16_kernel_supported(*k))
            .collect();
        eprintln!("kernels of this CPU: {kernels:?}");
        for kernel in kernels {
            // Tile and block edges: a single element, odd k, partial tiles and blocks, more
            // than one k block (KC pairs), more than one row block (MC rows) and task
            // (64 × 256 outputs), transposed storage on each side.
            for &(m, n, k) in &[
                (1, 1, 1),
                (1, 1, 2),
                (3, 5, 7),
                (8, 32, 16),
                (9, 33, 17),
                (17, 47, 513),
                (70, 65, 600),
                (33, 300, 40),
            ] {
                for (lhs_t, rhs_t) in [(false, false), (true, false), (false, true), (true, true)] {
                    check(kernel, m, n, k, lhs_t, rhs_t, false);
                }
            }
            check(kernel, 200, 290, 64, false, true, true);
            // An empty inner dimension gives zeros.
            let mut c = vec![f32::NAN; 6];
            let none = Strided {
                ptr: [].as_ptr(),
                rs: 0,
                cs: 1,
            };
            unsafe { product_with(kernel, 2, 3, 0, c.as_mut_ptr(), 3, none, none, false) };
            assert_eq!(c, vec![0.0; 6], "{kernel:?}");
        }
    }
}
