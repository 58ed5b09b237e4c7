//! Pictures stored in a hub data set's Parquet rows (`datasets`' `Image` feature, a
//! `{bytes, path}` struct): in the row itself, or joined by id from another configuration's
//! shards (docs/data.md, "Parquet"). A picture is remembered by its place and the SHA-256 of its
//! bytes, and its bytes are read again only when features are computed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::FileReader;
use parquet::record::{Field, Row};
use sha2::{Digest, Sha256};

use super::parquet_file::{cell, open, projection};
use crate::error::{DataError, Result};
use crate::image::{Embedded, ImageRef};
use crate::layout::{ImageColumn, ParquetColumns};
use crate::reader::json_text;
use crate::record::Origin;
use crate::shards::shards;

/// The bytes of an image cell: `datasets`' `Image` feature, a `{bytes, path}` struct.
fn image_bytes(field: &Field) -> Option<&[u8]> {
    let Field::Group(cell) = field else {
        return None;
    };
    cell.get_column_iter()
        .find_map(|(name, value)| match value {
            Field::Bytes(bytes) if name == "bytes" => Some(bytes.data()),
            _ => None,
        })
}

/// `sha256:<hex>` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for byte in hash {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Reads the bytes of embedded images, calling `each(i, bytes)` for `images[i]`: every file is
/// opened once and read in row order (so calls come in file and row order, not in the order
/// given), reading only the image columns. An image whose row is gone or whose bytes changed
/// since the rows were read is an error naming file and row.
pub fn read_embedded_images<E: From<DataError>>(
    images: &[&Embedded],
    mut each: impl FnMut(usize, Vec<u8>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut by_shard: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for (i, image) in images.iter().enumerate() {
        by_shard.entry(&image.shard).or_default().push(i);
    }
    for (path, mut wanted) in by_shard {
        let bad = |reason: String| DataError::parquet(path, reason);
        wanted.sort_by_key(|&i| images[i].row);
        let reader = open(path).map_err(E::from)?;
        let mut columns: Vec<&str> = wanted.iter().map(|&i| &*images[i].column).collect();
        columns.sort_unstable();
        columns.dedup();
        let projection = projection(&reader, path, &columns).map_err(E::from)?;
        let rows = reader
            .get_row_iter(Some(projection))
            .map_err(|e| E::from(bad(e.to_string())))?;
        let mut next = wanted.into_iter().peekable();
        for (index, row) in rows.enumerate() {
            if next.peek().is_none() {
                break;
            }
            let row = row.map_err(|e| E::from(bad(format!("row {}: {e}", index + 1))))?;
            while let Some(i) = next.next_if(|&i| images[i].row == index) {
                let image = images[i];
                let bytes = row
                    .get_column_iter()
                    .find(|(name, _)| **name == *image.column)
                    .and_then(|(_, field)| image_bytes(field))
                    .filter(|bytes| digest(bytes) == image.key)
                    .ok_or_else(|| {
                        E::from(bad(format!(
                            "row {} column {:?} no longer holds the image read before ({}): \
                             did the file change?",
                            index + 1,
                            image.column,
                            image.key
                        )))
                    })?;
                each(i, bytes.to_vec())?;
            }
        }
        if let Some(i) = next.next() {
            let reason = format!("row {} is gone: did the file change?", images[i].row + 1);
            return Err(E::from(bad(reason)));
        }
    }
    Ok(())
}

/// The image shards of every [`ImageColumn::Joined`] column of `columns` (`None` for the others),
/// as a map from id to the image's place, for `split` (the hub's name) under `root`.
pub(super) type JoinedImages = Vec<Option<HashMap<String, Embedded>>>;

pub(super) fn joined_images(
    root: &Path,
    split: &str,
    columns: &ParquetColumns,
) -> Result<JoinedImages> {
    let mut maps = Vec::with_capacity(columns.images.len());
    for column in columns.images {
        let &ImageColumn::Joined { dir, id, image, .. } = column else {
            maps.push(None);
            continue;
        };
        let dir = root.join(dir.replace("{}", split));
        let found = shards(&dir, split)?;
        if found.is_empty() {
            return Err(DataError::parquet(
                dir.join(format!("{split}-00000-of-00001.parquet")),
                format!("no shards of `{split}` here: the images of column {image:?}"),
            ));
        }
        let mut map = HashMap::new();
        for path in found {
            let bad = |reason: String| DataError::parquet(&path, reason);
            let shard: Arc<Path> = Arc::from(path.as_path());
            let reader = open(&path)?;
            let rows = reader
                .get_row_iter(Some(projection(&reader, &path, &[id, image])?))
                .map_err(|e| bad(e.to_string()))?;
            for (index, row) in rows.enumerate() {
                let row = row.map_err(|e| bad(format!("row {}: {e}", index + 1)))?;
                let key = cell(&row, id).and_then(|f| json_text(&f.to_json_value()));
                let bytes = cell(&row, image).and_then(image_bytes);
                let (Some(key), Some(bytes)) = (key, bytes) else {
                    return Err(bad(format!(
                        "row {}: needs an id in column {id:?} and image bytes in column {image:?}",
                        index + 1
                    )));
                };
                let place = Embedded {
                    key: digest(bytes),
                    shard: shard.clone(),
                    row: index,
                    column: Arc::from(image),
                };
                map.insert(key, place);
            }
        }
        maps.push(Some(map));
    }
    Ok(maps)
}

/// The images of `row` (at `origin`), or why it has none.
pub(super) fn images(
    row: &Row,
    joined: &JoinedImages,
    origin: &Origin,
    columns: &ParquetColumns,
) -> std::result::Result<Vec<ImageRef>, String> {
    let mut images = Vec::with_capacity(columns.images.len());
    for (column, by_id) in columns.images.iter().zip(joined) {
        let image = match (*column, by_id) {
            (ImageColumn::Cell(name), _) => {
                let bytes = cell(row, name).and_then(image_bytes).ok_or_else(|| {
                    format!("no image bytes in column {name:?} (a {{bytes, path}} struct)")
                })?;
                Embedded {
                    key: digest(bytes),
                    shard: origin.path.clone(),
                    row: origin.line - 1,
                    column: Arc::from(name),
                }
            }
            (ImageColumn::Joined { by, dir, .. }, by_id) => {
                let id = cell(row, by)
                    .and_then(|f| json_text(&f.to_json_value()))
                    .ok_or_else(|| format!("no image id in column {by:?}"))?;
                by_id
                    .as_ref()
                    .and_then(|by_id| by_id.get(&id))
                    .cloned()
                    .ok_or_else(|| format!("image {id:?} (column {by:?}) is not in {dir:?}"))?
            }
        };
        images.push(ImageRef::Embedded(image));
    }
    Ok(images)
}
