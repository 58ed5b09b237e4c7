//! What `compare` and `fewshot` share: training a run once (reused when finished, resumed when
//! interrupted), reading its report, statistics over seeds, and writing a generated section of
//! `docs/results.md` without touching the rest of the file.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// `mean ± std` with two decimals.
pub fn cell(values: &[f64]) -> String {
    let (mean, std) = mean_std(values);
    format!("{mean:.2} ± {std:.2}")
}

/// `pelt train ARGS --out DIR` unless DIR already holds a report (a finished run is reused, an
/// interrupted one resumed); returns the parsed `report.json`.
pub fn train_once(root: &Path, dir: &Path, args: &[String]) -> Result<Value> {
    let report = dir.join("report.json");
    if !report.is_file() {
        let mut a: Vec<String> = vec!["train".into()];
        a.extend(args.iter().cloned());
        a.extend(["--out".into(), dir.display().to_string()]);
        if dir.join("checkpoints").is_dir() {
            a.push("--resume".into());
        }
        crate::pelt(root, &a)?;
    }
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("reading {}", report.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", report.display()))
}

/// The first test metric of `task` in a run report: (metric name, value).
pub fn test_score(report: &Value, task: &str) -> Result<(String, f64)> {
    let found = report["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["task"] == task)
        .with_context(|| format!("report has no task `{task}`"))?;
    let metric = &found["test"][0];
    Ok((
        metric["metric"].as_str().unwrap_or("?").to_string(),
        metric["value"]
            .as_f64()
            .with_context(|| format!("task `{task}`: test metric without a value"))?,
    ))
}

/// Replaces the text between `<!-- NAME -->` and `<!-- /NAME -->` in `doc` with `body`, or
/// appends the marked section when `doc` has none.
pub fn replace_section(doc: &str, name: &str, body: &str) -> Result<String> {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let block = format!("{open}\n{}\n{close}", body.trim_end());
    match (doc.find(&open), doc.find(&close)) {
        (Some(start), Some(end)) if start < end => Ok(format!(
            "{}{block}{}",
            &doc[..start],
            &doc[end + close.len()..]
        )),
        (None, None) => Ok(format!("{}\n\n{block}\n", doc.trim_end())),
        _ => bail!("unbalanced `{open}` / `{close}` markers"),
    }
}

/// Writes `body` into section `name` of the Markdown file `path` (created when missing).
pub fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let doc = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let text = replace_section(&doc, name, body).with_context(|| path.display().to_string())?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_deviation() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn sections_are_replaced_in_place_or_appended() {
        let doc = "# Results\n\nintro\n\n<!-- a -->\nold\n<!-- /a -->\n\nafter\n";
        let new = replace_section(doc, "a", "new\n").unwrap();
        assert_eq!(
            new,
            "# Results\n\nintro\n\n<!-- a -->\nnew\n<!-- /a -->\n\nafter\n"
        );
        let appended = replace_section(&new, "b", "more").unwrap();
        assert!(appended.ends_with("after\n\n<!-- b -->\nmore\n<!-- /b -->\n"));
        assert!(replace_section("<!-- /a --> <!-- a -->", "a", "x").is_err());
    }

    #[test]
    fn first_test_metric_of_a_task() {
        let report = serde_json::json!({"tasks": [
            {"task": "t", "test": [{"metric": "f1", "value": 61.0}, {"metric": "accuracy", "value": 55.0}]}]});
        assert_eq!(test_score(&report, "t").unwrap(), ("f1".into(), 61.0));
        assert!(test_score(&report, "u").is_err());
    }
}
