//! Reader of Karpathy-split caption files (`dataset_coco.json` layout).
//!
//! `{"images": [{"filepath", "filename", "split", "sentences": [{"raw", "tokens"}], ...}]}`. The
//! `restval` images belong to training, as in every Karpathy-split result. Training yields one
//! example per caption; validation and test one example per image with every caption as reference.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::reader::{Reading, TextFile, json_text};
use crate::record::{RawLabel, Record};

/// Reads the images of `split` (`train` includes `restval`).
pub(crate) fn read(reading: &mut Reading<'_>, path: &Path, split: &str) -> Result<Vec<Record>> {
    let file = TextFile::open(path)?;
    let doc = file.json()?;
    let images = doc
        .get("images")
        .and_then(Value::as_array)
        .ok_or_else(|| DataError::malformed(path, 1, "no \"images\" list"))?;
    let mut records = Vec::new();
    for (i, entry) in images.iter().enumerate() {
        let origin = file.entry(i);
        let entry_split = entry.get("split").and_then(Value::as_str);
        let filename = entry.get("filename").and_then(Value::as_str);
        let captions: Option<Vec<String>> = entry
            .get("sentences")
            .and_then(Value::as_array)
            .and_then(|s| {
                s.iter()
                    .map(|c| {
                        c.get("raw")
                            .and_then(Value::as_str)
                            .map(|r| r.trim().to_owned())
                    })
                    .collect()
            });
        let (Some(entry_split), Some(filename), Some(captions)) = (entry_split, filename, captions)
        else {
            reading.malformed(&origin, "image needs split, filename and sentences[].raw")?;
            continue;
        };
        let wanted = entry_split == split || (split == "train" && entry_split == "restval");
        if !wanted {
            continue;
        }
        if captions.is_empty() {
            reading.malformed(&origin, format!("image {filename} has no caption"))?;
            continue;
        }
        let image = match entry.get("filepath").and_then(Value::as_str) {
            Some(dir) => format!("{dir}/{filename}"),
            None => filename.to_owned(),
        };
        let id = entry
            .get("cocoid")
            .or_else(|| entry.get("imgid"))
            .and_then(json_text)
            .unwrap_or_else(|| filename.to_owned());
        let base = Record {
            id,
            images: vec![image.into()],
            ..Record::new(origin)
        };
        if split == "train" {
            for (k, caption) in captions.into_iter().enumerate() {
                let mut record = base.clone();
                record.id = format!("{}-{k}", base.id);
                record.label = Some(RawLabel::Text(caption));
                records.push(record);
            }
        } else {
            let mut record = base;
            record.label = Some(RawLabel::Text(captions[0].clone()));
            record.answers = captions;
            records.push(record);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    const FILE: &str = r#"{"dataset": "coco", "images": [
        {"filepath": "val2014", "sentids": [1, 2], "filename": "COCO_val2014_000000391895.jpg",
         "imgid": 0, "split": "test", "sentences": [
            {"tokens": ["a", "man"], "raw": "A man with a red helmet on a small moped.", "imgid": 0, "sentid": 1},
            {"tokens": ["man"], "raw": "Man riding a motor bike. ", "imgid": 0, "sentid": 2}],
         "cocoid": 391895},
        {"filepath": "val2014", "filename": "COCO_val2014_000000522418.jpg", "imgid": 1,
         "split": "restval", "sentences": [{"raw": "A woman cutting a cake.", "tokens": []}],
         "cocoid": 522418}]}"#;

    #[test]
    fn evaluation_split_has_one_example_per_image_with_all_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "dataset_coco.json", FILE);
        let records = read(&mut reading(dir.path(), false), &path, "test").unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].id, "391895");
        assert_eq!(
            records[0].images,
            vec!["val2014/COCO_val2014_000000391895.jpg"]
        );
        assert_eq!(records[0].answers[1], "Man riding a motor bike.");
    }

    #[test]
    fn restval_is_training_with_one_example_per_caption() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "dataset_coco.json", FILE);
        let records = read(&mut reading(dir.path(), false), &path, "train").unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].label,
            Some(RawLabel::Text("A woman cutting a cake.".into()))
        );
    }
}
