//! Readers of the official file formats; each turns one file into [`Record`]s.
//!
//! Shared here: reading text with UTF-8 checks and line numbers, whole-file JSON, and the
//! malformed-row policy (error with file and line, or skip and count when asked).

pub(crate) mod easy_vqa;
pub(crate) mod glue_tsv;
pub(crate) mod gqa;
pub(crate) mod jsonl;
pub(crate) mod karpathy;
pub(crate) mod nlvr2;
pub(crate) mod parquet;
mod parquet_file;
pub(crate) mod parquet_images;
pub(crate) mod vqa;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, Result};
use crate::layout::Layout;
use crate::record::{Origin, Record};
use crate::skipped::ReadReport;

/// State shared by the readers while one split of one task is read.
pub(crate) struct Reading<'a> {
    /// The data set root; image paths are relative to it.
    pub root: &'a Path,
    /// Skip malformed rows (counted) instead of failing.
    pub skip_malformed: bool,
    /// What was skipped.
    pub report: ReadReport,
}

impl Reading<'_> {
    /// Applies the malformed-row policy: an error naming file and line, or a counted skip.
    pub fn malformed(&mut self, origin: &Origin, reason: impl Into<String>) -> Result<()> {
        let reason = reason.into();
        if self.skip_malformed {
            self.report.skip_malformed(origin, &reason);
            Ok(())
        } else {
            Err(DataError::malformed(
                origin.path.as_ref(),
                origin.line,
                reason,
            ))
        }
    }
}

/// Reads the records of one official split of a data set in `layout`, with its reader.
pub(crate) fn read(layout: &Layout, reading: &mut Reading<'_>, split: &str) -> Result<Vec<Record>> {
    let files: Vec<PathBuf> = layout
        .files(split)
        .iter()
        .map(|f| reading.root.join(f))
        .collect();
    match layout {
        Layout::GlueTsv(tsv) => glue_tsv::read(reading, &files[0], tsv),
        Layout::Jsonl { label, image, .. } => jsonl::read(reading, &files[0], label, *image),
        Layout::Parquet(columns) => parquet::read(reading, split, columns),
        Layout::Vqa { .. } => vqa::read(reading, &files[0], &files[1], split),
        Layout::Gqa => gqa::read(reading, &files[0]),
        Layout::Nlvr2 => nlvr2::read(reading, &files[0], split),
        Layout::Karpathy { .. } => karpathy::read(reading, &files[0], split),
        Layout::EasyVqa => easy_vqa::read(reading, &files[0], split),
    }
}

/// A file's bytes with its path, for line-wise reading.
pub(crate) struct TextFile {
    /// Shared by every record read from the file.
    pub path: Arc<Path>,
    bytes: Vec<u8>,
}

/// The longest line the line-based readers (TSV, JSON Lines) accept. Longer lines are refused
/// as soon as this much of one has been read, so a file that is one huge line costs this much
/// memory, not its size.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The largest whole-file JSON document (VQA, GQA, Karpathy, easy-VQA) the readers accept. Such
/// a document is parsed whole, so a larger file is refused by its size before anything is read.
/// The largest official files (GQA's balanced training questions, VQA v2's training
/// annotations) are well under it.
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 30;

impl TextFile {
    /// Reads a whole JSON document, refusing a file larger than [`MAX_DOCUMENT_BYTES`] unread.
    pub fn open(path: &Path) -> Result<Self> {
        let max_size = MAX_DOCUMENT_BYTES;
        let io = |e| DataError::io(path, e);
        let too_large = |size| DataError::FileTooLarge {
            path: path.to_path_buf(),
            size,
            limit: max_size,
        };
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > max_size {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // `take` keeps the bound if the file grows while it is read.
        (&mut file)
            .take(max_size + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > max_size {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(Self {
            path: Arc::from(path),
            bytes,
        })
    }

    /// Reads a line-based file, refusing it at the first line longer than `max_line` bytes.
    pub fn open_lines(path: &Path, max_line: usize) -> Result<Self> {
        let io = |e| DataError::io(path, e);
        let too_long = |line| DataError::LineTooLong {
            path: path.to_path_buf(),
            line,
            limit: max_line,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io)?);
        let (mut bytes, mut line, mut line_start) = (Vec::new(), 1, 0);
        loop {
            let chunk = reader.fill_buf().map_err(io)?;
            if chunk.is_empty() {
                break;
            }
            let (from, n) = (bytes.len(), chunk.len());
            bytes.extend_from_slice(chunk);
            reader.consume(n);
            for end in (from..bytes.len()).filter(|&p| bytes[p] == b'\n') {
                if end - line_start > max_line {
                    return Err(too_long(line));
                }
                line += 1;
                line_start = end + 1;
            }
            if bytes.len() - line_start > max_line {
                return Err(too_long(line));
            }
        }
        Ok(Self {
            path: Arc::from(path),
            bytes,
        })
    }

    /// The file's lines with 1-based numbers, `\r\n` endings stripped; a line that is not UTF-8
    /// is an error naming the file and line. A trailing empty line is not yielded.
    pub fn lines(&self) -> impl Iterator<Item = Result<(Origin, &str)>> + '_ {
        let body = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        let empty = body.is_empty();
        body.split(|&b| b == b'\n')
            .filter(move |_| !empty)
            .enumerate()
            .map(move |(i, raw)| {
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let origin = Origin {
                    path: self.path.clone(),
                    line: i + 1,
                };
                match std::str::from_utf8(raw) {
                    Ok(text) => Ok((origin, text)),
                    Err(_) => Err(DataError::NotUtf8 {
                        path: self.path.to_path_buf(),
                        line: i + 1,
                    }),
                }
            })
    }

    /// Parses the whole file as one JSON document (UTF-8 checked first, naming the bad line).
    pub fn json(&self) -> Result<serde_json::Value> {
        let text = std::str::from_utf8(&self.bytes).map_err(|e| DataError::NotUtf8 {
            path: self.path.to_path_buf(),
            line: 1 + self.bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        })?;
        serde_json::from_str(text).map_err(|source| DataError::Json {
            path: self.path.to_path_buf(),
            source,
        })
    }

    /// An origin for entry `index` (0-based) of a whole-file JSON document.
    pub fn entry(&self, index: usize) -> Origin {
        Origin {
            path: self.path.clone(),
            line: index + 1,
        }
    }
}

/// Reads a JSON Lines file: blank lines are passed over, a line that is not JSON is a malformed
/// row (error or counted skip), and `record` turns each parsed line into a record or `None` (a row
/// it has already reported).
pub(crate) fn json_lines(
    reading: &mut Reading<'_>,
    path: &Path,
    mut record: impl FnMut(&mut Reading<'_>, Origin, serde_json::Value) -> Result<Option<Record>>,
) -> Result<Vec<Record>> {
    let file = TextFile::open_lines(path, MAX_LINE_BYTES)?;
    let mut records = Vec::new();
    for line in file.lines() {
        let (origin, text) = line?;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(text) {
            Ok(value) => records.extend(record(reading, origin, value)?),
            Err(e) => reading.malformed(&origin, format!("invalid JSON: {e}"))?,
        }
    }
    Ok(records)
}

/// A JSON value as text: strings as they are, numbers as printed.
pub(crate) fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Writing small files in the official formats for the reader tests.

    use std::path::{Path, PathBuf};

    use super::Reading;

    /// A reading of one split under `root`; `skip` skips malformed rows instead of failing.
    pub fn reading(root: &Path, skip: bool) -> Reading<'_> {
        Reading {
            root,
            skip_malformed: skip,
            report: Default::default(),
        }
    }

    /// Writes `contents` to `dir/name` (creating parent directories) and returns the path.
    pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(&path, contents).expect("write fixture file");
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_crlf_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let path = testutil::write(dir.path(), "a.txt", "x\r\ny\n");
        let file = TextFile::open(&path).unwrap();
        let lines: Vec<(usize, String)> = file
            .lines()
            .map(|r| r.map(|(o, t)| (o.line, t.to_owned())))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(lines, vec![(1, "x".into()), (2, "y".into())]);
    }

    #[test]
    fn a_line_over_the_limit_is_refused_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = testutil::write(dir.path(), "a.txt", "short\nabcdefghij\nx\n");
        let err = TextFile::open_lines(&path, 9).err().unwrap();
        assert!(
            matches!(
                err,
                DataError::LineTooLong {
                    line: 2,
                    limit: 9,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(TextFile::open_lines(&path, 10).unwrap().lines().count(), 3);
    }

    #[test]
    fn non_utf8_line_is_an_error_with_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = testutil::write(dir.path(), "a.txt", b"ok\nbad \xff\n");
        let file = TextFile::open(&path).unwrap();
        let err = file.lines().collect::<Result<Vec<_>>>().unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 2, .. }), "{err}");
        let err = file.json().unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 2, .. }), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = TextFile::open(Path::new("/nonexistent/train.tsv"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/train.tsv"));
    }
}
