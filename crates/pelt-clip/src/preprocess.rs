//! `ClipImageProcessor`: decoding with limits, then Hugging Face's `CLIPImageProcessor` steps.
//!
//! The steps and their arithmetic follow transformers 4.57 with Pillow: decode (see
//! [`crate::decode`]), convert to RGB, resize
//! the shortest side to `shortest_edge` (bicubic, see [`crate::resample`]), centre crop,
//! rescale by 1/255 (in f64, then f32) and normalise `(x - mean) / std` in f32.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use image::{DynamicImage, RgbImage};
use rayon::prelude::*;

use crate::decode::{decode_bytes, decode_image, to_rgb8};
use crate::error::ClipError;
use crate::resample::resize_bicubic;

/// CLIP's normalisation mean (OpenAI CLIP, used by every CLIP checkpoint's processor).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's normalisation standard deviation.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Largest accepted image width or height, in pixels, before anything is decoded.
pub const DEFAULT_MAX_SIDE: u32 = 16_384;
/// Largest accepted decoded image, in bytes (8192 × 8192 RGBA at 8 bits).
pub const DEFAULT_MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// One preprocessed image: `[3, height, width]` row-major f32, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelValues {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channel-major values, `3 * height * width` of them.
    pub data: Vec<f32>,
}

/// An image file's bytes held in memory (an image stored inside a Parquet file), with the name
/// that identifies it in errors (`shard.parquet#row 7, column image`).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedImage {
    /// Where the bytes came from.
    pub name: PathBuf,
    /// The encoded file (PNG, JPEG, ...), format guessed from its content.
    pub bytes: Vec<u8>,
}

/// CLIP's image processor: the same outputs as transformers' `CLIPImageProcessor`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipImageProcessor {
    /// Target of the shortest side of the resized image (`size.shortest_edge`).
    pub shortest_edge: usize,
    /// Centre crop `[height, width]` (`crop_size`); smaller images are padded with black.
    pub crop_size: [usize; 2],
    /// Per-channel mean subtracted after rescaling.
    pub image_mean: [f32; 3],
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub image_std: [f32; 3],
    /// Decoder limit on width and height (decompression-bomb guard).
    pub max_side: u32,
    /// Decoder limit on the decoded size in bytes (decompression-bomb guard).
    pub max_alloc: u64,
}

impl ClipImageProcessor {
    /// CLIP's processor for square model inputs of side `image_size` (224 for ViT-B/32).
    pub fn new(image_size: usize) -> Self {
        Self {
            shortest_edge: image_size,
            crop_size: [image_size, image_size],
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
            max_side: DEFAULT_MAX_SIDE,
            max_alloc: DEFAULT_MAX_ALLOC,
        }
    }

    /// Decodes an image file (format guessed from its content) within the limits.
    pub fn decode(&self, path: impl AsRef<Path>) -> Result<DynamicImage, ClipError> {
        decode_image(path.as_ref(), self.max_side, self.max_alloc)
    }

    /// Decodes an image held in memory exactly as [`Self::decode`] decodes a file with the
    /// same bytes.
    pub fn decode_encoded(&self, image: &EncodedImage) -> Result<DynamicImage, ClipError> {
        decode_bytes(&image.bytes, &image.name, self.max_side, self.max_alloc)
    }

    /// Decodes and preprocesses one image file.
    pub fn preprocess_file(&self, path: impl AsRef<Path>) -> Result<PixelValues, ClipError> {
        Ok(self.preprocess(&self.decode(path)?))
    }

    /// Decodes and preprocesses image files in parallel (one task per image, on all cores),
    /// into a `[batch, 3, crop_height, crop_width]` tensor on `device`. The first failing
    /// file, in order, is the error.
    pub fn preprocess_files<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
        device: &Device,
    ) -> Result<Tensor<4>, ClipError> {
        self.preprocess_all(paths, |path| self.decode(path), device)
    }

    /// [`Self::preprocess_files`] for images held in memory.
    pub fn preprocess_encoded(
        &self,
        images: &[EncodedImage],
        device: &Device,
    ) -> Result<Tensor<4>, ClipError> {
        self.preprocess_all(images, |image| self.decode_encoded(image), device)
    }

    fn preprocess_all<T: Sync>(
        &self,
        items: &[T],
        decode: impl Fn(&T) -> Result<DynamicImage, ClipError> + Sync,
        device: &Device,
    ) -> Result<Tensor<4>, ClipError> {
        let images: Vec<PixelValues> = items
            .par_iter()
            .map(|item| decode(item).map(|image| self.preprocess(&image)))
            .collect::<Result<_, _>>()?;
        Ok(self.to_tensor(images, device))
    }

    /// Stacks preprocessed images into `[batch, 3, crop_height, crop_width]`.
    pub fn to_tensor(&self, images: Vec<PixelValues>, device: &Device) -> Tensor<4> {
        let [height, width] = self.crop_size;
        let batch = images.len();
        let data: Vec<f32> = images.into_iter().flat_map(|image| image.data).collect();
        Tensor::from_data(TensorData::new(data, [batch, 3, height, width]), device)
    }

    /// Preprocesses a decoded image: RGB, resize, centre crop, rescale, normalise. An image
    /// without pixels (which [`Self::decode`] refuses) gives an all-black crop.
    pub fn preprocess(&self, image: &DynamicImage) -> PixelValues {
        let rgb = to_rgb8(image);
        if rgb.width() == 0 || rgb.height() == 0 {
            return self.normalise(&rgb, 0, 0);
        }
        let (width, height) = self.resized_size(rgb.width() as usize, rgb.height() as usize);
        let [crop_h, crop_w] = self.crop_size;
        // Offsets of the crop in the resized image; Python's floor division, and negative
        // when the crop is larger than the image, which is then padded with black.
        let top = (height as i64 - crop_h as i64).div_euclid(2);
        let left = (width as i64 - crop_w as i64).div_euclid(2);
        let kept = |start: i64, len: usize, size: usize| {
            start.max(0) as usize..((start + len as i64).max(0) as usize).min(size)
        };
        let rows = kept(top, crop_h, height);
        let cols = kept(left, crop_w, width);
        let window = resize_bicubic(&rgb, [width, height], cols.clone(), rows.clone());
        // The window's first row and column sit at these positions of the crop.
        let row0 = rows.start as i64 - top;
        let col0 = cols.start as i64 - left;
        self.normalise(&window, row0, col0)
    }

    /// Size after resizing the shortest side to `shortest_edge`, the other side scaled and
    /// truncated, as `get_resize_output_image_size` computes it: `(width, height)`.
    pub fn resized_size(&self, width: usize, height: usize) -> (usize, usize) {
        let (short, long) = (width.min(height), width.max(height));
        let new_short = self.shortest_edge;
        // Python: int(size * long / short), a float division of the exact product.
        let new_long = ((new_short * long) as f64 / short as f64) as usize;
        if width <= height {
            (new_short, new_long)
        } else {
            (new_long, new_short)
        }
    }

    /// Places `window` at (`row0`, `col0`) of a black crop, rescales and normalises.
    fn normalise(&self, window: &RgbImage, row0: i64, col0: i64) -> PixelValues {
        let [crop_h, crop_w] = self.crop_size;
        let (w, h) = (window.width() as i64, window.height() as i64);
        let mut data = vec![0.0f32; 3 * crop_h * crop_w];
        for c in 0..3 {
            let (mean, std) = (self.image_mean[c], self.image_std[c]);
            let plane = &mut data[c * crop_h * crop_w..(c + 1) * crop_h * crop_w];
            for (r, row) in plane.chunks_exact_mut(crop_w).enumerate() {
                let y = r as i64 - row0;
                for (col, value) in row.iter_mut().enumerate() {
                    let x = col as i64 - col0;
                    let sample = if (0..h).contains(&y) && (0..w).contains(&x) {
                        window.get_pixel(x as u32, y as u32).0[c]
                    } else {
                        0
                    };
                    // transformers rescales in f64 and casts to f32, then normalises in f32.
                    let rescaled = (f64::from(sample) * (1.0 / 255.0)) as f32;
                    *value = (rescaled - mean) / std;
                }
            }
        }
        PixelValues {
            height: crop_h,
            width: crop_w,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma};

    #[test]
    fn resized_size_matches_transformers() {
        let processor = ClipImageProcessor::new(224);
        // int(224 * 300 / 120) = 560; portrait the other way round; square unchanged.
        assert_eq!(processor.resized_size(300, 120), (560, 224));
        assert_eq!(processor.resized_size(37, 53), (224, 320));
        assert_eq!(processor.resized_size(500, 500), (224, 224));
        // A 1×10000 sliver: the long side follows the float division exactly.
        assert_eq!(processor.resized_size(10000, 3), (746_666, 224));
    }

    #[test]
    fn sixteen_bit_grey_equals_its_high_byte_in_eight_bits() {
        let processor = ClipImageProcessor::new(8);
        let deep = ImageBuffer::from_fn(12, 9, |x, y| Luma([(x * 5000 + y * 700) as u16]));
        let shallow = GrayImage::from_fn(12, 9, |x, y| Luma([((x * 5000 + y * 700) >> 8) as u8]));
        assert_eq!(
            processor.preprocess(&DynamicImage::ImageLuma16(deep)),
            processor.preprocess(&DynamicImage::ImageLuma8(shallow))
        );
    }

    #[test]
    fn an_image_without_pixels_gives_black_not_a_panic() {
        let processor = ClipImageProcessor::new(8);
        let out = processor.preprocess(&DynamicImage::ImageRgb8(RgbImage::new(0, 5)));
        let black = (0.0 - CLIP_MEAN[2]) / CLIP_STD[2];
        assert_eq!(out.data.len(), 3 * 64);
        assert!(out.data[128..].iter().all(|&v| v == black));
    }

    #[test]
    fn small_crops_are_padded_with_black() {
        // shortest_edge below the crop: the resized image sits centred in a black frame.
        let mut processor = ClipImageProcessor::new(4);
        processor.crop_size = [6, 5];
        let white = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, image::Rgb([255; 3])));
        let out = processor.preprocess(&white);
        let black = (0.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let white = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let red: Vec<f32> = out.data[..30].to_vec();
        // Rows 1..5 and columns 1..5 hold the image (transformers pads ceil(excess / 2)
        // before the image: the odd column of padding goes on the left).
        for r in 0..6 {
            for c in 0..5 {
                let inside = (1..5).contains(&r) && c >= 1;
                let expected = if inside { white } else { black };
                assert_eq!(red[r * 5 + c], expected, "row {r} col {c}");
            }
        }
    }
}
