//! Bad image files: each gives an error naming the file, never a panic or a huge allocation.

mod common;

use std::path::{Path, PathBuf};

use common::fixture;
use pelt_clip::{ClipError, ClipImageProcessor};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// A BMP header declaring `width × height` 24-bit pixels, followed by a few bytes of data.
fn bmp_header(width: i32, height: i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"BM");
    bytes.extend_from_slice(&1000u32.to_le_bytes()); // file size (not checked)
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    bytes.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    bytes.extend_from_slice(&width.to_le_bytes());
    bytes.extend_from_slice(&height.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // planes
    bytes.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    bytes.extend_from_slice(&[0; 24]); // no compression, sizes and palette counts zero
    bytes.extend_from_slice(&[0x7f; 64]);
    bytes
}

fn error_for(path: &Path) -> ClipError {
    ClipImageProcessor::new(224)
        .preprocess_file(path)
        .expect_err("bad input must be refused")
}

fn assert_names(error: &ClipError, path: &Path) {
    let text = error.to_string();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    assert!(text.contains(name), "error does not name {name}: {text}");
}

#[test]
fn empty_file_is_an_image_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "empty.jpg", b"");
    let error = error_for(&path);
    assert!(matches!(error, ClipError::Image { .. }), "{error}");
    assert_names(&error, &path);
}

#[test]
fn undecodable_bytes_are_an_image_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "noise.png", &[0x42; 300]);
    let error = error_for(&path);
    assert!(matches!(error, ClipError::Image { .. }), "{error}");
    assert_names(&error, &path);
}

#[test]
fn truncated_png_is_an_image_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let full = std::fs::read(fixture("preprocess/palette_300x120.png")).expect("fixture");
    let path = write(dir.path(), "cut.png", &full[..full.len() / 2]);
    let error = error_for(&path);
    assert!(matches!(error, ClipError::Image { .. }), "{error}");
    assert_names(&error, &path);
}

#[test]
fn truncated_jpeg_is_an_image_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let full = std::fs::read(fixture("preprocess/franz-kafka.jpg")).expect("fixture");
    let path = write(dir.path(), "cut.jpg", &full[..full.len() / 3]);
    let error = error_for(&path);
    assert!(matches!(error, ClipError::Image { .. }), "{error}");
    assert_names(&error, &path);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent/dir/photo.jpg");
    let error = error_for(path);
    assert!(matches!(error, ClipError::Io { .. }), "{error}");
    assert_names(&error, path);
}

#[test]
fn decompression_bomb_dimensions_are_refused_before_decoding() {
    // A 118-byte file declaring 60000 × 60000 pixels (10.8 GB decoded).
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "bomb.bmp", &bmp_header(60_000, 60_000));
    let error = error_for(&path);
    assert!(matches!(error, ClipError::ImageTooLarge { .. }), "{error}");
    assert_names(&error, &path);
    assert!(error.to_string().contains("16384 px per side"), "{error}");
}

#[test]
fn images_within_the_side_limit_but_too_many_bytes_are_refused() {
    // 16000 × 16000 × 3 bytes = 768 MB, over the 256 MiB allocation limit.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "wide.bmp", &bmp_header(16_000, 16_000));
    let error = error_for(&path);
    assert!(matches!(error, ClipError::ImageTooLarge { .. }), "{error}");
    assert_names(&error, &path);
}

#[test]
fn limits_are_configurable() {
    let mut processor = ClipImageProcessor::new(224);
    processor.max_side = 100;
    let error = processor
        .preprocess_file(fixture("preprocess/palette_300x120.png"))
        .expect_err("300 px is over a 100 px limit");
    assert!(matches!(error, ClipError::ImageTooLarge { .. }), "{error}");
}

#[test]
fn zero_sized_image_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "flat.bmp", &bmp_header(0, 10));
    let error = error_for(&path);
    assert!(matches!(error, ClipError::Image { .. }), "{error}");
    assert_names(&error, &path);
}
