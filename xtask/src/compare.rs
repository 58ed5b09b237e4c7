//! `cargo xtask compare`: the paper's method comparison at our scale (docs/results.md). Every
//! method trains the default configuration (bundled tasks, bundled backbone, same steps) with
//! several seeds; the reports are summarised as mean ± sample standard deviation per task and
//! on the mean of each task's primary metric (the model-selection rule, docs/train.md), with
//! trainable parameters and training throughput.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::Value;

use crate::results::{cell, evidence_dir, mean_std, publish, train_once};

/// The paper's method comparison at our scale.
///
/// Every method × seed on configs/default.json (`pelt train --method M --set train.seed=S
/// PELT_ARGS --out RUNS/M-seed-S`; a finished run is reused, an unfinished one resumed), then the
/// comparison table into the --section of --out (the rest of the file is kept). With
/// --learning-rates, each method first trains the first seed at every rate
/// (RUNS/M-lr-LR-seed-S), keeps the rate whose run reached the best validation score, and
/// trains the other seeds at that rate; the table names the rates and their validation scores.
#[derive(Parser)]
#[command(name = "cargo xtask compare")]
struct CompareArgs {
    /// Methods, in table order
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "full,adapters,prefix,hyperformer,hyperprefix,hyperpelt"
    )]
    methods: Vec<String>,
    /// Seeds
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Learning rates to choose from per method, on the first seed's validation score
    /// (none: every method uses the configuration's rate)
    #[arg(long, value_delimiter = ',')]
    learning_rates: Vec<String>,
    /// A method's rate chosen elsewhere, as METHOD=RATE (e.g. by a shorter comparison's
    /// selection): every seed of METHOD trains at RATE and --learning-rates is not tried for it
    #[arg(long = "rate", value_delimiter = ',', value_parser = method_rate)]
    fixed_rates: Vec<(String, String)>,
    /// Markdown file whose --section gets the table
    #[arg(long, default_value = "docs/results.md")]
    out: PathBuf,
    /// Section of --out (between `<!-- NAME -->` and `<!-- /NAME -->`) that gets the table
    #[arg(long, default_value = "compare")]
    section: String,
    /// Directory of the runs and of meta.json [default: docs/results/SECTION; their reports,
    /// logs and configurations are committed as the table's evidence]
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Train nothing: regenerate the table from the reports in --runs and fail unless the
    /// section of --out holds exactly it (cargo xtask check-results)
    #[arg(long)]
    check: bool,
    /// Passed to every `pelt train` (e.g. --set train.steps=100)
    #[arg(last = true)]
    pelt_args: Vec<String>,
}

/// Parses `METHOD=RATE`.
fn method_rate(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((m, r)) if !m.is_empty() && r.parse::<f64>().is_ok_and(|r| r > 0.0) => {
            Ok((m.to_string(), r.to_string()))
        }
        _ => Err(format!(
            "`{s}`: expected METHOD=RATE with a positive rate, e.g. full=5e-4"
        )),
    }
}

/// `task metric` → test values of one method over its seeds.
type Scores = BTreeMap<String, Vec<f64>>;

/// What one method's runs measured.
#[derive(Default)]
struct Summary {
    scores: Scores,
    /// Per seed, the mean over tasks of each task's primary test metric.
    averages: Vec<f64>,
    /// Per seed, the same mean on the whole validation sets (the kept model's).
    validation: Vec<f64>,
    /// The `task metric` keys of the tasks' primary metrics.
    primary: std::collections::BTreeSet<String>,
    baselines: BTreeMap<String, f64>,
    trainable: f64,
    backbone: f64,
    examples_per_second: Vec<f64>,
    /// The first seed's best validation score per learning rate tried, and the rate kept.
    rates: Vec<(String, f64)>,
    chosen: Option<String>,
}

fn summarise(reports: &[Value]) -> Result<Summary> {
    let mut s = Summary::default();
    for report in reports {
        let (mut primaries, mut validation) = (Vec::new(), Vec::new());
        for task in report["tasks"].as_array().context("report without tasks")? {
            let name = task["task"].as_str().unwrap_or("?");
            let primary = task["primary"]
                .as_str()
                .context("report without primary metrics")?;
            let on_validation = task["validation"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["metric"] == primary)
                .and_then(|m| m["value"].as_f64())
                .context("report without the primary metric on validation")?;
            validation.push(on_validation);
            for (m, b) in task["test"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(task["baseline"].as_array().into_iter().flatten())
            {
                let key = format!("{name} {}", m["metric"].as_str().unwrap_or("?"));
                let value = m["value"].as_f64().context("metric value")?;
                if m["metric"].as_str() == Some(primary) {
                    primaries.push(value);
                    s.primary.insert(key.clone());
                }
                s.scores.entry(key.clone()).or_default().push(value);
                s.baselines
                    .insert(key, b["value"].as_f64().unwrap_or(f64::NAN));
            }
        }
        s.averages
            .push(primaries.iter().sum::<f64>() / primaries.len().max(1) as f64);
        s.validation
            .push(validation.iter().sum::<f64>() / validation.len().max(1) as f64);
        s.trainable = report["trainable"].as_f64().unwrap_or(0.0);
        s.backbone = report["backbone_params"].as_f64().unwrap_or(0.0);
        s.examples_per_second
            .push(report["examples_per_second"].as_f64().unwrap_or(0.0));
    }
    Ok(s)
}

/// The best validation selection score a run reached (its `log.jsonl`): the score of the model
/// it kept.
fn best_validation(dir: &Path) -> Result<f64> {
    let log = dir.join("log.jsonl");
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok()?["score"].as_f64())
        .reduce(f64::max)
        .with_context(|| format!("{}: no validation line", log.display()))
}

/// The Markdown table of `methods` (in order) with their summaries.
fn table(methods: &[(String, Summary)], seeds: &[u64], command: &str) -> String {
    let mut keys: Vec<String> = methods
        .iter()
        .flat_map(|(_, s)| s.scores.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Test scores (×100), mean ± sample standard deviation over seeds {seeds:?}; the last \
         column is the kept models' score on the whole validation sets; regenerate with \
         `{command}`.\n"
    );
    let rated = methods.iter().any(|(_, s)| s.chosen.is_some());
    head(&mut out, &keys, rated);
    if let Some((_, first)) = methods.first() {
        baseline_row(&mut out, first, &keys, rated);
    }
    for (method, s) in methods {
        method_row(&mut out, method, s, &keys, rated);
    }
    if rated {
        rates(&mut out, methods);
    }
    out
}

/// The table's head: a column per `task metric` key, and the learning rate when `rated`.
fn head(out: &mut String, keys: &[String], rated: bool) {
    let _ = write!(out, "| method | trainable (% of backbone) | examples/s |");
    if rated {
        let _ = write!(out, " learning rate |");
    }
    for k in keys {
        let _ = write!(out, " {k} |");
    }
    let _ = writeln!(out, " mean of primary metrics | validation (same mean) |");
    let columns = keys.len() + usize::from(rated) + 1;
    let _ = writeln!(out, "|---|---:|---:|{}---:|", "---:|".repeat(columns));
}

/// The majority baseline's row, from the first method's summary (every run has the same).
fn baseline_row(out: &mut String, first: &Summary, keys: &[String], rated: bool) {
    let _ = write!(out, "| majority baseline | - | - |");
    if rated {
        let _ = write!(out, " - |");
    }
    for k in keys {
        let _ = write!(
            out,
            " {:.2} |",
            first.baselines.get(k).copied().unwrap_or(f64::NAN)
        );
    }
    let base: Vec<f64> = first
        .primary
        .iter()
        .filter_map(|k| first.baselines.get(k))
        .copied()
        .collect();
    let _ = writeln!(
        out,
        " {:.2} | - |",
        base.iter().sum::<f64>() / base.len().max(1) as f64
    );
}

/// The row of `method`.
fn method_row(out: &mut String, method: &str, s: &Summary, keys: &[String], rated: bool) {
    let (eps, _) = mean_std(&s.examples_per_second);
    let _ = write!(
        out,
        "| {method} | {:.0} ({:.3} %) | {eps:.1} |",
        s.trainable,
        100.0 * s.trainable / s.backbone.max(1.0)
    );
    if rated {
        let _ = write!(out, " {} |", s.chosen.as_deref().unwrap_or("-"));
    }
    for k in keys {
        let _ = write!(
            out,
            " {} |",
            s.scores.get(k).map_or("-".into(), |v| cell(v))
        );
    }
    let _ = writeln!(out, " {} | {} |", cell(&s.averages), cell(&s.validation));
}

/// The learning rates each method's first seed tried, with their validation scores.
fn rates(out: &mut String, methods: &[(String, Summary)]) {
    let fixed = methods
        .iter()
        .any(|(_, s)| s.rates.is_empty() && s.chosen.is_some());
    let _ = writeln!(
        out,
        "\nLearning rates: each method's first-seed run at every rate; the rate with the best \
         validation score (of the model each run kept) trains the other seeds.{}\n",
        if fixed {
            " A rate fixed by --rate was chosen outside this table and trains every seed."
        } else {
            ""
        }
    );
    let _ = writeln!(out, "| method | rate: best validation score (first seed) |");
    let _ = writeln!(out, "|---|---|");
    for (method, s) in methods {
        let tried: Vec<String> = s
            .rates
            .iter()
            .map(|(rate, score)| format!("{rate}: {score:.2}"))
            .collect();
        let tried = match (&s.chosen, tried.is_empty()) {
            (Some(rate), true) => format!("{rate}, fixed by --rate (none tried here)"),
            (None, true) => "-".into(),
            _ => tried.join(", "),
        };
        let _ = writeln!(out, "| {method} | {tried} |");
    }
}

/// Runs (or reuses) every method × seed and writes the table to `--out`.
pub fn compare(root: &Path, args: &[String]) -> Result<()> {
    let CompareArgs {
        methods,
        seeds,
        learning_rates,
        fixed_rates,
        out,
        section,
        runs,
        check,
        pelt_args,
    } = CompareArgs::try_parse_from(
        std::iter::once("cargo xtask compare".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| e.exit());
    let runs = root.join(runs.unwrap_or_else(|| evidence_dir(&section)));
    let out = root.join(out);
    if let Some((m, _)) = fixed_rates.iter().find(|(m, _)| !methods.contains(m)) {
        anyhow::bail!("--rate {m}=...: {m} is not among --methods {methods:?}");
    }
    let mut summaries = Vec::new();
    for method in &methods {
        let fixed = fixed_rates
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| r);
        let run = |seed: u64, rate: Option<&String>| -> Result<(Value, PathBuf)> {
            let mut a: Vec<String> = vec![
                "--method".into(),
                method.clone(),
                "--set".into(),
                format!("train.seed={seed}"),
            ];
            a.extend(pelt_args.iter().cloned());
            let dir = match rate {
                Some(rate) => {
                    a.extend(["--set".into(), format!("train.learning_rate={rate}")]);
                    runs.join(format!("{method}-lr-{rate}-seed-{seed}"))
                }
                None => runs.join(format!("{method}-seed-{seed}")),
            };
            Ok((train_once(root, &dir, &a, check)?, dir))
        };
        let mut rates = Vec::new();
        let mut chosen: Option<(String, f64, Value)> = None;
        let first = *seeds.first().context("--seeds is empty")?;
        let tried = if fixed.is_some() {
            &[][..]
        } else {
            &learning_rates[..]
        };
        for rate in tried {
            let (report, dir) = run(first, Some(rate))?;
            let score = best_validation(&dir)?;
            rates.push((rate.clone(), score));
            if chosen.as_ref().is_none_or(|(_, best, _)| score > *best) {
                chosen = Some((rate.clone(), score, report));
            }
        }
        let mut reports = Vec::new();
        let rate = chosen
            .map(|(rate, _, report)| {
                reports.push(report);
                rate
            })
            .or_else(|| fixed.cloned());
        for &seed in &seeds[reports.len()..] {
            reports.push(run(seed, rate.as_ref())?.0);
        }
        let mut summary = summarise(&reports)?;
        summary.rates = rates;
        summary.chosen = rate;
        summaries.push((method.clone(), summary));
    }
    let args: Vec<String> = std::iter::once("compare".to_string())
        .chain(args.iter().filter(|a| *a != "--check").cloned())
        .collect();
    let text = table(
        &summaries,
        &seeds,
        &format!("cargo xtask {}", args.join(" ")),
    );
    publish(&out, &section, &text, &runs, &args, check)?;
    if !check {
        print!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_summarised_per_task_metric() {
        // A task with F1 beside accuracy: only accuracy, its primary metric, is averaged.
        let report = |acc: f64| {
            serde_json::json!({"trainable": 10, "backbone_params": 1000,
                "examples_per_second": 4.0,
                "tasks": [{"task": "t", "primary": "accuracy",
                           "validation": [{"metric": "f1", "value": 1.0},
                                          {"metric": "accuracy", "value": acc + 1.0}],
                           "test": [{"metric": "f1", "value": 0.0},
                                    {"metric": "accuracy", "value": acc}],
                           "baseline": [{"metric": "f1", "value": 66.0},
                                        {"metric": "accuracy", "value": 50.0}]}]})
        };
        let s = summarise(&[report(60.0), report(70.0)]).unwrap();
        assert_eq!(s.scores["t accuracy"], vec![60.0, 70.0]);
        assert_eq!(s.averages, vec![60.0, 70.0]);
        let text = table(&[("hyperpelt".into(), s)], &[1, 2], "cargo xtask compare");
        assert!(
            text.contains(
                "| hyperpelt | 10 (1.000 %) | 4.0 | 65.00 ± 7.07 | 0.00 ± 0.00 | 65.00 ± 7.07 \
                 | 66.00 ± 7.07 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| majority baseline | - | - | 50.00 | 66.00 | 50.00 | - |"),
            "{text}"
        );
        let old = serde_json::json!({"tasks": [{"task": "t", "test": [], "baseline": []}]});
        let err = summarise(&[old]).err().unwrap().to_string();
        assert!(err.contains("primary"), "{err}");
        assert!(!text.contains("learning rate"), "{text}");
    }

    /// The summary of one run of one task: validation 62, test 60, baseline 50.
    fn one_task_summary() -> Summary {
        let report = serde_json::json!({"trainable": 10, "backbone_params": 1000,
            "examples_per_second": 4.0,
            "tasks": [{"task": "t", "primary": "accuracy",
                       "validation": [{"metric": "accuracy", "value": 62.0}],
                       "test": [{"metric": "accuracy", "value": 60.0}],
                       "baseline": [{"metric": "accuracy", "value": 50.0}]}]});
        summarise(&[report]).unwrap()
    }

    #[test]
    fn chosen_rates_are_named_with_their_validation_scores() {
        let mut s = one_task_summary();
        s.rates = vec![("5e-4".into(), 61.5), ("2e-3".into(), 40.25)];
        s.chosen = Some("5e-4".into());
        let text = table(&[("full".into(), s)], &[1], "cargo xtask compare");
        assert!(
            text.contains(
                "| full | 10 (1.000 %) | 4.0 | 5e-4 | 60.00 ± 0.00 | 60.00 ± 0.00 | 62.00 ± 0.00 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| majority baseline | - | - | - | 50.00 | 50.00 | - |"),
            "{text}"
        );
        assert!(
            text.contains("| full | 5e-4: 61.50, 2e-3: 40.25 |"),
            "{text}"
        );
        assert!(!text.contains("fixed by --rate"), "{text}");
    }

    #[test]
    fn a_fixed_rate_is_named_as_fixed_and_parsed_strictly() {
        let mut s = one_task_summary();
        s.chosen = Some("2e-3".into());
        let text = table(&[("adapters".into(), s)], &[1], "cargo xtask compare");
        assert!(
            text.contains("| adapters | 2e-3, fixed by --rate (none tried here) |"),
            "{text}"
        );
        assert!(
            text.contains("A rate fixed by --rate was chosen outside"),
            "{text}"
        );
        assert_eq!(
            method_rate("full=5e-4").unwrap(),
            ("full".to_string(), "5e-4".to_string())
        );
        for bad in ["full", "=5e-4", "full=fast", "full=0", "full=-1e-3"] {
            let err = method_rate(bad).unwrap_err();
            assert!(err.contains("METHOD=RATE"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_best_validation_score_is_read_from_the_log() {
        let dir = std::env::temp_dir().join(format!("xtask-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("log.jsonl"),
            "{\"step\":10,\"loss\":1.0}\n{\"step\":20,\"average\":41.0,\"score\":40.0}\n\
             {\"step\":40,\"average\":60.5,\"score\":55.5}\n\
             {\"step\":60,\"average\":62.0,\"score\":50.0}\n",
        )
        .unwrap();
        assert_eq!(best_validation(&dir).unwrap(), 55.5);
        std::fs::write(dir.join("log.jsonl"), "{\"step\":10,\"loss\":1.0}\n").unwrap();
        let err = best_validation(&dir).unwrap_err().to_string();
        assert!(err.contains("no validation line"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
