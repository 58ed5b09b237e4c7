//! Reader of VQA v2 and OK-VQA: a question file and an annotation file joined on `question_id`.
//!
//! Questions: `{"questions": [{"image_id", "question", "question_id"}]}`. Annotations:
//! `{"annotations": [{"question_id", "image_id", "multiple_choice_answer", "answers": [{"answer",
//! "answer_confidence", "answer_id"}], ...}]}`. Images are COCO 2014 files
//! `<split>2014/COCO_<split>2014_<12-digit image id>.jpg`. The training target is
//! `multiple_choice_answer` (the most common answer); all answers are kept for soft accuracy.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::reader::{Reading, TextFile};
use crate::record::{RawLabel, Record};

struct Annotation {
    target: String,
    answers: Vec<String>,
}

/// The list under `key`; a document without it is not this format at all, so never skipped.
fn entries<'v>(file: &TextFile, doc: &'v Value, key: &str) -> Result<&'v [Value]> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| DataError::malformed(file.path.as_ref(), 1, format!("no {key:?} list")))
}

/// Reads one split of VQA v2 / OK-VQA.
pub(crate) fn read(
    reading: &mut Reading<'_>,
    questions: &Path,
    annotations: &Path,
    split: &str,
) -> Result<Vec<Record>> {
    let ann_file = TextFile::open(annotations)?;
    let ann_doc = ann_file.json()?;
    let mut by_question: HashMap<u64, Annotation> = HashMap::new();
    for (i, entry) in entries(&ann_file, &ann_doc, "annotations")?
        .iter()
        .enumerate()
    {
        let id = entry.get("question_id").and_then(Value::as_u64);
        let target = entry.get("multiple_choice_answer").and_then(Value::as_str);
        let answers: Option<Vec<String>> =
            entry
                .get("answers")
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter()
                        .map(|a| a.get("answer").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                });
        match (id, target, answers) {
            (Some(id), Some(target), Some(answers)) => {
                by_question.insert(
                    id,
                    Annotation {
                        target: target.to_owned(),
                        answers,
                    },
                );
            }
            _ => reading.malformed(
                &ann_file.entry(i),
                "annotation needs question_id, multiple_choice_answer and answers[].answer",
            )?,
        }
    }

    let q_file = TextFile::open(questions)?;
    let q_doc = q_file.json()?;
    let mut records = Vec::new();
    for (i, entry) in entries(&q_file, &q_doc, "questions")?.iter().enumerate() {
        let origin = q_file.entry(i);
        let id = entry.get("question_id").and_then(Value::as_u64);
        let image = entry.get("image_id").and_then(Value::as_u64);
        let question = entry.get("question").and_then(Value::as_str);
        let (Some(id), Some(image), Some(question)) = (id, image, question) else {
            reading.malformed(&origin, "question needs question_id, image_id and question")?;
            continue;
        };
        let Some(annotation) = by_question.remove(&id) else {
            reading.malformed(&origin, format!("question {id} has no annotation"))?;
            continue;
        };
        let mut record = Record::new(origin).field("question", question);
        record.id = id.to_string();
        record.label = Some(RawLabel::Text(annotation.target));
        record.answers = annotation.answers;
        record
            .images
            .push(format!("{split}2014/COCO_{split}2014_{image:012}.jpg").into());
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};

    const QUESTIONS: &str = r#"{"info": {}, "task_type": "Open-Ended", "data_type": "mscoco",
        "license": {}, "data_subtype": "val2014", "questions": [
        {"image_id": 262148, "question": "Where is he looking?", "question_id": 262148000},
        {"image_id": 42, "question": "How many?", "question_id": 42001}]}"#;

    fn answers(list: &[&str]) -> String {
        let items: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    r#"{{"answer": "{a}", "answer_confidence": "yes", "answer_id": {}}}"#,
                    i + 1
                )
            })
            .collect();
        format!("[{}]", items.join(", "))
    }

    #[test]
    fn joins_questions_and_annotations() {
        let dir = tempfile::tempdir().unwrap();
        let ten = ["down"; 10];
        let annotations = format!(
            r#"{{"annotations": [
            {{"question_type": "none of the above", "multiple_choice_answer": "down", "answers": {},
              "image_id": 262148, "answer_type": "other", "question_id": 262148000}},
            {{"question_type": "how many", "multiple_choice_answer": "2", "answers": {},
              "image_id": 42, "answer_type": "number", "question_id": 42001}}]}}"#,
            answers(&ten),
            answers(&["2", "2", "two", "3", "2", "2", "2", "2", "2", "2"])
        );
        let q = write(
            dir.path(),
            "v2_OpenEnded_mscoco_val2014_questions.json",
            QUESTIONS,
        );
        let a = write(
            dir.path(),
            "v2_mscoco_val2014_annotations.json",
            annotations,
        );
        let records = read(&mut reading(dir.path(), false), &q, &a, "val").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id, "262148000");
        assert_eq!(records[0].fields["question"], "Where is he looking?");
        assert_eq!(
            records[0].images,
            vec!["val2014/COCO_val2014_000000262148.jpg"]
        );
        assert_eq!(records[1].answers.len(), 10);
        assert_eq!(records[1].label, Some(RawLabel::Text("2".into())));
    }

    #[test]
    fn question_without_annotation_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let q = write(dir.path(), "q.json", QUESTIONS);
        let a = write(dir.path(), "a.json", r#"{"annotations": []}"#);
        let err = read(&mut reading(dir.path(), false), &q, &a, "val")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("q.json:1") && err.contains("no annotation"),
            "{err}"
        );
    }
}
