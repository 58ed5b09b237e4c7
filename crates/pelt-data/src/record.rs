//! Rows as the readers produce them, before a task turns them into source/target text.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::image::ImageRef;

/// Where a row came from: named in every error about it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The data file.
    pub path: Arc<Path>,
    /// 1-based line number (for whole-file JSON: 1-based index of the entry).
    pub line: usize,
}

/// A label as written in the file, before the task checks it against its label set.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLabel {
    /// A string label (`"entailment"`, `"1"`, `"True"`).
    Text(String),
    /// An integer label (Hugging Face `ClassLabel` exports).
    Int(i64),
    /// A real-valued label (STS-B scores).
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl std::fmt::Display for RawLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(s) => write!(f, "{s}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One row of an official file, with its text fields under the Hugging Face field names.
#[derive(Debug, Clone)]
pub struct Record {
    /// A stable id: the file's own id where it has one, otherwise `line-N`.
    pub id: String,
    /// Text fields by name (`sentence1`, `question`, ...), the names the task templates use.
    pub fields: HashMap<String, String>,
    /// The label, if the row has one.
    pub label: Option<RawLabel>,
    /// All reference answers or captions (VQA: the ten annotator answers), possibly empty.
    pub answers: Vec<String>,
    /// The row's images, in order (NLVR2: left, right).
    pub images: Vec<ImageRef>,
    /// File and line.
    pub origin: Origin,
}

impl Record {
    /// An empty record at `origin` with id `line-N`.
    pub fn new(origin: Origin) -> Self {
        Self {
            id: format!("line-{}", origin.line),
            fields: HashMap::new(),
            label: None,
            answers: Vec::new(),
            images: Vec::new(),
            origin,
        }
    }

    /// Sets a text field (builder style).
    pub fn field(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.insert(name.to_owned(), value.into());
        self
    }
}

/// A text-to-text example, ready to tokenise.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The record's id (question id, `line-N`, ...).
    pub id: String,
    /// Encoder input text.
    pub source: String,
    /// Decoder target text (training target; the most common answer for VQA).
    pub target: String,
    /// Every acceptable reference for evaluation (VQA: ten answers; captions: all captions;
    /// classification: just the target).
    pub references: Vec<String>,
    /// The example's images, in order (empty for text tasks).
    pub images: Vec<ImageRef>,
}
