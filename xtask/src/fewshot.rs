//! `cargo xtask fewshot`: few-shot transfer at our scale (docs/results.md). HyperPELT trains on
//! every default task but one; that run then initialises (`pelt train --init-from`) training on
//! the held-back task with K examples per class, against training it from scratch with the same
//! examples, steps and seed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::Value;

use crate::results::{cell, evidence_dir, mean_std, publish, test_score, train_once};

/// Few-shot transfer from the other default tasks to one, against training it from scratch.
///
/// First RUNS/source trains the other tasks of configs/default.json (`pelt train --tasks OTHERS
/// PELT_ARGS`). Then, for every K and S, TASK trains on K examples per class (`--tasks TASK
/// --shots K PELT_ARGS --set train.seed=S`, N steps, warm-up N/10, validation every N/2), once
/// with `--init-from RUNS/source` (RUNS/transfer-K-seed-S) and once from scratch
/// (RUNS/scratch-K-seed-S). A finished run is reused, an unfinished one resumed; the table goes
/// into the --section section of --out (the rest of the file is kept).
#[derive(Parser)]
#[command(name = "cargo xtask fewshot")]
struct FewshotArgs {
    /// The task transferred to
    #[arg(long, default_value = "pd-source")]
    target: String,
    /// Examples per class
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    shots: Vec<usize>,
    /// Seeds
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Steps of each few-shot run (at least 2)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..))]
    steps: u64,
    /// Markdown file whose --section section gets the table
    #[arg(long, default_value = "docs/results.md")]
    out: PathBuf,
    /// The section of --out that holds the table (between `<!-- NAME -->` markers)
    #[arg(long, default_value = "fewshot")]
    section: String,
    /// Directory of the runs and of meta.json [default: docs/results/SECTION; their reports,
    /// logs and configurations are committed as the table's evidence]
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Train nothing: regenerate the table from the reports in --runs and fail unless the
    /// --section section of --out holds exactly it (cargo xtask check-results)
    #[arg(long)]
    check: bool,
    /// Passed to every `pelt train`, the source run's included (the few-shot runs' steps,
    /// warm-up, validation interval and seed come after them)
    #[arg(last = true)]
    pelt_args: Vec<String>,
}

/// The default configuration's tasks as `NAME=DIR`, the target apart from the others.
fn split_tasks(root: &Path, target: &str) -> Result<(String, Vec<String>)> {
    let path = root.join("configs/default.json");
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let mut found = None;
    let mut others = Vec::new();
    for task in config["tasks"].as_array().into_iter().flatten() {
        let (name, dir) = (task["name"].as_str(), task["dir"].as_str());
        let (Some(name), Some(dir)) = (name, dir) else {
            bail!("{}: a task without name or dir", path.display());
        };
        if name == target {
            found = Some(format!("{name}={dir}"));
        } else {
            others.push(format!("{name}={dir}"));
        }
    }
    let found = found
        .with_context(|| format!("--target `{target}` is not a task of {}", path.display()))?;
    if others.is_empty() {
        bail!(
            "{} has no task besides `{target}` to transfer from",
            path.display()
        );
    }
    Ok((found, others))
}

/// Runs (or reuses) the source run and every few-shot run; writes the table to `--out`.
pub fn fewshot(root: &Path, args: &[String]) -> Result<()> {
    let FewshotArgs {
        target,
        shots,
        seeds,
        steps,
        out,
        section,
        runs,
        check,
        pelt_args,
    } = FewshotArgs::try_parse_from(
        std::iter::once("cargo xtask fewshot".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| e.exit());
    let runs = root.join(runs.unwrap_or_else(|| evidence_dir(&section)));
    let out = root.join(out);
    let (target_task, others) = split_tasks(root, &target)?;
    let source_dir = runs.join("source");
    let mut source_args = vec!["--tasks".to_string(), others.join(",")];
    source_args.extend(pelt_args.iter().cloned());
    let source = train_once(root, &source_dir, &source_args, check)?;
    let common = |k: usize, seed: u64| -> Vec<String> {
        let mut a: Vec<String> = vec!["--tasks".into(), target_task.clone(), "--shots".into()];
        a.push(k.to_string());
        a.extend(pelt_args.iter().cloned());
        for set in [
            format!("train.seed={seed}"),
            format!("train.steps={steps}"),
            format!("train.warmup_steps={}", steps / 10),
            format!("train.eval_every={}", steps / 2),
        ] {
            a.extend(["--set".into(), set]);
        }
        a
    };
    let mut rows = Vec::new();
    let mut metric = String::new();
    for &k in &shots {
        let (mut scratch, mut transfer) = (Vec::new(), Vec::new());
        for &seed in &seeds {
            let report = train_once(
                root,
                &runs.join(format!("scratch-{k}-seed-{seed}")),
                &common(k, seed),
                check,
            )?;
            let (name, value) = test_score(&report, &target)?;
            scratch.push(value);
            metric = name;
            let mut a = vec!["--init-from".to_string(), source_dir.display().to_string()];
            a.extend(common(k, seed));
            let dir = runs.join(format!("transfer-{k}-seed-{seed}"));
            let report = train_once(root, &dir, &a, check)?;
            transfer.push(test_score(&report, &target)?.1);
        }
        rows.push((k, scratch, transfer));
    }
    let args: Vec<String> = std::iter::once("fewshot".to_string())
        .chain(args.iter().filter(|a| *a != "--check").cloned())
        .collect();
    let command = format!("cargo xtask {}", args.join(" "));
    let text = table(
        &target,
        &metric,
        &source,
        &others,
        &rows,
        &seeds,
        steps,
        command.trim(),
    );
    publish(&out, &section, &text, &runs, &args, check)?;
    if !check {
        print!("{text}");
    }
    Ok(())
}

/// The Markdown table: one row per shot count, scratch against transfer.
#[allow(clippy::too_many_arguments)]
fn table(
    target: &str,
    metric: &str,
    source: &Value,
    others: &[String],
    rows: &[(usize, Vec<f64>, Vec<f64>)],
    seeds: &[u64],
    steps: u64,
    command: &str,
) -> String {
    let names: Vec<&str> = others
        .iter()
        .map(|t| t.split('=').next().unwrap_or(t))
        .collect();
    let mut source_scores = Vec::new();
    for name in &names {
        if let Ok((m, v)) = test_score(source, name) {
            source_scores.push(format!("{name} {m} {v:.2}"));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`{target}` test {metric} (×100) after {steps} steps on K training examples per class, \
         mean ± sample standard deviation over seeds {seeds:?}. The source run trained on {} \
         (test: {}). Regenerate with `{command}`.\n",
        names.join(" and "),
        source_scores.join(", ")
    );
    let _ = writeln!(
        out,
        "| K per class | from scratch | transferred | difference |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for (k, scratch, transfer) in rows {
        let diff: Vec<f64> = transfer.iter().zip(scratch).map(|(t, s)| t - s).collect();
        let (d, _) = mean_std(&diff);
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {d:+.2} |",
            cell(scratch),
            cell(transfer)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_compare_scratch_with_transfer() {
        let source = serde_json::json!({"tasks": [
            {"task": "a", "primary": "accuracy", "test": [{"metric": "accuracy", "value": 70.0}]}]});
        let rows = vec![(16, vec![50.0, 52.0], vec![60.0, 64.0])];
        let text = table(
            "t",
            "accuracy",
            &source,
            &["a=text/a".into()],
            &rows,
            &[1, 2],
            100,
            "c",
        );
        assert!(
            text.contains("| 16 | 51.00 ± 1.41 | 62.00 ± 2.83 | +11.00 |"),
            "{text}"
        );
        assert!(
            text.contains("trained on a (test: a accuracy 70.00)"),
            "{text}"
        );
    }
}
