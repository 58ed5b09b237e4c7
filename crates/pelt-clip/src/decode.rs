//! Decoding image files safely: size limits, truncation, and Pillow's conversion to RGB.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::ClipError;

/// Decodes the image file `path` (format guessed from its content), refusing files that
/// declare more than `max_side` pixels per side or would decode to more than `max_alloc`
/// bytes (checked from the header, before pixel data is decoded), and truncated files.
pub(crate) fn decode_image(
    path: &Path,
    max_side: u32,
    max_alloc: u64,
) -> Result<DynamicImage, ClipError> {
    let io = |source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > max_alloc {
        return Err(ClipError::ImageTooLarge {
            path: path.to_path_buf(),
            reason: format!("the file alone is {size} bytes"),
            max_side,
            max_alloc,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode_bytes(&bytes, path, max_side, max_alloc)
}

/// Decodes an image held in memory exactly as [`decode_image`] decodes a file with these bytes
/// (an image stored inside a Parquet file); `name` says where the bytes came from in errors.
pub(crate) fn decode_bytes(
    bytes: &[u8],
    name: &Path,
    max_side: u32,
    max_alloc: u64,
) -> Result<DynamicImage, ClipError> {
    let too_large = |reason: String| ClipError::ImageTooLarge {
        path: name.to_path_buf(),
        reason,
        max_side,
        max_alloc,
    };
    let undecodable = |reason: String| ClipError::Image {
        path: name.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > max_alloc {
        return Err(too_large(format!(
            "the data alone is {} bytes",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(undecodable("the data is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ClipError::Io {
            path: name.to_path_buf(),
            source,
        })?;
    // zune-jpeg (behind `image`) decodes a truncated JPEG without complaint, filling the
    // missing part with grey; Pillow refuses it ("image file is truncated"), and so do we.
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(undecodable(
            "truncated JPEG: the data ends before the end-of-image marker".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    let image = reader.decode().map_err(|error| match error {
        ImageError::Limits(limit) => too_large(limit.to_string()),
        // Reading from memory, an I/O error means the data ended early.
        ImageError::IoError(e) => undecodable(format!("truncated or unreadable data: {e}")),
        other => undecodable(other.to_string()),
    })?;
    if image.width() == 0 || image.height() == 0 {
        return Err(undecodable(format!(
            "the image has no pixels ({}×{})",
            image.width(),
            image.height()
        )));
    }
    Ok(image)
}

/// Whether a JPEG's marker structure reaches its end-of-image marker. Segments are skipped by
/// their declared lengths (so the end marker of an EXIF thumbnail does not count) and
/// entropy-coded scans are read up to the next marker.
fn jpeg_is_complete(data: &[u8]) -> bool {
    let mut i = 2; // past the start-of-image marker
    loop {
        // Any bytes before the next marker, then fill bytes (0xFF repeated).
        while i < data.len() && data[i] != 0xFF {
            i += 1;
        }
        while i < data.len() && data[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = data.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers: restart markers, TEM.
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(length) = data.get(i..i + 2) else {
                    return false;
                };
                i += usize::from(u16::from_be_bytes([length[0], length[1]]));
                if marker == 0xDA {
                    // The scan's entropy-coded data runs to the next marker other than a
                    // stuffed zero or a restart marker.
                    while i + 1 < data.len()
                        && !(data[i] == 0xFF
                            && data[i + 1] != 0x00
                            && !(0xD0..=0xD7).contains(&data[i + 1]))
                    {
                        i += 1;
                    }
                    if i + 1 >= data.len() {
                        return false;
                    }
                }
            }
        }
    }
}

/// Converts to 8-bit RGB as Pillow's `convert("RGB")` does after Pillow opened the file:
/// grey is replicated, alpha is dropped (not composited), palettes were expanded by the
/// decoder, and 16-bit samples keep their high byte (Pillow reads 16-bit colour PNGs that
/// way). For 16-bit *grey*, Pillow's `I;16 -> RGB` clips values above 255 to white instead;
/// that destroys the image, so here 16-bit grey is scaled like 16-bit colour (documented in
/// `docs/clip.md` as the one deliberate difference).
pub(crate) fn to_rgb8(image: &DynamicImage) -> RgbImage {
    let high_byte = |v: u16| (v >> 8) as u8;
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb.clone(),
        DynamicImage::ImageRgb16(rgb) => RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
            image::Rgb(rgb.get_pixel(x, y).0.map(high_byte))
        }),
        DynamicImage::ImageRgba16(rgba) => {
            RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                let [r, g, b, _] = rgba.get_pixel(x, y).0;
                image::Rgb([r, g, b].map(high_byte))
            })
        }
        DynamicImage::ImageLuma16(grey) => {
            RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
                image::Rgb([high_byte(grey.get_pixel(x, y).0[0]); 3])
            })
        }
        DynamicImage::ImageLumaA16(grey) => {
            RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
                image::Rgb([high_byte(grey.get_pixel(x, y).0[0]); 3])
            })
        }
        // 8-bit grey (replicated), grey+alpha and RGBA (alpha dropped), float images.
        other => other.to_rgb8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgba, RgbaImage};

    #[test]
    fn alpha_is_dropped_and_grey_replicated() {
        let transparent = RgbaImage::from_pixel(2, 2, Rgba([10, 20, 30, 0]));
        let rgb = to_rgb8(&DynamicImage::ImageRgba8(transparent));
        assert!(rgb.pixels().all(|p| p.0 == [10, 20, 30]));
        let grey_alpha = ImageBuffer::from_pixel(2, 2, LumaA([77u8, 3]));
        let rgb = to_rgb8(&DynamicImage::ImageLumaA8(grey_alpha));
        assert!(rgb.pixels().all(|p| p.0 == [77, 77, 77]));
    }

    #[test]
    fn jpeg_completeness_follows_the_marker_structure() {
        // SOI, an APP1 segment holding a thumbnail's EOI, a scan with stuffed and restart
        // bytes, then EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x01]);
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        assert!(!jpeg_is_complete(&jpeg), "no EOI yet");
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        assert!(jpeg_is_complete(&jpeg));
        // Cut inside the APP1 segment: its thumbnail EOI must not count.
        assert!(!jpeg_is_complete(&jpeg[..8]));
    }
}
