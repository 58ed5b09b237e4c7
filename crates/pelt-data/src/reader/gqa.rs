//! Reader of GQA balanced question files: `{"<question id>": {"imageId", "question", "answer", ...}}`,
//! images `images/<imageId>.jpg`.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::reader::{Reading, TextFile};
use crate::record::{RawLabel, Record};

/// Reads one GQA question file (entries in question-id order).
pub(crate) fn read(reading: &mut Reading<'_>, path: &Path) -> Result<Vec<Record>> {
    let file = TextFile::open(path)?;
    let doc = file.json()?;
    let Value::Object(map) = doc else {
        return Err(DataError::malformed(
            path,
            1,
            "expected an object keyed by question id",
        ));
    };
    let mut records = Vec::with_capacity(map.len());
    for (i, (qid, entry)) in map.iter().enumerate() {
        let origin = file.entry(i);
        let image = entry.get("imageId").and_then(Value::as_str);
        let question = entry.get("question").and_then(Value::as_str);
        let (Some(image), Some(question)) = (image, question) else {
            reading.malformed(
                &origin,
                format!("question {qid} needs imageId and question"),
            )?;
            continue;
        };
        let mut record = Record::new(origin).field("question", question);
        record.id = qid.clone();
        record.label = entry
            .get("answer")
            .and_then(Value::as_str)
            .map(|a| RawLabel::Text(a.to_owned()));
        record.images.push(format!("images/{image}.jpg").into());
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    #[test]
    fn reads_balanced_questions() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "testdev_balanced_questions.json",
            r#"{"20968379": {"semantic": [], "entailed": [], "equivalent": ["20968379"],
                "question": "Do the shorts have dark color?", "imageId": "n288870",
                "isBalanced": true, "groups": {"global": null, "local": "13-shorts_dark"},
                "answer": "yes", "semanticStr": "", "annotations": {}, "types": {},
                "fullAnswer": "Yes, the shorts are dark."}}"#,
        );
        let records = read(&mut reading(dir.path(), false), &path).unwrap();
        assert_eq!(records[0].id, "20968379");
        assert_eq!(records[0].images, vec!["images/n288870.jpg"]);
        assert_eq!(records[0].label, Some(RawLabel::Text("yes".into())));
    }

    #[test]
    fn wrong_top_level_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "val_balanced_questions.json", "[1, 2]");
        assert!(read(&mut reading(dir.path(), true), &path).is_err());
    }
}
