//! What `compare` and `fewshot` share: training a run once (reused when finished, resumed when
//! interrupted), reading its report, statistics over seeds, and writing a generated section of
//! `docs/results.md` without touching the rest of the file, with its evidence: the runs live in
//! `docs/results/<section>/` (their reports, logs and configurations committed, checkpoints and
//! weights ignored) beside `meta.json` (command, commit, CPU, date), and `--check` (`cargo xtask
//! check-results`) regenerates the section from the committed reports alone and fails where the
//! document disagrees.

use std::path::{Path, PathBuf};

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

/// The folder of a section's runs and `meta.json` when `--runs` does not name one.
pub fn evidence_dir(section: &str) -> PathBuf {
    PathBuf::from("docs/results").join(section)
}

/// `pelt train ARGS --out DIR` unless DIR already holds a report (a finished run is reused, an
/// interrupted one resumed); returns the parsed `report.json`. With `check`, nothing trains: a
/// missing report is an error.
pub fn train_once(root: &Path, dir: &Path, args: &[String], check: bool) -> Result<Value> {
    let report = dir.join("report.json");
    if check && !report.is_file() {
        bail!(
            "{}: no report.json, so the table cannot be checked against its run",
            dir.display()
        );
    }
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

/// The primary test metric of `task` in a run report (the one model selection reads): (metric
/// name, value).
pub fn test_score(report: &Value, task: &str) -> Result<(String, f64)> {
    let found = report["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["task"] == task)
        .with_context(|| format!("report has no task `{task}`"))?;
    let primary = found["primary"]
        .as_str()
        .with_context(|| format!("task `{task}`: report without its primary metric"))?;
    let metric = found["test"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["metric"] == primary)
        .with_context(|| format!("task `{task}`: no test value of {primary}"))?;
    Ok((
        metric["metric"].as_str().unwrap_or("?").to_string(),
        metric["value"]
            .as_f64()
            .with_context(|| format!("task `{task}`: test metric without a value"))?,
    ))
}

/// Writes `body` as section `name` of `out`, and `meta.json` (the command's arguments, commit,
/// CPU model, date) into the runs' folder `runs`; with `check`, writes nothing and fails unless
/// the section already holds exactly `body`.
pub fn publish(
    out: &Path,
    name: &str,
    body: &str,
    runs: &Path,
    args: &[String],
    check: bool,
) -> Result<()> {
    if check {
        let doc =
            std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
        if replace_section(&doc, name, body)? != doc {
            bail!(
                "section `{name}` of {} disagrees with the reports in {}; regenerated:\n{body}",
                out.display(),
                runs.display()
            );
        }
        return Ok(());
    }
    write_section(out, name, body)?;
    let meta = serde_json::json!({
        "args": args,
        "commit": output("git", &["rev-parse", "HEAD"]),
        "cpu": cpu_model(),
        "date": output("date", &["-u", "+%Y-%m-%d"]),
    });
    let path = runs.join("meta.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&meta)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// What `program args` prints, trimmed ("unknown" when it cannot run).
fn output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
}

/// The CPU's model name from `/proc/cpuinfo`, with its core count.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown");
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{model}, {cores} threads")
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
    fn the_primary_test_metric_of_a_task() {
        let report = serde_json::json!({"tasks": [
            {"task": "t", "primary": "accuracy",
             "test": [{"metric": "f1", "value": 61.0}, {"metric": "accuracy", "value": 55.0}]},
            {"task": "old", "test": [{"metric": "accuracy", "value": 55.0}]}]});
        assert_eq!(test_score(&report, "t").unwrap(), ("accuracy".into(), 55.0));
        assert!(test_score(&report, "u").is_err());
        assert!(test_score(&report, "old").is_err());
    }

    #[test]
    fn a_checked_section_must_hold_exactly_the_regenerated_table() {
        let dir = std::env::temp_dir().join(format!("xtask-publish-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("results.md");
        let args = vec!["compare".to_string(), "--seeds".into(), "1".into()];
        publish(&out, "s", "| a | 1.00 |\n", &dir, &args, false).unwrap();
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["args"], serde_json::json!(args));
        assert!(meta["cpu"].as_str().is_some_and(|c| c.contains("threads")));
        publish(&out, "s", "| a | 1.00 |\n", &dir, &args, true).unwrap();
        let err = publish(&out, "s", "| a | 2.00 |\n", &dir, &args, true).unwrap_err();
        assert!(err.to_string().contains("disagrees"), "{err}");
        let missing = train_once(&dir, &dir.join("never-ran"), &[], true).unwrap_err();
        assert!(missing.to_string().contains("no report.json"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
