//! Bicubic resizing with Pillow's arithmetic, which `CLIPImageProcessor` resizes with.
//!
//! Pillow resamples 8-bit images separably: a horizontal pass, then a vertical one, each
//! rounding back to 8 bits. Each output sample is a weighted sum of the input samples under
//! a cubic kernel (`a = -0.5`) centred on the output pixel's centre, with the kernel widened
//! by the scale factor when shrinking (antialiasing), weights normalised to sum to one and
//! applied in 22-bit fixed point. The `image` crate's resize keeps float intermediates and is
//! not bit-compatible with this; reproducing Pillow's arithmetic here makes the preprocessing
//! match Hugging Face's bit for bit on decoded pixels.

use std::ops::Range;

use image::RgbImage;

/// Fixed-point fraction bits of the weights (Pillow: 32 bits minus 8 for the sample minus 2
/// for headroom).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Half-width of the cubic kernel at scale 1.
const SUPPORT: f64 = 2.0;

/// The cubic convolution kernel with `a = -0.5` (Keys; Catmull-Rom).
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The taps of one output sample: the first input index and fixed-point weights.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Taps of the output samples `range` when resizing `input` samples to `output` samples.
fn taps(input: usize, output: usize, range: Range<usize>) -> Vec<Taps> {
    let scale = input as f64 / output as f64;
    let filter_scale = scale.max(1.0);
    let support = SUPPORT * filter_scale;
    range
        .map(|out| {
            let center = (out as f64 + 0.5) * scale;
            // Truncating casts, as Pillow's C does; both bounds are non-negative after clamping.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let last = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let inverse_scale = 1.0 / filter_scale;
            let raw: Vec<f64> = (first..last)
                .map(|x| cubic((x as f64 - center + 0.5) * inverse_scale))
                .collect();
            let total: f64 = raw.iter().sum();
            let unit = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|w| {
                    let w = if total != 0.0 { w / total } else { *w };
                    // Round half away from zero, then truncate, as Pillow does.
                    (if w < 0.0 {
                        w * unit - 0.5
                    } else {
                        w * unit + 0.5
                    }) as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// Sum of `samples` under `weights`, rounded and clamped to 8 bits.
fn apply(weights: &[i32], samples: impl Iterator<Item = u8>) -> u8 {
    let sum = weights
        .iter()
        .zip(samples)
        .fold(1i64 << (PRECISION_BITS - 1), |acc, (&w, s)| {
            acc + i64::from(w) * i64::from(s)
        });
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes along x to `width`, keeping output columns `cols`.
fn horizontal(src: &RgbImage, width: usize, cols: Range<usize>) -> RgbImage {
    let (in_width, height) = (src.width() as usize, src.height() as usize);
    let taps = taps(in_width, width, cols);
    let raw = src.as_raw();
    let out_width = taps.len();
    let mut out = vec![0u8; height * out_width * 3];
    for (y, row) in out.chunks_exact_mut(out_width * 3).enumerate() {
        let line = &raw[y * in_width * 3..(y + 1) * in_width * 3];
        for (tap, pixel) in taps.iter().zip(row.chunks_exact_mut(3)) {
            for (c, value) in pixel.iter_mut().enumerate() {
                let samples = line[tap.first * 3 + c..].iter().step_by(3).copied();
                *value = apply(&tap.weights, samples);
            }
        }
    }
    RgbImage::from_raw(out_width as u32, height as u32, out).expect("buffer sized for the image")
}

/// Resizes along y to `height`, keeping output rows `rows`.
fn vertical(src: &RgbImage, height: usize, rows: Range<usize>) -> RgbImage {
    let stride = src.width() as usize * 3;
    let taps = taps(src.height() as usize, height, rows);
    let raw = src.as_raw();
    let mut out = vec![0u8; taps.len() * stride];
    for (tap, row) in taps.iter().zip(out.chunks_exact_mut(stride)) {
        for (i, value) in row.iter_mut().enumerate() {
            let samples = raw[tap.first * stride + i..]
                .iter()
                .step_by(stride)
                .copied();
            *value = apply(&tap.weights, samples);
        }
    }
    RgbImage::from_raw(src.width(), taps.len() as u32, out).expect("buffer sized for the image")
}

/// Resizes `src` to `width × height` with Pillow's `Image.resize(..., BICUBIC)` arithmetic
/// and returns the window `cols × rows` of the result.
///
/// Every output pixel depends only on its own taps, so computing just the window that a
/// centre crop keeps gives the same pixels as resizing everything and cropping, without
/// allocating the full resized image (a 10000×3 sliver would otherwise resize to 746666×224).
/// Where Pillow skips the pass of an unchanged axis, the identity taps here copy it exactly.
pub fn resize_bicubic(
    src: &RgbImage,
    [width, height]: [usize; 2],
    cols: Range<usize>,
    rows: Range<usize>,
) -> RgbImage {
    vertical(&horizontal(src, width, cols), height, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_span_the_widened_kernel() {
        let unit = 1i64 << PRECISION_BITS;
        for (input, output) in [(300, 224), (37, 224), (1000, 7), (5, 5)] {
            let all = taps(input, output, 0..output);
            assert_eq!(all.len(), output);
            for tap in &all {
                let total: i64 = tap.weights.iter().map(|&w| i64::from(w)).sum();
                // Each weight is rounded separately, so the total is within a few units.
                assert!(
                    (total - unit).abs() <= tap.weights.len() as i64,
                    "{input}->{output}"
                );
                assert!(tap.first + tap.weights.len() <= input);
            }
        }
        // Shrinking 1000 -> 7 widens the kernel to about 4·1000/7 input samples.
        assert!(taps(1000, 7, 3..4)[0].weights.len() >= 570);
    }

    #[test]
    fn flat_images_stay_flat_and_same_size_is_a_copy() {
        let flat = RgbImage::from_pixel(13, 7, image::Rgb([200, 3, 77]));
        let resized = resize_bicubic(&flat, [40, 19], 0..40, 0..19);
        assert!(resized.pixels().all(|p| p.0 == [200, 3, 77]));
        let shrunk = resize_bicubic(&flat, [5, 2], 0..5, 0..2);
        assert!(shrunk.pixels().all(|p| p.0 == [200, 3, 77]));
        let noise = RgbImage::from_fn(9, 4, |x, y| image::Rgb([(x * 29 + y * 7) as u8, 1, 2]));
        assert_eq!(resize_bicubic(&noise, [9, 4], 0..9, 0..4), noise);
    }

    #[test]
    fn upscaling_overshoots_at_edges_and_clamps() {
        // Catmull-Rom rings at a hard edge; the ring must clamp to 0 and 255, not wrap.
        let edge = RgbImage::from_fn(4, 1, |x, _| {
            let v = if x < 2 { 0 } else { 255 };
            image::Rgb([v, v, v])
        });
        let row = resize_bicubic(&edge, [16, 1], 0..16, 0..1);
        let reds: Vec<u8> = row.pixels().map(|p| p.0[0]).collect();
        assert_eq!(reds[0], 0);
        assert_eq!(reds[15], 255);
        assert!(reds.windows(2).all(|w| w[0] <= w[1]), "{reds:?}");
    }

    #[test]
    fn a_window_equals_the_same_part_of_the_full_resize() {
        let noise = RgbImage::from_fn(31, 17, |x, y| {
            image::Rgb([(x * 37 + y * 11) as u8, (x * y) as u8, ((x ^ y) * 9) as u8])
        });
        for size in [[50, 23], [12, 7], [31, 40]] {
            let full = resize_bicubic(&noise, size, 0..size[0], 0..size[1]);
            let window = resize_bicubic(&noise, size, 3..9, 2..6);
            let expected = image::imageops::crop_imm(&full, 3, 2, 6, 4).to_image();
            assert_eq!(window, expected, "{size:?}");
        }
    }
}
