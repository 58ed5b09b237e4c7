//! Reader of NLVR2 JSON Lines (`train.json`, `dev.json`, `test1.json`): two images per example.
//!
//! Each line has `identifier` (`"train-10171-0-0"`), `sentence`, `label` (`"True"`/`"False"`) and,
//! for train, `directory`. The images of pair `train-10171-0` are
//! `images/train/<directory>/train-10171-0-img0.png` and `...-img1.png`; dev and test images sit
//! directly in `images/<split>/`.

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::reader::{Reading, json_lines, json_text};
use crate::record::{RawLabel, Record};

/// Reads one NLVR2 file.
pub(crate) fn read(reading: &mut Reading<'_>, path: &Path, split: &str) -> Result<Vec<Record>> {
    json_lines(reading, path, |reading, origin, entry| {
        let identifier = entry.get("identifier").and_then(Value::as_str);
        let sentence = entry.get("sentence").and_then(Value::as_str);
        let pair = identifier
            .and_then(|id| id.rsplit_once('-'))
            .map(|(pair, _)| pair);
        let (Some(identifier), Some(sentence), Some(pair)) = (identifier, sentence, pair) else {
            reading.malformed(&origin, "needs identifier (\"split-N-M-K\") and sentence")?;
            return Ok(None);
        };
        let dir = match entry.get("directory").and_then(json_text) {
            Some(d) => format!("images/{split}/{d}"),
            None => format!("images/{split}"),
        };
        let mut record = Record::new(origin).field("sentence", sentence);
        record.id = identifier.to_owned();
        record.label = entry.get("label").and_then(json_text).map(RawLabel::Text);
        record.images = vec![
            format!("{dir}/{pair}-img0.png").into(),
            format!("{dir}/{pair}-img1.png").into(),
        ];
        Ok(Some(record))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    #[test]
    fn two_images_per_example() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "train.json",
            concat!(
                r#"{"validation": {}, "sentence": "One image shows exactly two brown acorns.", "left_url": "x", "writer": "103", "label": "False", "right_url": "y", "synset": "acorn", "query": "acorn", "identifier": "train-10171-0-0", "extra_validations": {}, "directory": 22}"#,
                "\n"
            ),
        );
        let records = read(&mut reading(dir.path(), false), &path, "train").unwrap();
        assert_eq!(
            records[0].images,
            vec![
                "images/train/22/train-10171-0-img0.png",
                "images/train/22/train-10171-0-img1.png"
            ]
        );
        assert_eq!(records[0].label, Some(RawLabel::Text("False".into())));
    }
}
