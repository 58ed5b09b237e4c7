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
cargo xtask bench [--compare-only] [--compile] [--dims small,base] [--rounds N] [--iters N]
                  [--threads N] [--only TEXT]

  Runs `cargo bench --workspace` (criterion), then the side-by-side comparison with PyTorch:
  each case runs in a fresh Rust process and a fresh PyTorch process, alternating, ROUNDS times
  (default 3), ITERS timed iterations after one warm-up each (default 3); medians are over all
  timed iterations. THREADS (default: all cores) is RAYON_NUM_THREADS for Rust and
  torch.set_num_threads for PyTorch. The PyTorch side runs in .venv-fixtures/ (installed from
  xtask/fixtures-requirements.txt on first use), or in the interpreter named by PELT_PYTHON.
  Both sides run with the allocator settings `cargo xtask train` gives `pelt` (GLIBC_TUNABLES,
  unless set). --compare-only skips the criterion benches. --compile adds a third side, PyTorch with the
  forward and loss under torch.compile (inductor), for the training steps, forwards and the
  pretraining step (a second anchor; its compilation happens in the warm-up). --only keeps the
  cases whose label contains TEXT (e.g. --only \"train step\").
";

/// Which PyTorch sides a case has.
#[derive(Clone, Copy, PartialEq)]
enum Torch {
    /// Rust only.
    None,
    /// PyTorch eager.
    Eager,
    /// PyTorch eager, and under `torch.compile` with `--compile`.
    Compilable,
}

/// One row of the comparison: worker arguments common to both sides, and which PyTorch sides
/// it has.
struct Case {
    label: String,
    args: Vec<String>,
    torch: Torch,
}

/// Per-dimension cases: label, worker arguments after `--dims D`, and which PyTorch sides.
const PER_DIMS: [(&str, &[&str], Torch); 10] = [
    (
        "hyperpelt train step",
        &["--case", "step"],
        Torch::Compilable,
    ),
    (
        TWO_WORKERS,
        &["--case", "step", "--workers", "2"],
        Torch::None,
    ),
    (
        "hyperpelt train step +49 visual",
        &["--case", "step", "--visual"],
        Torch::Compilable,
    ),
    (
        "full train step",
        &["--case", "step", "--method", "full"],
        Torch::Compilable,
    ),
    (
        "hyperpelt forward",
        &["--case", "forward"],
        Torch::Compilable,
    ),
    (
        "hyperpelt forward +49 visual",
        &["--case", "forward", "--visual"],
        Torch::Compilable,
    ),
    (
        "greedy 8 tokens (plain T5)",
        &["--case", "generate"],
        Torch::Eager,
    ),
    (
        "hypernetwork generation",
        &["--case", "hypernet"],
        Torch::None,
    ),
    (
        "materialised hyperpelt forward",
        &["--case", "materialised"],
        Torch::None,
    ),
    (
        "static adapters forward",
        &["--case", "adapters"],
        Torch::None,
    ),
];

/// The data-parallel case: the HyperPELT step's gradients from two workers on the one CPU,
/// each with half the threads (`train.devices=cpu,cpu`), against one worker with all of them.
const TWO_WORKERS: &str = "hyperpelt train step, 2 CPU workers";

/// The label of the pretraining case, whose tokens/s the report derives.
const PRETRAIN: &str = "pretraining step (t5-mini, 32 × 141 tokens)";

fn cases(dims: &[String]) -> Vec<Case> {
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut out = vec![
        Case {
            label: "matmul 2048² f32".into(),
            args: strings(&["--case", "matmul"]),
            torch: Torch::Eager,
        },
        Case {
            label: PRETRAIN.into(),
            args: strings(&["--case", "pretrain"]),
            torch: Torch::Compilable,
        },
    ];
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
    /// Corpus tokens per iteration (the pretraining case).
    tokens: Option<f64>,
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
        self.tokens = line["tokens"].as_f64().or(self.tokens);
        Ok(())
    }
}

/// Who runs a case.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rust,
    Eager,
    Compiled,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rust => "rust",
            Kind::Eager => "pytorch",
            Kind::Compiled => "pytorch compiled",
        }
    }
}

/// A case and what each of its sides measured.
struct Row {
    case: Case,
    sides: Vec<(Kind, Side)>,
}

impl Row {
    fn side(&self, kind: Kind) -> Option<&Side> {
        self.sides.iter().find(|(k, _)| *k == kind).map(|(_, s)| s)
    }

    fn median(&self, kind: Kind) -> Option<f64> {
        self.side(kind).and_then(Side::median)
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
    compile: bool,
    dims: Vec<String>,
    rounds: usize,
    iters: usize,
    threads: usize,
    only: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        compare_only: false,
        compile: false,
        dims: vec!["small".into(), "base".into()],
        rounds: 3,
        iters: 3,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        only: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n\n{HELP}"))
        };
        match flag.as_str() {
            "--compare-only" => o.compare_only = true,
            "--compile" => o.compile = true,
            "--dims" => o.dims = value()?.split(',').map(str::to_string).collect(),
            "--rounds" => o.rounds = value()?.parse().context("--rounds")?,
            "--iters" => o.iters = value()?.parse().context("--iters")?,
            "--threads" => o.threads = value()?.parse().context("--threads")?,
            "--only" => o.only = Some(value()?.clone()),
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
    let selected = cases(&o.dims).into_iter().filter(|c| {
        o.only
            .as_ref()
            .is_none_or(|text| c.label.contains(text.as_str()))
    });
    for case in selected {
        let mut sides = vec![Kind::Rust];
        if case.torch != Torch::None {
            sides.push(Kind::Eager);
        }
        if o.compile && case.torch == Torch::Compilable {
            sides.push(Kind::Compiled);
        }
        let mut row = Row {
            case,
            sides: sides.iter().map(|&kind| (kind, Side::default())).collect(),
        };
        for round in 0..o.rounds {
            // Rotate which side goes first, so drift in machine load hits all of them.
            for k in 0..row.sides.len() {
                let (kind, side) = {
                    let n = row.sides.len();
                    &mut row.sides[(k + round) % n]
                };
                eprintln!(
                    "{} round {}/{}: {}",
                    row.case.label,
                    round + 1,
                    o.rounds,
                    kind.name()
                );
                let mut command = match kind {
                    Kind::Rust => {
                        let mut c = Command::new(&rust);
                        c.env("RAYON_NUM_THREADS", &threads);
                        c
                    }
                    Kind::Eager | Kind::Compiled => {
                        let mut c = Command::new(&python);
                        c.arg(&script).args(["--threads", &threads]);
                        if *kind == Kind::Compiled {
                            c.arg("--compile");
                        }
                        c
                    }
                };
                // Both sides run with the allocator settings of our training processes.
                crate::allocator_settings(&mut command)
                    .args(&row.case.args)
                    .args(["--iters", &iters]);
                side.add(&worker(&mut command)?)?;
            }
        }
        rows.push(row);
    }
    report(&rows, &o);
    Ok(())
}

/// Prints the comparison as a Markdown table, then the derived figures.
fn report(rows: &[Row], o: &Options) {
    let ceiling = ceiling(rows);
    println!(
        "\n{} thread(s), {} round(s) x {} iteration(s) per side; ratio = Rust / PyTorch eager \
         time (below 1: Rust faster){}; ceiling = best 2048² f32 matmul of either side, \
         {ceiling:.1} GFLOP/s\n",
        o.threads,
        o.rounds,
        o.iters,
        if o.compile {
            "; compiled ratio = Rust / torch.compile time"
        } else {
            ""
        }
    );
    table(rows, o, ceiling);
    derived(rows, o);
}

/// GFLOP/s of `kind` on `row`'s case (the FLOPs the Rust side counts), where counted.
fn gflops(row: &Row, kind: Kind) -> Option<f64> {
    let flops = row.side(Kind::Rust).and_then(|s| s.flops);
    row.median(kind).zip(flops).map(|(t, f)| f / t / 1e9)
}

/// The best 2048² matmul GFLOP/s of either side; 0 without the matmul case (`--only`).
fn ceiling(rows: &[Row]) -> f64 {
    rows.iter()
        .find(|r| r.case.label.starts_with("matmul"))
        .map(|r| {
            let best = |kind| gflops(r, kind).unwrap_or(0.0);
            best(Kind::Rust).max(best(Kind::Eager))
        })
        .unwrap_or(0.0)
}

/// `v` with `digits` decimals, or `-`.
fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The fastest and slowest timed run of `kind` on `row`'s case, or `-`.
fn spread(row: &Row, kind: Kind) -> String {
    row.side(kind)
        .and_then(|s| {
            let min = s.times.iter().copied().reduce(f64::min)?;
            let max = s.times.iter().copied().reduce(f64::max)?;
            Some(format!("{min:.3}–{max:.3}"))
        })
        .unwrap_or("-".into())
}

/// Rust's median time over `kind`'s on `row`'s case.
fn ratio(row: &Row, kind: Kind) -> Option<f64> {
    row.median(Kind::Rust)
        .zip(row.median(kind))
        .map(|(a, b)| a / b)
}

/// The Markdown table: a row per case, GFLOP/s as a share of `ceiling` (when there is one).
fn table(rows: &[Row], o: &Options, ceiling: f64) {
    let compiled_head = if o.compile {
        " torch.compile median s | compiled ratio |"
    } else {
        ""
    };
    println!(
        "| case | Rust median s | Rust min–max s | PyTorch median s | PyTorch min–max s | ratio |\
         {compiled_head} Rust GFLOP/s (share of ceiling) | PyTorch GFLOP/s | Rust peak MiB | \
         PyTorch peak MiB |"
    );
    println!(
        "|---|---:|---:|---:|---:|---:|{}---:|---:|---:|---:|",
        if o.compile { "---:|---:|" } else { "" }
    );
    for row in rows {
        // Without the matmul case (`--only`) there is no ceiling to take a share of.
        let share = gflops(row, Kind::Rust).map(|g| {
            if ceiling > 0.0 {
                format!("{g:.1} ({:.0} %)", 100.0 * g / ceiling)
            } else {
                format!("{g:.1}")
            }
        });
        let compiled = if o.compile {
            format!(
                " {} | {} |",
                fmt(row.median(Kind::Compiled), 3),
                fmt(ratio(row, Kind::Compiled), 2)
            )
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |{compiled} {} | {} | {} | {} |",
            row.case.label,
            fmt(row.median(Kind::Rust), 3),
            spread(row, Kind::Rust),
            fmt(row.median(Kind::Eager), 3),
            spread(row, Kind::Eager),
            fmt(ratio(row, Kind::Eager), 2),
            share.unwrap_or("-".into()),
            fmt(gflops(row, Kind::Eager), 1),
            fmt(row.side(Kind::Rust).map(|s| s.peak_rss_mib), 0),
            fmt(row.side(Kind::Eager).map(|s| s.peak_rss_mib), 0),
        );
    }
}

/// The figures derived from several cases: pretraining tokens/s, and per `--dims` the
/// hypernetwork's share of a step, two workers against one, materialised against adapters.
fn derived(rows: &[Row], o: &Options) {
    if let Some(row) = rows.iter().find(|r| r.case.label == PRETRAIN) {
        let tokens = row.side(Kind::Rust).and_then(|s| s.tokens);
        let per_second = |kind| tokens.zip(row.median(kind)).map(|(n, t)| n / t);
        println!(
            "\npretraining tokens/s: Rust {}, PyTorch eager {}{}",
            fmt(per_second(Kind::Rust), 0),
            fmt(per_second(Kind::Eager), 0),
            if o.compile {
                format!(", torch.compile {}", fmt(per_second(Kind::Compiled), 0))
            } else {
                String::new()
            }
        );
    }
    for d in &o.dims {
        let median = |label: &str| {
            rows.iter()
                .find(|r| r.case.label == format!("{d}: {label}"))
                .and_then(|r| r.median(Kind::Rust))
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
        if let (Some(two), Some(one)) = (median(TWO_WORKERS), median("hyperpelt train step")) {
            println!(
                "{d}: 2 CPU workers × {} thread(s) / 1 worker × {} threads = {:.3} (below 1: two \
                 workers faster)",
                (o.threads / 2).max(1),
                o.threads,
                two / one
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
