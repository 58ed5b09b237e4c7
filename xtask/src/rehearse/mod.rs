//! `cargo xtask rehearse`: the paper configurations (`configs/glue-t5-base.json`,
//! `configs/vl-t5-base-clip.json`) run unchanged against a local hub that serves random
//! checkpoints of their models' exact shapes and generated rows of their data sets, for a few
//! steps each with a checkpoint and a resume; prints and writes seconds per step, peak memory
//! and examples per second (docs/train.md, "Measured (2026-12-06): the paper configurations
//! rehearsed").

mod checkpoint;
mod data;
mod measure;
mod parquet;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};

use data::Rows;
use measure::Usage;

/// `cargo xtask rehearse`: serves from a hub on 127.0.0.1 a random t5-base and a random
/// openai/clip-vit-base-patch32 (their exact shapes and tensor names) and generated rows of
/// nyu-mll/glue (8 configurations), lmms-lab/GQA and sedrickkeh/snli-ve in the hub's Parquet
/// layout, then runs configs/glue-t5-base.json and configs/vl-t5-base-clip.json unchanged but
/// for the hub's environment and these overrides: train.steps, train.eval_every=steps-1 (a
/// checkpoint before the last step), train.log_every=1, train.eval_examples and
/// train.final_examples. Each run then loses its last checkpoint and continues with --resume,
/// as after a crash; its uninterrupted log is kept as log.uninterrupted.jsonl and compared.
/// Prints seconds per step, peak memory and examples/s per configuration and writes them to
/// OUT/figures.json (an earlier rehearsal's OUT is replaced, any other existing OUT refused).
#[derive(Parser)]
#[command(name = "cargo xtask rehearse")]
struct RehearseArgs {
    /// Training steps per configuration (at least 2: a checkpoint, then the resumed last step)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..))]
    steps: u64,
    /// Rows of each generated train split (other splits have half, rounded up)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// Evaluation examples per task and split
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    examples: u64,
    /// Output directory [default: runs/rehearse in the workspace root]
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The options of one rehearsal.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    steps: u64,
    rows: Rows,
    examples: usize,
    out: PathBuf,
}

/// The options of `args`, or `None` where they ask for help (clap's text is then printed).
fn parse(root: &Path, args: &[String]) -> Result<Option<Options>> {
    let parsed = match RehearseArgs::try_parse_from(
        std::iter::once("cargo xtask rehearse".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(parsed) => parsed,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            print!("{}", e.render());
            return Ok(None);
        }
        Err(e) => bail!("{}", e.render()),
    };
    let rows = parsed.rows as usize;
    Ok(Some(Options {
        steps: parsed.steps,
        rows: Rows {
            train: rows,
            other: rows.div_ceil(2),
        },
        examples: parsed.examples as usize,
        // The runs start in the workspace root: a relative OUT is made absolute first.
        out: match parsed.out {
            Some(out) => std::path::absolute(out)?,
            None => root.join("runs/rehearse"),
        },
    }))
}

/// A configuration to rehearse.
struct Plan {
    /// Its name in the figures and its run directory's.
    name: &'static str,
    /// The file under `configs/`.
    config: &'static str,
}

const PLANS: [Plan; 2] = [
    Plan {
        name: "glue-t5-base",
        config: "configs/glue-t5-base.json",
    },
    Plan {
        name: "vl-t5-base-clip",
        config: "configs/vl-t5-base-clip.json",
    },
];

/// The `--set` overrides of the first run of a rehearsal of `steps` steps.
fn overrides(steps: u64, examples: usize) -> Vec<String> {
    [
        format!("train.steps={steps}"),
        format!("train.eval_every={}", steps - 1),
        // A loss line per step, so the resumed run's log is compared on every step.
        "train.log_every=1".to_string(),
        format!("train.eval_examples={examples}"),
        format!("train.final_examples={examples}"),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect()
}

/// The file that marks a rehearsal's output directory.
const MARKER: &str = "REHEARSAL";

/// `cargo xtask rehearse ARGS`.
pub fn rehearse(root: &Path, args: &[String]) -> Result<()> {
    let Some(options) = parse(root, args)? else {
        return Ok(());
    };
    crate::build_pelt(root)?;
    let pelt = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release/pelt");
    // Only a directory an earlier rehearsal made (and marked) is replaced.
    let marker = options.out.join(MARKER);
    if options.out.exists() {
        if !marker.is_file() {
            bail!(
                "{} exists and is not a rehearsal's (no {MARKER}): name another with --out",
                options.out.display()
            );
        }
        std::fs::remove_dir_all(&options.out)
            .with_context(|| format!("removing {}", options.out.display()))?;
    }
    std::fs::create_dir_all(&options.out)?;
    std::fs::write(
        &marker,
        "made by cargo xtask rehearse, which replaces this directory\n",
    )?;

    eprintln!("rehearse: generating the random checkpoints and the data sets");
    let hub = pelt_hubmock::Hub::start()?;
    let t5 = checkpoint::t5_base_config();
    hub.model(
        "t5-base",
        checkpoint::t5_repo(&t5, &root.join("datasets/t5-tokenizer"), 1)?,
    );
    let clip = checkpoint::clip_vit_b32_config();
    hub.model(
        "openai/clip-vit-base-patch32",
        checkpoint::clip_repo(&clip, 2)?,
    );
    hub.dataset("nyu-mll/glue", data::glue(options.rows)?);
    hub.dataset("lmms-lab/GQA", data::gqa(options.rows)?);
    hub.dataset("sedrickkeh/snli-ve", data::snli_ve(options.rows)?);
    eprintln!(
        "rehearse: serving t5-base, openai/clip-vit-base-patch32, nyu-mll/glue ({}), \
         lmms-lab/GQA and sedrickkeh/snli-ve at {}",
        data::glue_configurations().join(", "),
        hub.endpoint()
    );

    let mut figures = Vec::new();
    for plan in &PLANS {
        let run = options.out.join(plan.name);
        let pelt_train = |extra: &[String]| {
            let mut command = Command::new(&pelt);
            crate::allocator_settings(&mut command)
                .current_dir(root)
                .env("HF_ENDPOINT", hub.endpoint())
                .env("HF_HOME", options.out.join("hf-home"))
                .env("HF_HUB_CACHE", options.out.join("hub-cache"))
                .env_remove("HF_TOKEN")
                .arg("train")
                .args(extra)
                .arg("--out")
                .arg(&run);
            command
        };
        let mut first = pelt_train(&["--config".into(), plan.config.into()]);
        first.args(overrides(options.steps, options.examples));
        eprintln!("rehearse: {} for {} steps", plan.config, options.steps);
        let first_usage =
            measure::run(&mut first, &format!("pelt train --config {}", plan.config))?;
        // Kept beside the resumed run's log, which `same_log` compares with it.
        let log = std::fs::read_to_string(run.join("log.jsonl"))?;
        std::fs::write(run.join("log.uninterrupted.jsonl"), &log)?;
        let last = last_checkpoint(&run.join("checkpoints"))?;
        std::fs::remove_dir_all(&last)
            .with_context(|| format!("removing the last checkpoint {}", last.display()))?;
        eprintln!(
            "rehearse: {} resumed after deleting its last checkpoint",
            plan.name
        );
        let resumed = measure::run(&mut pelt_train(&["--resume".into()]), "pelt train --resume")?;
        let resumed_log = std::fs::read_to_string(run.join("log.jsonl"))?;
        let report: Value = serde_json::from_slice(&std::fs::read(run.join("report.json"))?)
            .context("reading report.json")?;
        figures.push(figure(
            plan,
            &run,
            &report,
            [first_usage, resumed],
            same_log(&log, &resumed_log),
        )?);
    }
    let summary = json!({
        "date_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "cpu": cpu_model(),
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "command": format!("cargo xtask rehearse {}", args.join(" ")).trim_end().to_string(),
        "configs": figures,
    });
    let path = options.out.join("figures.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")?;
    println!("{}", table(&summary));
    println!("written to {}", path.display());
    Ok(())
}

/// The last checkpoint directory in `dir` (their names, `step-NNNNNNNNN`, sort by step).
fn last_checkpoint(dir: &Path) -> Result<PathBuf> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("step-") && !name.ends_with(".tmp") {
            names.push(name);
        }
    }
    names.sort();
    let last = names
        .pop()
        .with_context(|| format!("no checkpoint in {}", dir.display()))?;
    Ok(dir.join(last))
}

/// Whether a resumed run's log is the uninterrupted run's, but for its `resumed_at` lines.
fn same_log(first: &str, resumed: &str) -> bool {
    let kept: Vec<&str> = resumed
        .lines()
        .filter(|l| !l.contains("\"resumed_at\""))
        .collect();
    first.lines().collect::<Vec<_>>() == kept
}

/// One configuration's figures from its report and the two runs' usage.
fn figure(
    plan: &Plan,
    run: &Path,
    report: &Value,
    usage: [Usage; 2],
    resume_exact: bool,
) -> Result<Value> {
    let config: Value = serde_json::from_slice(&std::fs::read(run.join("config.json"))?)?;
    let train = &config["train"];
    let per_step = train["batch_size"].as_f64().unwrap_or(0.0)
        * train["grad_accumulation"].as_f64().unwrap_or(1.0);
    let examples_per_second = report["examples_per_second"]
        .as_f64()
        .context("report.json has no examples_per_second")?;
    Ok(json!({
        "config": plan.config,
        "steps": report["steps"],
        "examples_per_step": per_step,
        "examples_per_second": examples_per_second,
        "seconds_per_step": per_step / examples_per_second,
        "peak_rss_mib": usage[0].peak_rss_mib.max(usage[1].peak_rss_mib),
        "wall_s": [usage[0].wall_s, usage[1].wall_s],
        "cpu_s": [usage[0].cpu_s, usage[1].cpu_s],
        "resume_log_identical": resume_exact,
        "trainable": report["trainable"],
        "backbone_params": report["backbone_params"],
    }))
}

/// The figures as a Markdown table.
fn table(summary: &Value) -> String {
    let mut out = String::from(
        "| configuration | s/step | examples/s | peak RSS (GiB) | wall s (run, resume) | CPU s (run, resume) | resume log identical |\n|---|---:|---:|---:|---|---|---|\n",
    );
    for c in summary["configs"].as_array().into_iter().flatten() {
        let pair = |key: &str| {
            let v = |i: usize| c[key][i].as_f64().unwrap_or(f64::NAN);
            format!("{:.0}, {:.0}", v(0), v(1))
        };
        let number = |key: &str| c[key].as_f64().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "| `{}` | {:.1} | {:.2} | {:.2} | {} | {} | {} |\n",
            c["config"].as_str().unwrap_or_default(),
            number("seconds_per_step"),
            number("examples_per_second"),
            number("peak_rss_mib") / 1024.0,
            pair("wall_s"),
            pair("cpu_s"),
            c["resume_log_identical"],
        ));
    }
    out
}

/// The CPU's model name (`/proc/cpuinfo`), or `unknown`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests;
