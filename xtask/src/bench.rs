//! `cargo xtask bench`: the criterion benches, then the same work timed in Rust
//! (`crates/pelt-train/examples/bench_worker.rs`) and in PyTorch eager
//! (`xtask/bench/torch_worker.py`), alternating process by process, with medians, ratios,
//! peak memory and each case's share of the measured matrix-multiply ceiling.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{python_env, run};

pub const HELP: &str = "\
cargo xtask bench [--compare-only] [--dims small,base] [--rounds N] [--iters N] [--threads N]

  Runs `cargo bench --workspace` (criterion), then the side-by-side comparison with PyTorch:
  each case runs in a fresh Rust process and a fresh PyTorch process, alternating, ROUNDS times
  (default 3), ITERS timed iterations after one warm-up each (default 3); medians are over all
  timed iterations. THREADS (default: all cores) is RAYON_NUM_THREADS for Rust and
  torch.set_num_threads for PyTorch. The PyTorch side runs in .venv-fixtures/ (installed from
  xtask/fixtures-requirements.txt on first use), or in the interpreter named by PELT_PYTHON.
  --compare-only skips the criterion benches.
";

/// One row of the comparison: worker arguments common to both sides, and whether PyTorch
/// has the case.
struct Case {
    label: String,
    args: Vec<String>,
    torch: bool,
}

/// Per-dimension cases: label, worker arguments after `--dims D`, and whether PyTorch has it.
const PER_DIMS: [(&str, &[&str], bool); 9] = [
    ("hyperpelt train step", &["--case", "step"], true),
    (
        "hyperpelt train step +49 visual",
        &["--case", "step", "--visual"],
        true,
    ),
    (
        "full train step",
        &["--case", "step", "--method", "full"],
        true,
    ),
    ("hyperpelt forward", &["--case", "forward"], true),
    (
        "hyperpelt forward +49 visual",
        &["--case", "forward", "--visual"],
        true,
    ),
    ("greedy 8 tokens (plain T5)", &["--case", "generate"], true),
    ("hypernetwork generation", &["--case", "hypernet"], false),
    (
        "materialised hyperpelt forward",
        &["--case", "materialised"],
        false,
    ),
    ("static adapters forward", &["--case", "adapters"], false),
];

fn cases(dims: &[String]) -> Vec<Case> {
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut out = vec![Case {
        label: "matmul 2048² f32".into(),
        args: strings(&["--case", "matmul"]),
        torch: true,
    }];
    for d in dims {
        out.extend(PER_DIMS.iter().map(|(label, args, torch)| Case {
            label: format!("{d}: {label}"),
            args: [strings(&["--dims", d]), strings(args)].concat(),
            torch: *torch,
        }));
    }
    out
}

/// What one side measured over all rounds of a case.
#[derive(Default)]
struct Side {
    times: Vec<f64>,
    peak_rss_mib: f64,
    flops: Option<f64>,
}

impl Side {
    fn median(&self) -> Option<f64> {
        let mut t = self.times.clone();
        t.sort_by(f64::total_cmp);
        (!t.is_empty()).then(|| t[t.len() / 2])
    }

    fn add(&mut self, line: &Value) -> Result<()> {
        let times = line["times_s"]
            .as_array()
            .context("worker output has no times_s")?;
        self.times.extend(times.iter().filter_map(Value::as_f64));
        self.peak_rss_mib = self
            .peak_rss_mib
            .max(line["peak_rss_mib"].as_f64().unwrap_or(0.0));
        self.flops = line["flops"].as_f64().or(self.flops);
        Ok(())
    }
}

/// Runs a worker and parses the JSON line it prints last.
fn worker(command: &mut Command) -> Result<Value> {
    let output = command
        .output()
        .with_context(|| format!("could not start {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .last()
        .context("the worker printed nothing")?;
    serde_json::from_str(last).with_context(|| format!("worker output `{last}` is not JSON"))
}

struct Options {
    compare_only: bool,
    dims: Vec<String>,
    rounds: usize,
    iters: usize,
    threads: usize,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        compare_only: false,
        dims: vec!["small".into(), "base".into()],
        rounds: 3,
        iters: 3,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n\n{HELP}"))
        };
        match flag.as_str() {
            "--compare-only" => o.compare_only = true,
            "--dims" => o.dims = value()?.split(',').map(str::to_string).collect(),
            "--rounds" => o.rounds = value()?.parse().context("--rounds")?,
            "--iters" => o.iters = value()?.parse().context("--iters")?,
            "--threads" => o.threads = value()?.parse().context("--threads")?,
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n\n{HELP}"),
        }
    }
    Ok(o)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !o.compare_only {
        run(Command::new(&cargo)
            .current_dir(root)
            .args(["bench", "--workspace"]))?;
    }
    run(Command::new(&cargo).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "pelt-train",
        "--example",
        "bench_worker",
    ]))?;
    let rust = target_dir(root).join("release/examples/bench_worker");
    let python = python_env(root)?;
    let script = root.join("xtask/bench/torch_worker.py");
    let threads = o.threads.to_string();
    let iters = o.iters.to_string();
    let mut rows = Vec::new();
    for case in cases(&o.dims) {
        let (mut ours, mut theirs) = (Side::default(), Side::default());
        for round in 0..o.rounds {
            let mut sides = vec![true];
            if case.torch {
                // Alternate which side goes first, so drift in machine load hits both.
                sides.insert(usize::from(round % 2 == 0), false);
            }
            for is_rust in sides {
                eprintln!(
                    "{} round {}/{}: {}",
                    case.label,
                    round + 1,
                    o.rounds,
                    if is_rust { "rust" } else { "pytorch" }
                );
                let mut command = if is_rust {
                    let mut c = Command::new(&rust);
                    c.env("RAYON_NUM_THREADS", &threads);
                    c
                } else {
                    let mut c = Command::new(&python);
                    c.arg(&script).args(["--threads", &threads]);
                    c
                };
                command.args(&case.args).args(["--iters", &iters]);
                let line = worker(&mut command)?;
                if is_rust { &mut ours } else { &mut theirs }.add(&line)?;
            }
        }
        rows.push((case, ours, theirs));
    }
    report(&rows, &o);
    Ok(())
}

/// Prints the comparison as a Markdown table, then the derived figures.
fn report(rows: &[(Case, Side, Side)], o: &Options) {
    let gflops = |side: &Side| side.median().zip(side.flops).map(|(t, f)| f / t / 1e9);
    let ceiling = rows
        .iter()
        .find(|(c, _, _)| c.label.starts_with("matmul"))
        .map(|(_, ours, theirs)| {
            let torch = theirs.median().map(|t| ours.flops.unwrap_or(0.0) / t / 1e9);
            gflops(ours).unwrap_or(0.0).max(torch.unwrap_or(0.0))
        })
        .unwrap_or(0.0);
    println!(
        "\n{} thread(s), {} round(s) x {} iteration(s) per side; ratio = Rust / PyTorch time \
         (below 1: Rust faster); ceiling = best 2048² f32 matmul of either side, {ceiling:.1} GFLOP/s\n",
        o.threads, o.rounds, o.iters
    );
    println!(
        "| case | Rust median s | PyTorch median s | ratio | Rust GFLOP/s (share of ceiling) | \
         PyTorch GFLOP/s | Rust peak MiB | PyTorch peak MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let fmt = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for (case, ours, theirs) in rows {
        let ratio = ours.median().zip(theirs.median()).map(|(a, b)| a / b);
        let share = gflops(ours).map(|g| format!("{g:.1} ({:.0} %)", 100.0 * g / ceiling));
        let theirs_gflops = theirs.median().zip(ours.flops).map(|(t, f)| f / t / 1e9);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            case.label,
            fmt(ours.median(), 3),
            fmt(theirs.median(), 3),
            fmt(ratio, 2),
            share.unwrap_or("-".into()),
            fmt(theirs_gflops, 1),
            fmt(Some(ours.peak_rss_mib), 0),
            fmt((!theirs.times.is_empty()).then_some(theirs.peak_rss_mib), 0),
        );
    }
    for d in &o.dims {
        let median = |label: &str| {
            rows.iter()
                .find(|(c, _, _)| c.label == format!("{d}: {label}"))
                .and_then(|(_, ours, _)| ours.median())
        };
        if let (Some(h), Some(s)) = (
            median("hypernetwork generation"),
            median("hyperpelt train step"),
        ) {
            println!(
                "\n{d}: hypernetwork generation is {:.1} % of a HyperPELT step",
                100.0 * h / s
            );
        }
        if let (Some(m), Some(a)) = (
            median("materialised hyperpelt forward"),
            median("static adapters forward"),
        ) {
            println!(
                "{d}: materialised HyperPELT forward / static adapters forward = {:.3}",
                m / a
            );
        }
    }
}
