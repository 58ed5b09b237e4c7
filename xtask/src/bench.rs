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
                  [--threads N] [--only TEXT] [--precision f32,bf16] [--autocast]

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
  cases whose label contains TEXT (e.g. --only \"train step\"). --precision runs every case at
  each listed precision of the products' inputs (default f32): bf16 is our
  train.matmul_precision on the Rust side and PyTorch's bf16 products for f32 matrices (oneDNN)
  on the other, in rows labelled [bf16 products]; each side reports the API that took it and a
  256² product's error against f64. --autocast adds a side: PyTorch eager under CPU autocast
  to bf16.
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

/// What the labels of rows with bf16 products end with.
const BF16: &str = " [bf16 products]";

/// Every case at every precision of `precisions` (`f32`, `bf16`; f32 rows keep their labels).
fn cases_at(dims: &[String], precisions: &[String]) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    for p in precisions {
        let (suffix, extra): (&str, &[&str]) = match p.as_str() {
            "f32" => ("", &[]),
            "bf16" => (BF16, &["--precision", "bf16"]),
            other => bail!("--precision `{other}`: expected f32 or bf16\n\n{HELP}"),
        };
        out.extend(cases(dims).into_iter().map(|c| Case {
            label: format!("{}{suffix}", c.label),
            args: [c.args, extra.iter().map(|a| a.to_string()).collect()].concat(),
            torch: c.torch,
        }));
    }
    Ok(out)
}

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
    /// The products' precision as the side had it, the API that set it (PyTorch), and a 256²
    /// product's relative error against f64.
    precision: Option<String>,
    api: Option<String>,
    product_error: Option<f64>,
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
        let text = |key: &str| line[key].as_str().map(str::to_string);
        self.precision = text("precision").or(self.precision.take());
        self.api = text("precision_api").or(self.api.take());
        self.product_error = line["product_error"].as_f64().or(self.product_error);
        Ok(())
    }
}

/// Who runs a case.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rust,
    Eager,
    Compiled,
    Autocast,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rust => "rust",
            Kind::Eager => "pytorch",
            Kind::Compiled => "pytorch compiled",
            Kind::Autocast => "pytorch autocast bf16",
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
    autocast: bool,
    precisions: Vec<String>,
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
        autocast: false,
        precisions: vec!["f32".into()],
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
            "--autocast" => o.autocast = true,
            "--precision" => {
                o.precisions = value()?.split(',').map(str::to_string).collect();
            }
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
    if !o.compare_only {
        run(crate::cargo(root).args(["bench", "--workspace"]))?;
    }
    run(crate::cargo(root).args([
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
    let selected = cases_at(&o.dims, &o.precisions)?.into_iter().filter(|c| {
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
        if o.autocast && case.torch != Torch::None {
            sides.push(Kind::Autocast);
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
                    Kind::Eager | Kind::Compiled | Kind::Autocast => {
                        let mut c = Command::new(&python);
                        c.arg(&script).args(["--threads", &threads]);
                        match kind {
                            Kind::Compiled => c.arg("--compile"),
                            Kind::Autocast => c.arg("--autocast"),
                            _ => &mut c,
                        };
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
    let ceilings = [ceiling(rows, false), ceiling(rows, true)];
    println!(
        "\n{} thread(s), {} round(s) x {} iteration(s) per side; ratio = Rust / PyTorch eager \
         time (below 1: Rust faster){}{}; ceilings = best 2048² matmul of either side, f32 \
         {:.1} GFLOP/s, bf16 products {:.1} GFLOP/s (rows [bf16 products] take their share of \
         the second)\n",
        o.threads,
        o.rounds,
        o.iters,
        if o.compile {
            "; compiled ratio = Rust / torch.compile time"
        } else {
            ""
        },
        if o.autocast {
            "; autocast ratio = Rust / PyTorch CPU autocast (bf16) time"
        } else {
            ""
        },
        ceilings[0],
        ceilings[1],
    );
    table(rows, o, ceilings);
    precisions(rows);
    derived(rows, o);
}

/// GFLOP/s of `kind` on `row`'s case (the FLOPs the Rust side counts), where counted.
fn gflops(row: &Row, kind: Kind) -> Option<f64> {
    let flops = row.side(Kind::Rust).and_then(|s| s.flops);
    row.median(kind).zip(flops).map(|(t, f)| f / t / 1e9)
}

/// The best 2048² matmul GFLOP/s of either side, with f32 or (`bf16`) bf16 products; 0 without
/// that matmul case (`--only`, `--precision`).
fn ceiling(rows: &[Row], bf16: bool) -> f64 {
    rows.iter()
        .find(|r| r.case.label.starts_with("matmul") && r.case.label.ends_with(BF16) == bf16)
        .map(|r| {
            let best = |kind| gflops(r, kind).unwrap_or(0.0);
            best(Kind::Rust).max(best(Kind::Eager))
        })
        .unwrap_or(0.0)
}

/// Per row with bf16 products, what each side had: the precision, the API and a 256²
/// product's relative error against f64 (about 1e-6 for f32 inputs, 1e-3 for bf16 ones).
fn precisions(rows: &[Row]) {
    for row in rows.iter().filter(|r| r.case.label.ends_with(BF16)) {
        let sides: Vec<String> = row
            .sides
            .iter()
            .map(|(kind, s)| {
                format!(
                    "{} {}{} (256² product error {})",
                    kind.name(),
                    s.precision.as_deref().unwrap_or("?"),
                    s.api
                        .as_ref()
                        .map_or(String::new(), |a| format!(" via {a}")),
                    s.product_error.map_or("-".into(), |e| format!("{e:.1e}"))
                )
            })
            .collect();
        println!("{}: {}", row.case.label, sides.join("; "));
    }
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

/// The extra PyTorch sides that `o` asks for, with their column names.
fn extra_sides(o: &Options) -> Vec<(Kind, &'static str)> {
    let mut out = Vec::new();
    if o.compile {
        out.push((Kind::Compiled, "torch.compile"));
    }
    if o.autocast {
        out.push((Kind::Autocast, "autocast bf16"));
    }
    out
}

/// The Markdown table: a row per case, GFLOP/s as a share of the ceiling of the row's
/// precision (`[f32, bf16]`, when there is one).
fn table(rows: &[Row], o: &Options, ceilings: [f64; 2]) {
    let extra = extra_sides(o);
    let heads: String = extra
        .iter()
        .map(|(_, name)| format!(" {name} median s | {name} ratio |"))
        .collect();
    println!(
        "| case | Rust median s | Rust min–max s | PyTorch median s | PyTorch min–max s | ratio |\
         {heads} Rust GFLOP/s (share of ceiling) | PyTorch GFLOP/s | Rust peak MiB | \
         PyTorch peak MiB |"
    );
    println!(
        "|---|---:|---:|---:|---:|---:|{}---:|---:|---:|---:|",
        "---:|---:|".repeat(extra.len())
    );
    for row in rows {
        let ceiling = ceilings[usize::from(row.case.label.ends_with(BF16))];
        // Without the matmul case (`--only`) there is no ceiling to take a share of.
        let share = gflops(row, Kind::Rust).map(|g| {
            if ceiling > 0.0 {
                format!("{g:.1} ({:.0} %)", 100.0 * g / ceiling)
            } else {
                format!("{g:.1}")
            }
        });
        let columns: String = extra
            .iter()
            .map(|&(kind, _)| {
                format!(
                    " {} | {} |",
                    fmt(row.median(kind), 3),
                    fmt(ratio(row, kind), 2)
                )
            })
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} |{columns} {} | {} | {} | {} |",
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
    let pretraining = rows
        .iter()
        .filter(|r| r.case.label.strip_suffix(BF16).unwrap_or(&r.case.label) == PRETRAIN);
    for row in pretraining {
        let tokens = row.side(Kind::Rust).and_then(|s| s.tokens);
        let per_second = |kind| tokens.zip(row.median(kind)).map(|(n, t)| n / t);
        let extra: String = extra_sides(o)
            .iter()
            .map(|&(kind, name)| format!(", {name} {}", fmt(per_second(kind), 0)))
            .collect();
        println!(
            "\n{}: tokens/s Rust {}, PyTorch eager {}{extra}",
            row.case.label,
            fmt(per_second(Kind::Rust), 0),
            fmt(per_second(Kind::Eager), 0),
        );
    }
    for row in rows.iter().filter(|r| r.case.label.ends_with(BF16)) {
        let f32_label = row.case.label.strip_suffix(BF16).unwrap_or_default();
        let f32_time = rows
            .iter()
            .find(|r| r.case.label == f32_label)
            .and_then(|r| r.median(Kind::Rust));
        if let (Some(bf16), Some(f32_time)) = (row.median(Kind::Rust), f32_time) {
            println!(
                "{f32_label}: Rust f32 / bf16 products = {:.2} (above 1: bf16 faster)",
                f32_time / bf16
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_precision_gets_its_rows_and_a_wrong_one_is_refused() {
        let dims = vec!["small".to_string()];
        let both = cases_at(&dims, &["f32".into(), "bf16".into()]).unwrap();
        assert_eq!(both.len(), 2 * cases(&dims).len());
        let step = both
            .iter()
            .find(|c| c.label == "small: hyperpelt train step [bf16 products]")
            .expect("the bf16 step row");
        assert_eq!(
            step.args[step.args.len() - 2..],
            ["--precision".to_string(), "bf16".to_string()]
        );
        let plain = both
            .iter()
            .find(|c| c.label == "small: hyperpelt train step")
            .expect("the f32 step row keeps its label");
        assert!(!plain.args.contains(&"--precision".to_string()));
        let err = cases_at(&dims, &["fp8".into()]).err().unwrap().to_string();
        assert!(err.contains("--precision `fp8`"), "{err}");
    }
}
