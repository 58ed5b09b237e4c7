//! Reader of JSON Lines files: Hugging Face `datasets` exports and SNLI-VE.
//!
//! Every string field becomes a text field under its own name, so the task templates use the
//! data set's field names (`sentence1`, `premise`, `question`, ...).

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::layout::ImageField;
use crate::reader::{Reading, json_lines, json_text};
use crate::record::{Origin, RawLabel, Record};

fn raw_label(value: &Value) -> Option<RawLabel> {
    match value {
        Value::String(s) => Some(RawLabel::Text(s.clone())),
        Value::Bool(b) => Some(RawLabel::Bool(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(RawLabel::Int(i)),
            None => n.as_f64().map(RawLabel::Float),
        },
        _ => None,
    }
}

/// Reads one JSON Lines file into records.
pub(crate) fn read(
    reading: &mut Reading<'_>,
    path: &Path,
    label: &str,
    image: Option<ImageField>,
) -> Result<Vec<Record>> {
    json_lines(reading, path, |reading, origin, value| {
        record(reading, origin, value, label, image)
    })
}

/// One JSON object (a line of an export, a row of a Parquet file) as a record: every string
/// field a text field, `idx` or `id` the id, `label` the label; `None` when the row is skipped
/// as malformed.
pub(crate) fn record(
    reading: &mut Reading<'_>,
    origin: Origin,
    value: Value,
    label: &str,
    image: Option<ImageField>,
) -> Result<Option<Record>> {
    let Value::Object(object) = value else {
        reading.malformed(&origin, "line is not a JSON object")?;
        return Ok(None);
    };
    let mut record = Record::new(origin);
    for (key, value) in &object {
        if let Value::String(s) = value {
            record.fields.insert(key.clone(), s.clone());
        }
    }
    if let Some(id) = object
        .get("idx")
        .or_else(|| object.get("id"))
        .and_then(json_text)
    {
        record.id = id;
    }
    record.label = object.get(label).and_then(raw_label);
    if let Some(img) = image {
        match object.get(img.field).and_then(json_text) {
            Some(id) => record.images.push(img.template.replace("{}", &id).into()),
            None => {
                let origin = record.origin.clone();
                reading.malformed(&origin, format!("no image field {:?}", img.field))?;
                return Ok(None);
            }
        }
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    #[test]
    fn hugging_face_export_fields_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "validation.jsonl",
            concat!(
                r#"{"sentence1": "A", "sentence2": "B", "label": 1, "idx": 0}"#,
                "\n",
                r#"{"sentence1": "C", "sentence2": "D", "label": 3.25, "idx": 1}"#,
                "\n\n",
            ),
        );
        let records = read(&mut reading(dir.path(), false), &path, "label", None).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].fields["sentence2"], "B");
        assert_eq!(records[0].label, Some(RawLabel::Int(1)));
        assert_eq!(records[1].label, Some(RawLabel::Float(3.25)));
        assert_eq!(records[1].id, "1");
    }

    #[test]
    fn snli_ve_image_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "snli_ve_dev.jsonl",
            r#"{"Flickr30K_ID": "3416050480", "sentence2": "A dog runs.", "gold_label": "neutral", "pairID": "3416050480.jpg#4r1n"}"#,
        );
        let image = ImageField {
            field: "Flickr30K_ID",
            template: "flickr30k_images/{}.jpg",
        };
        let records = read(
            &mut reading(dir.path(), false),
            &path,
            "gold_label",
            Some(image),
        )
        .unwrap();
        assert_eq!(records[0].images, vec!["flickr30k_images/3416050480.jpg"]);
        assert_eq!(records[0].label, Some(RawLabel::Text("neutral".into())));
    }

    #[test]
    fn broken_json_line_is_malformed_with_line_or_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "train.jsonl",
            "{\"sentence\": \"ok\", \"label\": 0}\n{\"sentence\": \"cut off\n[1, 2]\n",
        );
        let err = read(&mut reading(dir.path(), false), &path, "label", None).unwrap_err();
        assert!(
            err.to_string().contains("train.jsonl:2: malformed row"),
            "{err}"
        );
        let mut r = reading(dir.path(), true);
        let records = read(&mut r, &path, "label", None).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(r.report.skipped_malformed, 2);
    }
}
