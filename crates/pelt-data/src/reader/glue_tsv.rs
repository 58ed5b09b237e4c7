//! Reader of the official GLUE distribution's TSV files.
//!
//! The files are read the way the GLUE baseline and Hugging Face read them: tab-separated with no
//! quoting (quotes are part of the text), columns found by header name, or by position for CoLA,
//! whose files have no header.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::layout::{Column, GlueTsv};
use crate::reader::{MAX_LINE_BYTES, Reading, TextFile};
use crate::record::{RawLabel, Record};

fn resolve(column: Column, header: Option<&[&str]>, width: usize, path: &Path) -> Result<usize> {
    match (column, header) {
        (Column::Index(i), _) if i < width => Ok(i),
        (Column::Index(i), _) => Err(DataError::Config(format!(
            "column {i} is outside the {width} columns of {}",
            path.display()
        ))),
        (Column::Named(name), Some(names)) => names
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| DataError::malformed(path, 1, format!("header has no column {name:?}"))),
        (Column::Named(name), None) => Err(DataError::Config(format!(
            "column {name:?} is named but the layout has no header"
        ))),
    }
}

/// Reads one GLUE TSV file into records.
pub(crate) fn read(
    reading: &mut Reading<'_>,
    path: &Path,
    layout: &GlueTsv,
) -> Result<Vec<Record>> {
    let file = TextFile::open_lines(path, MAX_LINE_BYTES)?;
    let mut lines = file.lines();
    let header_line;
    let header: Option<Vec<&str>> = if layout.header {
        header_line = match lines.next() {
            Some(line) => line?.1,
            None => return Ok(Vec::new()),
        };
        Some(header_line.split('\t').collect())
    } else {
        None
    };
    let width = header.as_ref().map_or(layout.columns, Vec::len);
    let fields: Vec<(&str, usize)> = layout
        .fields
        .iter()
        .map(|&(name, col)| Ok((name, resolve(col, header.as_deref(), width, path)?)))
        .collect::<Result<_>>()?;
    let label = resolve(layout.label, header.as_deref(), width, path)?;
    let id_column = header
        .as_ref()
        .and_then(|h| h.iter().position(|c| *c == "index" || *c == "id"));

    let mut records = Vec::new();
    for line in lines {
        let (origin, text) = line?;
        let cells: Vec<&str> = text.split('\t').collect();
        if cells.len() != width {
            let reason = format!(
                "expected {width} tab-separated columns, found {}",
                cells.len()
            );
            if layout.known_short_rows && cells.len() < width {
                reading.report.skip_known_malformed(&origin, &reason);
            } else {
                reading.malformed(&origin, reason)?;
            }
            continue;
        }
        let mut record = Record::new(origin);
        if let Some(i) = id_column {
            record.id = cells[i].to_owned();
        }
        for &(name, i) in &fields {
            record.fields.insert(name.to_owned(), cells[i].to_owned());
        }
        record.label = Some(RawLabel::Text(cells[label].to_owned()));
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testutil::{reading, write};
    use crate::registry::task;

    fn glue(name: &str) -> GlueTsv {
        match task(name).unwrap().layouts[0] {
            crate::layout::Layout::GlueTsv(g) => g,
            other => panic!("{name}: first layout is {other:?}"),
        }
    }

    #[test]
    fn cola_has_no_header_and_positional_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "train.tsv",
            "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n",
        );
        let records = read(&mut reading(dir.path(), false), &path, &glue("cola")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].fields["sentence"], "They drank the pub.");
        assert_eq!(records[1].label, Some(RawLabel::Text("0".into())));
        assert_eq!(records[0].id, "line-1");
    }

    #[test]
    fn quotes_are_text_not_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "dev.tsv",
            "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\t\"He said\tShe \"said\" so\n",
        );
        let records = read(&mut reading(dir.path(), false), &path, &glue("mrpc")).unwrap();
        assert_eq!(records[0].fields["sentence1"], "\"He said");
        assert_eq!(records[0].fields["sentence2"], "She \"said\" so");
    }

    #[test]
    fn malformed_row_errors_with_file_and_line_or_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "train.tsv",
            "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n",
        );
        let err = read(&mut reading(dir.path(), false), &path, &glue("rte")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("train.tsv:3: malformed row"), "{text}");
        let mut r = reading(dir.path(), true);
        let records = read(&mut r, &path, &glue("rte")).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].id, "0");
        assert_eq!(r.report.skipped_malformed, 1);
        assert!(r.report.locations[0].contains("train.tsv:3"));
    }

    #[test]
    fn qqp_short_rows_are_known_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "train.tsv",
            "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n\
             5\t11\t12\tHow do I learn?\tWhat is learning?\t0\n\
             6\t13\t14\tA question broken\n\
             over lines?\tOther\t1\n",
        );
        let mut r = reading(dir.path(), false);
        let records = read(&mut r, &path, &glue("qqp")).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].fields["question2"], "What is learning?");
        assert_eq!(r.report.skipped_known_malformed, 2);
    }

    #[test]
    fn stsb_columns_by_header_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "dev.tsv",
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n\
             0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n",
        );
        let records = read(&mut reading(dir.path(), false), &path, &glue("stsb")).unwrap();
        assert_eq!(
            records[0].fields["sentence2"],
            "A man wearing a hard hat is dancing."
        );
        assert_eq!(records[0].label, Some(RawLabel::Text("5.000".into())));
    }

    #[test]
    fn missing_header_column_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "dev.tsv",
            "index\tquestion\tlabel\n0\tq\tentailment\n",
        );
        let err = read(&mut reading(dir.path(), false), &path, &glue("qnli")).unwrap_err();
        assert!(err.to_string().contains("dev.tsv:1"), "{err}");
        assert!(err.to_string().contains("\"sentence\""), "{err}");
    }
}
