//! One Parquet file of a hub data set: opened, cut down to some of its columns, a row's cells
//! by name, and what the `huggingface` schema metadata of `datasets` says about a column.

use std::fs::File;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type as SchemaType;
use serde_json::Value;

use crate::error::{DataError, Result};

/// `path` opened as a Parquet file.
pub(super) fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    SerializedFileReader::new(file).map_err(|e| DataError::parquet(path, e.to_string()))
}

/// The schema of the file at `path` cut down to the top-level `columns`; a missing one is an
/// error naming it.
pub(super) fn projection(
    reader: &SerializedFileReader<File>,
    path: &Path,
    columns: &[&str],
) -> Result<SchemaType> {
    let schema = reader.metadata().file_metadata().schema();
    let fields = schema.get_fields();
    let kept = columns
        .iter()
        .map(|&name| {
            fields
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .ok_or_else(|| DataError::parquet(path, format!("no column {name:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    SchemaType::group_type_builder(schema.name())
        .with_fields(kept)
        .build()
        .map_err(|e| DataError::parquet(path, e.to_string()))
}

/// The cell of `row` in column `name`.
pub(super) fn cell<'a>(row: &'a Row, name: &str) -> Option<&'a Field> {
    row.get_column_iter()
        .find(|(column, _)| *column == name)
        .map(|(_, field)| field)
}

/// The `ClassLabel` names of `column` in the `huggingface` schema metadata of the file at `path`
/// (the `datasets` features,
/// `{"info": {"features": {column: {"_type": "ClassLabel", "names": [..]}}}}`), if it has any.
pub(super) fn class_names(
    reader: &SerializedFileReader<File>,
    path: &Path,
    column: &str,
) -> Result<Option<Vec<String>>> {
    let metadata = reader.metadata().file_metadata().key_value_metadata();
    let Some(text) = metadata
        .and_then(|kv| kv.iter().find(|kv| kv.key == "huggingface"))
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        DataError::parquet(
            path,
            format!("the `huggingface` schema metadata is not JSON: {e}"),
        )
    })?;
    let feature = &value["info"]["features"][column];
    if feature["_type"] != "ClassLabel" {
        return Ok(None);
    }
    let names = feature["names"].as_array().and_then(|names| {
        names
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    });
    names.map(Some).ok_or_else(|| {
        DataError::parquet(
            path,
            format!(
                "the `huggingface` metadata gives `{column}` as a ClassLabel without a list of \
                 names"
            ),
        )
    })
}
