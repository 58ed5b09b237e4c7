//! `cargo xtask gpu-check`: the one command a GPU owner runs first (README, "GPUs"). It builds
//! the tests and the bench worker with the backend's feature, runs on the GPU what the CPU runs
//! in `cargo test` (the T5, CLIP and HyperPELT parity tests against the committed PyTorch
//! fixtures, and two data-parallel workers against one), then one short round of the bench
//! cases, and prints one table, also written as JSON. Every check runs even when one before
//! it failed, so one run shows everything; the command fails if any check did. On a CPU-only
//! machine `--wgpu` runs on Mesa's lavapipe, which is how CI runs this file's code.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Parser};
use serde_json::{Value, json};

/// Run the parity, data-parallel and bench checks on a GPU.
#[derive(Parser)]
#[command(name = "cargo xtask gpu-check")]
#[command(group(ArgGroup::new("backend").required(true).args(["cuda", "wgpu"])))]
struct GpuCheckArgs {
    /// NVIDIA GPUs through CUDA (the first build downloads an LLVM bundle, so it needs the
    /// network and a CUDA toolkit)
    #[arg(long)]
    cuda: bool,
    /// Any Vulkan, Metal or DX12 GPU through wgpu (Mesa's lavapipe on a CPU-only machine)
    #[arg(long)]
    wgpu: bool,
    /// Build the bench worker in the dev profile instead of release: a shorter build, and
    /// timings that are not comparable with `cargo xtask bench` (CI uses it)
    #[arg(long)]
    quick: bool,
    /// Where the table is written as JSON
    #[arg(long, default_value = "runs/gpu-check.json")]
    out: PathBuf,
}

/// One check: a cargo command run with `BURN_DEVICE` naming the backend, and `env`.
struct Check {
    name: String,
    cargo: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Reads a bench worker's JSON line from standard output (else output goes to the
    /// terminal).
    bench: bool,
}

/// What one check gave.
struct Outcome {
    name: String,
    passed: bool,
    seconds: f64,
    detail: String,
}

/// The bench cases of one round (`crates/pelt-train/examples/bench_worker.rs`).
const BENCH_CASES: [&str; 3] = ["step", "forward", "generate"];

/// The data-parallel comparisons on `gpus` GPUs of backend `feature`: (one worker's device,
/// the workers' devices, transport), each run by `tests/data_parallel.rs` against one worker.
/// Two workers on the same GPU, a GPU with the CPU (Burn moves tensors between backends), and
/// with two or more GPUs the first two under both transports (NCCL on CUDA only).
fn parallel_cases(feature: &str, gpus: usize) -> Vec<(String, String, &'static str)> {
    let gpu = |i: usize| {
        if feature == "cuda" {
            format!("cuda:{i}")
        } else if i == 0 {
            // Burn's default wgpu device: the only one lavapipe offers.
            "wgpu".to_string()
        } else {
            format!("wgpu:{i}")
        }
    };
    let mut cases = vec![
        (gpu(0), format!("{},{}", gpu(0), gpu(0)), "gather"),
        (gpu(0), format!("{},cpu", gpu(0)), "gather"),
    ];
    if gpus >= 2 {
        cases.push((gpu(0), format!("{},{}", gpu(0), gpu(1)), "gather"));
        if feature == "cuda" {
            cases.push((gpu(0), format!("{},{}", gpu(0), gpu(1)), "nccl"));
        }
    }
    cases
}

/// The number of NVIDIA GPUs `nvidia-smi -L` lists (0 without it); wgpu: 1.
fn gpu_count(feature: &str) -> usize {
    if feature != "cuda" {
        return 1;
    }
    Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or(0, |o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("GPU "))
                .count()
        })
}

/// The checks, in order, for the backend feature `feature` with `gpus` GPUs.
fn checks(feature: &str, quick: bool, gpus: usize) -> Vec<Check> {
    let mut list = parity_checks(feature);
    list.extend(parallel_checks(feature, gpus));
    list.extend(bench_checks(feature, quick));
    list
}

/// `list` as owned arguments.
fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// The parity tests of T5, CLIP and HyperPELT against the committed PyTorch fixtures.
fn parity_checks(feature: &str) -> Vec<Check> {
    let test = |package: &str, tests: &[&str], no_default: bool| {
        let mut a = args(&["test", "-p", package]);
        if no_default {
            a.push("--no-default-features".into());
        }
        a.extend(args(&["--features", feature]));
        for t in tests {
            a.extend(args(&["--test", t]));
        }
        a
    };
    vec![
        Check {
            name: "T5 parity, properties, fused softmax and RMS norm".into(),
            cargo: test(
                "pelt-t5",
                &["parity", "properties", "softmax", "rms_norm"],
                true,
            ),
            env: Vec::new(),
            bench: false,
        },
        Check {
            name: "CLIP parity".into(),
            cargo: test("pelt-clip", &["parity"], true),
            env: Vec::new(),
            bench: false,
        },
        Check {
            name: "HyperPELT parity: loss and gradients".into(),
            cargo: test("pelt-hyper", &["parity"], false),
            env: Vec::new(),
            bench: false,
        },
    ]
}

/// Two workers against one on the devices `gpus` allows, under each transport.
fn parallel_checks(feature: &str, gpus: usize) -> Vec<Check> {
    let mut list = Vec::new();
    for (one, several, transport) in parallel_cases(feature, gpus) {
        let mut cargo = args(&["test", "-p", "hyperpelt-tests", "--features"]);
        cargo.push(format!("pelt-train/{feature}"));
        cargo.extend(args(&[
            "--test",
            "data_parallel",
            "--",
            "two_workers_compute_what_one_does",
        ]));
        list.push(Check {
            name: format!("workers {several} ({transport}) = one worker on {one}"),
            cargo,
            env: vec![
                ("PELT_TEST_DEVICES", format!("{one};{several}")),
                ("PELT_TEST_TRANSPORT", transport.to_string()),
            ],
            bench: false,
        });
    }
    list
}

/// One round of the bench cases on the backend (debug builds with `quick`).
fn bench_checks(feature: &str, quick: bool) -> Vec<Check> {
    let mut list = Vec::new();
    for case in BENCH_CASES {
        let mut cargo = args(&["run"]);
        if !quick {
            cargo.push("--release".into());
        }
        cargo.extend(args(&[
            "-p",
            "pelt-train",
            "--features",
            feature,
            "--example",
            "bench_worker",
            "--",
            "--case",
            case,
            "--backend",
            feature,
            "--iters",
            "3",
            "--warmup",
            "1",
        ]));
        list.push(Check {
            name: format!("bench: {case}"),
            cargo,
            env: Vec::new(),
            bench: true,
        });
    }
    list
}

/// The median of a bench worker's timed iterations, from its JSON line (`{"times_s": [..]}`).
fn bench_median(stdout: &str) -> Result<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("the bench worker printed no JSON line")?;
    let value: Value = serde_json::from_str(line).context("the bench worker's JSON line")?;
    let mut seconds: Vec<f64> = value["times_s"]
        .as_array()
        .context("no `times_s` in the bench worker's line")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    if seconds.is_empty() {
        bail!("the bench worker timed no iteration");
    }
    seconds.sort_by(f64::total_cmp);
    Ok(seconds[seconds.len() / 2])
}

/// Runs one check from `root`.
fn run_check(root: &Path, device: &str, check: &Check) -> Outcome {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(root)
        .env("BURN_DEVICE", device)
        .envs(check.env.iter().map(|(k, v)| (k, v)))
        .args(&check.cargo);
    eprintln!("== {}: cargo {}", check.name, check.cargo.join(" "));
    let start = Instant::now();
    let (passed, detail) = if check.bench {
        match crate::allocator_settings(&mut command)
            .stderr(std::process::Stdio::inherit())
            .output()
        {
            Ok(out) if out.status.success() => {
                match bench_median(&String::from_utf8_lossy(&out.stdout)) {
                    Ok(median) => (true, format!("{median:.4} s per iteration (median of 3)")),
                    Err(e) => (false, format!("{e:#}")),
                }
            }
            Ok(out) => (false, format!("exited with {}", out.status)),
            Err(e) => (false, format!("could not start cargo: {e}")),
        }
    } else {
        match command.status() {
            Ok(status) if status.success() => (true, String::new()),
            Ok(status) => (false, format!("exited with {status}")),
            Err(e) => (false, format!("could not start cargo: {e}")),
        }
    };
    Outcome {
        name: check.name.clone(),
        passed,
        seconds: start.elapsed().as_secs_f64(),
        detail,
    }
}

/// The Markdown table of the outcomes.
fn table(backend: &str, outcomes: &[Outcome]) -> String {
    let mut text = format!(
        "gpu-check on {backend}\n\n| check | result | seconds (build included) | detail |\n\
         |---|---|---:|---|\n"
    );
    for o in outcomes {
        let result = if o.passed { "passed" } else { "FAILED" };
        text.push_str(&format!(
            "| {} | {result} | {:.1} | {} |\n",
            o.name, o.seconds, o.detail
        ));
    }
    text
}

/// `cargo xtask gpu-check ARGS`.
pub fn gpu_check(root: &Path, args: &[String]) -> Result<()> {
    let args = GpuCheckArgs::try_parse_from(
        std::iter::once("cargo xtask gpu-check".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| e.exit());
    let backend = if args.cuda { "cuda" } else { "wgpu" };
    let gpus = gpu_count(backend);
    let outcomes: Vec<Outcome> = checks(backend, args.quick, gpus)
        .iter()
        .map(|check| run_check(root, backend, check))
        .collect();
    let text = table(backend, &outcomes);
    print!("\n{text}");
    let json = json!({
        "backend": backend,
        "quick": args.quick,
        "gpus": gpus,
        "checks": outcomes.iter().map(|o| json!({
            "check": o.name,
            "passed": o.passed,
            "seconds": o.seconds,
            "detail": o.detail,
        })).collect::<Vec<_>>(),
    });
    let out = root.join(&args.out);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("written to {}", out.display());
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", outcomes.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_names_the_backend_feature() {
        for (feature, quick) in [("wgpu", true), ("cuda", false)] {
            let list = checks(feature, quick, 1);
            assert_eq!(list.len(), 3 + 2 + BENCH_CASES.len());
            for check in &list {
                let pos = check.cargo.iter().position(|a| a == "--features").unwrap();
                assert!(check.cargo[pos + 1].ends_with(feature), "{}", check.name);
                assert_eq!(
                    check.cargo.iter().any(|a| a == "--release"),
                    check.bench && !quick,
                    "{}",
                    check.name
                );
            }
        }
    }

    #[test]
    fn parallel_cases_grow_with_the_gpus_and_nccl_is_cuda_only() {
        let names = |feature, gpus| {
            parallel_cases(feature, gpus)
                .into_iter()
                .map(|(one, several, transport)| format!("{one};{several};{transport}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("wgpu", 1),
            ["wgpu;wgpu,wgpu;gather", "wgpu;wgpu,cpu;gather"]
        );
        assert_eq!(
            names("cuda", 2),
            [
                "cuda:0;cuda:0,cuda:0;gather",
                "cuda:0;cuda:0,cpu;gather",
                "cuda:0;cuda:0,cuda:1;gather",
                "cuda:0;cuda:0,cuda:1;nccl"
            ]
        );
    }

    #[test]
    fn the_bench_median_is_read_from_the_last_json_line() {
        let out = "noise\n{\"times_s\": [0.3, 0.1, 0.2], \"peak_rss_mib\": 1}\n";
        assert_eq!(bench_median(out).unwrap(), 0.2);
        assert!(bench_median("no json").is_err());
        assert!(bench_median("{\"times_s\": []}").is_err());
    }

    #[test]
    fn a_failed_check_is_marked_in_the_table() {
        let outcomes = [
            Outcome {
                name: "a".into(),
                passed: true,
                seconds: 1.0,
                detail: String::new(),
            },
            Outcome {
                name: "b".into(),
                passed: false,
                seconds: 2.5,
                detail: "exited with 101".into(),
            },
        ];
        let text = table("wgpu", &outcomes);
        assert!(text.contains("| a | passed | 1.0 |  |"), "{text}");
        assert!(
            text.contains("| b | FAILED | 2.5 | exited with 101 |"),
            "{text}"
        );
    }
}
