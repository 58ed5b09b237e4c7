//! Reader of the easy-VQA layout: `<split>/questions.json` holds `[question, answer, image id]`
//! triples; image `N` is `<split>/images/N.png`.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::reader::{Reading, TextFile};
use crate::record::{RawLabel, Record};

/// Reads one easy-VQA split.
pub(crate) fn read(reading: &mut Reading<'_>, path: &Path, split: &str) -> Result<Vec<Record>> {
    let file = TextFile::open(path)?;
    let doc = file.json()?;
    let entries = doc
        .as_array()
        .ok_or_else(|| DataError::malformed(path, 1, "expected a list of triples"))?;
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let origin = file.entry(i);
        let triple = entry.as_array().map(Vec::as_slice);
        let Some([Value::String(q), Value::String(a), Value::Number(image)]) = triple else {
            reading.malformed(&origin, "expected [question, answer, image id]")?;
            continue;
        };
        let mut record = Record::new(origin).field("question", q.as_str());
        record.id = format!("{split}-{i}");
        record.label = Some(RawLabel::Text(a.clone()));
        record
            .images
            .push(format!("{split}/images/{image}.png").into());
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    #[test]
    fn triples_become_questions_with_images() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "test/questions.json",
            r#"[["what is the red shape?", "triangle", 0], ["is it blue?", "no", 3], ["bad"]]"#,
        );
        let mut skipping = reading(dir.path(), true);
        let records = read(&mut skipping, &path, "test").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].images, vec!["test/images/3.png"]);
        assert_eq!(records[0].label, Some(RawLabel::Text("triangle".into())));
        assert_eq!(skipping.report.skipped_malformed, 1);
    }
}
