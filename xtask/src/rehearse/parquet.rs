//! Writing a table as the hub stores a data set split: one Parquet file, snappy-compressed,
//! nullable columns as pyarrow writes them, and the `datasets` features in the `huggingface`
//! key of the file's metadata (where `ClassLabel` names are found, docs/data.md "Parquet").

use std::sync::Arc;

use anyhow::{Context, Result};
use parquet::basic::Compression;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, FloatType, Int32Type, Int64Type,
};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use serde_json::{Value, json};

/// The values of one column, one per row.
#[derive(Debug, Clone)]
pub enum Values {
    /// `string`.
    Str(Vec<String>),
    /// `int64`, also a `ClassLabel`'s storage.
    I64(Vec<i64>),
    /// `int32`.
    I32(Vec<i32>),
    /// `float32`.
    F32(Vec<f32>),
    /// `bool`.
    Bool(Vec<bool>),
    /// `datasets`' `Image` feature: a `{bytes, path}` struct per row.
    Image(Vec<(Vec<u8>, String)>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Self::Str(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::Image(v) => v.len(),
        }
    }

    /// The column's Parquet schema, as pyarrow writes it.
    fn schema(&self, name: &str) -> String {
        match self {
            Self::Str(_) => format!("optional binary {name} (STRING);"),
            Self::I64(_) => format!("optional int64 {name};"),
            Self::I32(_) => format!("optional int32 {name};"),
            Self::F32(_) => format!("optional float {name};"),
            Self::Bool(_) => format!("optional boolean {name};"),
            Self::Image(_) => format!(
                "optional group {name} {{ optional binary bytes; optional binary path (STRING); }}"
            ),
        }
    }

    /// The `datasets` feature of a column of these values (`ClassLabel`s are given by
    /// [`Column::label`]).
    fn feature(&self) -> Value {
        let value = |dtype: &str| json!({"dtype": dtype, "_type": "Value"});
        match self {
            Self::Str(_) => value("string"),
            Self::I64(_) => value("int64"),
            Self::I32(_) => value("int32"),
            Self::F32(_) => value("float32"),
            Self::Bool(_) => value("bool"),
            Self::Image(_) => json!({"_type": "Image"}),
        }
    }
}

/// A named column and its `datasets` feature.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// Its values.
    pub values: Values,
    /// Its feature in the `huggingface` metadata.
    pub feature: Value,
}

impl Column {
    /// A column whose feature follows from its values.
    pub fn new(name: &'static str, values: Values) -> Self {
        let feature = values.feature();
        Self {
            name,
            values,
            feature,
        }
    }

    /// A `ClassLabel` column: integer indices into `names` (`-1`: no label, as in a test split).
    pub fn label(name: &'static str, indices: Vec<i64>, names: &[&str]) -> Self {
        Self {
            name,
            values: Values::I64(indices),
            feature: json!({"names": names, "_type": "ClassLabel"}),
        }
    }
}

/// `columns` (of equal length) as the bytes of a Parquet file.
pub fn write(columns: &[Column]) -> Result<Vec<u8>> {
    let schema: Vec<String> = columns.iter().map(|c| c.values.schema(c.name)).collect();
    let schema = parse_message_type(&format!("message schema {{ {} }}", schema.join(" ")))
        .context("the Parquet schema")?;
    let features: serde_json::Map<String, Value> = columns
        .iter()
        .map(|c| (c.name.to_string(), c.feature.clone()))
        .collect();
    let metadata = json!({"info": {"features": features}}).to_string();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new("huggingface".into(), metadata)]))
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), Arc::new(schema), Arc::new(properties))?;
    let mut group = writer.next_row_group()?;
    for column in columns {
        let rows = column.values.len();
        // Every value is present: the leaf's maximum definition level (2 inside a struct).
        let (top, nested) = (vec![1i16; rows], vec![2i16; rows]);
        let name = column.name;
        match &column.values {
            Values::Str(v) => {
                let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                leaf::<ByteArrayType>(&mut group, name, &v, &top)?;
            }
            Values::I64(v) => leaf::<Int64Type>(&mut group, name, v, &top)?,
            Values::I32(v) => leaf::<Int32Type>(&mut group, name, v, &top)?,
            Values::F32(v) => leaf::<FloatType>(&mut group, name, v, &top)?,
            Values::Bool(v) => leaf::<BoolType>(&mut group, name, v, &top)?,
            Values::Image(v) => {
                let bytes: Vec<ByteArray> =
                    v.iter().map(|(b, _)| ByteArray::from(b.clone())).collect();
                let paths: Vec<ByteArray> =
                    v.iter().map(|(_, p)| ByteArray::from(p.as_str())).collect();
                leaf::<ByteArrayType>(&mut group, name, &bytes, &nested)?;
                leaf::<ByteArrayType>(&mut group, name, &paths, &nested)?;
            }
        }
    }
    group.close()?;
    writer.into_inner().context("finishing the Parquet file")
}

/// Writes the next leaf column of `group` (of column `name`): `values` with definition levels
/// `levels`.
fn leaf<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    name: &str,
    values: &[T::T],
    levels: &[i16],
) -> Result<()> {
    let mut column = group
        .next_column()?
        .with_context(|| format!("no Parquet column left for `{name}`"))?;
    column
        .typed::<T>()
        .write_batch(values, Some(levels), None)?;
    column.close()?;
    Ok(())
}
