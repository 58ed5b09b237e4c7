//! `cargo xtask gpu-check`: the one command a GPU owner runs first (README, "GPUs"). It builds
//! the tests and the bench worker with the backend's feature, runs on the GPU what the CPU runs
//! in `cargo test` (the T5, CLIP and HyperPELT parity tests against the committed PyTorch
//! fixtures, and two data-parallel workers against one), then one short round of the bench
//! cases, and prints one table, also written as JSON. Every check runs even when one before
//! it failed, so one run shows everything; the command fails if any check did. On a CPU-only
//! machine `--wgpu` runs on Mesa's lavapipe, which is how CI runs this file's code.
//!
//! Every build selects the same packages with the same feature ([`cargo_build`]): cargo
//! unifies features over the packages one command selects, so each other selection would be
//! another build of Burn's GPU stack (about ten minutes on 2 cores). The checks then run the
//! programs that build made, not `cargo test`.

use std::collections::HashMap;
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
    /// Build the bench worker in the dev profile instead of release, and time it at the
    /// smallest shape (`--dims mini`): one build less, and timings that are not comparable
    /// with `cargo xtask bench` (CI uses it)
    #[arg(long)]
    quick: bool,
    /// Where the table is written as JSON
    #[arg(long, default_value = "runs/gpu-check.json")]
    out: PathBuf,
}

/// The packages every build selects (the workspace's root package holds `tests/`).
const PACKAGES: [&str; 5] = [
    "pelt-t5",
    "pelt-clip",
    "pelt-hyper",
    "pelt-train",
    "hyperpelt-tests",
];

/// The bench worker: (package directory, example target).
const BENCH_WORKER: (&str, &str) = ("crates/pelt-train", "bench_worker");

/// One check: programs of the build, run one after another from their package's directory with
/// `BURN_DEVICE` naming the backend, `args` and `env`.
struct Check {
    name: String,
    /// (package directory, target) of each program.
    programs: Vec<(&'static str, &'static str)>,
    args: Vec<String>,
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

/// The cargo arguments of a build: `command` (`test --no-run`, `build`) over [`PACKAGES`] with
/// the backend `feature` switched on through `pelt-train` (which switches it on in every
/// library crate), then `targets`. JSON messages on standard output name the programs made.
fn cargo_build(command: &[&str], feature: &str, targets: &[String]) -> Vec<String> {
    let mut cargo = args(command);
    for package in PACKAGES {
        cargo.extend(args(&["-p", package]));
    }
    cargo.push("--features".into());
    cargo.push(format!("pelt-train/{feature}"));
    cargo.push("--message-format=json-render-diagnostics".into());
    cargo.extend(targets.iter().cloned());
    cargo
}

/// The builds `checks` need: their test programs, and their bench worker (release unless
/// `quick`).
fn builds(feature: &str, quick: bool, checks: &[Check]) -> Vec<(String, Vec<String>)> {
    let targets = |bench: bool, flag: &str| {
        let mut list: Vec<String> = Vec::new();
        for check in checks.iter().filter(|c| c.bench == bench) {
            for (_, target) in &check.programs {
                if !list.iter().any(|t| t == target) {
                    list.extend([flag.to_string(), target.to_string()]);
                }
            }
        }
        list
    };
    let mut bench = targets(true, "--example");
    if !quick {
        bench.push("--release".into());
    }
    vec![
        (
            "build: tests".into(),
            cargo_build(&["test", "--no-run"], feature, &targets(false, "--test")),
        ),
        (
            "build: bench worker".into(),
            cargo_build(&["build"], feature, &bench),
        ),
    ]
}

/// The programs a build's JSON messages (`stdout`) name, by (package directory relative to
/// `root`, target name). Cargo may report the canonical path of a `root` reached through a
/// symbolic link, so either prefix is taken.
fn programs(root: &Path, stdout: &str) -> HashMap<(String, String), PathBuf> {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let executable = m["executable"].as_str()?;
            let manifest = Path::new(m["manifest_path"].as_str()?);
            let package = manifest.parent()?;
            let dir = package
                .strip_prefix(root)
                .or_else(|_| package.strip_prefix(&canonical))
                .ok()?;
            let dir = match dir.to_str()? {
                "" => ".".to_string(),
                d => d.to_string(),
            };
            let name = m["target"]["name"].as_str()?.to_string();
            Some(((dir, name), PathBuf::from(executable)))
        })
        .collect()
}

/// Runs the builds `checks` need from `root`: their outcomes, and every program they made.
fn build_all(
    root: &Path,
    feature: &str,
    quick: bool,
    checks: &[Check],
) -> (Vec<Outcome>, HashMap<(String, String), PathBuf>) {
    let mut made = HashMap::new();
    let mut outcomes = Vec::new();
    for (name, cargo) in builds(feature, quick, checks) {
        eprintln!("== {name}: cargo {}", cargo.join(" "));
        let start = Instant::now();
        let output = crate::cargo(root)
            .args(&cargo)
            .stderr(std::process::Stdio::inherit())
            .output();
        let (passed, detail) = match output {
            Ok(out) => {
                made.extend(programs(root, &String::from_utf8_lossy(&out.stdout)));
                if out.status.success() {
                    (true, String::new())
                } else {
                    (false, format!("exited with {}", out.status))
                }
            }
            Err(e) => (false, format!("could not start cargo: {e}")),
        };
        outcomes.push(Outcome {
            name,
            passed,
            seconds: start.elapsed().as_secs_f64(),
            detail,
        });
    }
    (outcomes, made)
}

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
    let mut list = parity_checks();
    list.extend(parallel_checks(feature, gpus));
    list.extend(bench_checks(feature, quick));
    list
}

/// `list` as owned arguments.
fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// The parity tests of T5, CLIP and HyperPELT against the committed PyTorch fixtures.
fn parity_checks() -> Vec<Check> {
    let check = |name: &str, package: &'static str, tests: &[&'static str]| Check {
        name: name.into(),
        programs: tests.iter().map(|t| (package, *t)).collect(),
        args: Vec::new(),
        env: Vec::new(),
        bench: false,
    };
    vec![
        check(
            "T5 parity, properties, fused softmax and RMS norm",
            "crates/pelt-t5",
            &["parity", "properties", "softmax", "rms_norm"],
        ),
        check("CLIP parity", "crates/pelt-clip", &["parity"]),
        check(
            "HyperPELT parity: loss and gradients",
            "crates/pelt-hyper",
            &["parity"],
        ),
    ]
}

/// Two workers against one on the devices `gpus` allows, under each transport, and what the
/// devices other than the first hold between steps.
fn parallel_checks(feature: &str, gpus: usize) -> Vec<Check> {
    parallel_cases(feature, gpus)
        .into_iter()
        .map(|(one, several, transport)| Check {
            name: format!(
                "workers {several} ({transport}) = one worker on {one}; nothing trainable \
                 left on other devices between steps"
            ),
            programs: vec![(".", "data_parallel")],
            // Both tests of `tests/data_parallel.rs` that take `PELT_TEST_DEVICES`: the same
            // numbers as one worker, and the other devices' copies holding trainable values
            // only during a step.
            args: args(&[
                "two_workers_compute_what_one_does",
                "other_devices_hold_the_trainable_values",
            ]),
            env: vec![
                ("PELT_TEST_DEVICES", format!("{one};{several}")),
                ("PELT_TEST_TRANSPORT", transport.to_string()),
            ],
            bench: false,
        })
        .collect()
}

/// One round of the bench cases on the backend (a debug build at the smallest shape with
/// `quick`).
fn bench_checks(feature: &str, quick: bool) -> Vec<Check> {
    let dims = if quick { "mini" } else { "small" };
    BENCH_CASES
        .iter()
        .map(|case| Check {
            name: format!("bench: {case} ({dims})"),
            programs: vec![BENCH_WORKER],
            args: args(&[
                "--case",
                case,
                "--backend",
                feature,
                "--dims",
                dims,
                "--iters",
                "3",
                "--warmup",
                "1",
            ]),
            env: Vec::new(),
            bench: true,
        })
        .collect()
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

/// Runs one check with the programs `made`, on the backend `device`.
fn run_check(
    root: &Path,
    device: &str,
    made: &HashMap<(String, String), PathBuf>,
    check: &Check,
) -> Outcome {
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut medians = Vec::new();
    for (package, target) in &check.programs {
        let Some(program) = made.get(&(package.to_string(), target.to_string())) else {
            failures.push(format!("{package} {target}: not built"));
            continue;
        };
        eprintln!(
            "== {}: {} {}",
            check.name,
            program.display(),
            check.args.join(" ")
        );
        let mut command = Command::new(program);
        command
            .current_dir(root.join(package))
            .env("BURN_DEVICE", device)
            .envs(check.env.iter().map(|(k, v)| (k, v)))
            .args(&check.args);
        if check.bench {
            match crate::allocator_settings(&mut command)
                .stderr(std::process::Stdio::inherit())
                .output()
            {
                Ok(out) if out.status.success() => {
                    match bench_median(&String::from_utf8_lossy(&out.stdout)) {
                        Ok(median) => medians.push(median),
                        Err(e) => failures.push(format!("{e:#}")),
                    }
                }
                Ok(out) => failures.push(format!("{target} exited with {}", out.status)),
                Err(e) => failures.push(format!("could not start {target}: {e}")),
            }
        } else {
            match command.status() {
                Ok(status) if status.success() => {}
                Ok(status) => failures.push(format!("{target} exited with {status}")),
                Err(e) => failures.push(format!("could not start {target}: {e}")),
            }
        }
    }
    let detail = if !failures.is_empty() {
        failures.join("; ")
    } else {
        medians
            .iter()
            .map(|m| format!("{m:.4} s per iteration (median of 3)"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Outcome {
        name: check.name.clone(),
        passed: failures.is_empty(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    }
}

/// The Markdown table of the outcomes.
fn table(backend: &str, outcomes: &[Outcome]) -> String {
    let mut text = format!(
        "gpu-check on {backend}\n\n| check | result | seconds | detail |\n\
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
    let checks = checks(backend, args.quick, gpus);
    let (mut outcomes, made) = build_all(root, backend, args.quick, &checks);
    outcomes.extend(
        checks
            .iter()
            .map(|check| run_check(root, backend, &made, check)),
    );
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
    fn every_build_selects_the_same_packages_with_the_backend_feature() {
        for (feature, quick) in [("wgpu", true), ("cuda", false)] {
            let list = builds(feature, quick, &checks(feature, quick, 2));
            assert_eq!(list.len(), 2);
            for (name, cargo) in &list {
                let selection = |c: &[String]| {
                    let end = c.iter().position(|a| a == "--features").unwrap();
                    let start = c.iter().position(|a| a == "-p").unwrap();
                    c[start..end + 2].to_vec()
                };
                assert_eq!(selection(cargo), selection(&list[0].1), "{name}");
                assert!(
                    selection(cargo).last().unwrap().ends_with(feature),
                    "{name}"
                );
                assert_eq!(
                    cargo.iter().any(|a| a == "--release"),
                    name.contains("bench") && !quick,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn every_check_runs_programs_the_builds_make() {
        let list = checks("wgpu", true, 1);
        let built = builds("wgpu", true, &list);
        let (tests, bench) = (&built[0].1, &built[1].1);
        for check in list {
            assert!(!check.programs.is_empty(), "{}", check.name);
            for (package, target) in &check.programs {
                let built = if check.bench { bench } else { tests };
                assert!(
                    built
                        .windows(2)
                        .any(|w| w[1] == *target && w[0].starts_with("--")),
                    "{}: {target} is not built",
                    check.name
                );
                assert!(
                    PACKAGES.iter().any(|p| package.ends_with(p)) || *package == ".",
                    "{}: {package}",
                    check.name
                );
            }
        }
    }

    #[test]
    fn programs_are_read_from_cargo_messages() {
        let root = Path::new("/w");
        let stdout = concat!(
            "{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/w/crates/pelt-t5/Cargo.toml\",",
            "\"target\":{\"name\":\"parity\"},\"executable\":\"/w/target/debug/deps/parity-1\"}\n",
            "{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/w/Cargo.toml\",",
            "\"target\":{\"name\":\"data_parallel\"},\"executable\":\"/w/t/dp\"}\n",
            "{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/w/crates/x/Cargo.toml\",",
            "\"target\":{\"name\":\"x\"},\"executable\":null}\n",
            "{\"reason\":\"build-finished\",\"success\":true}\n",
            "not json\n",
        );
        let made = programs(root, stdout);
        assert_eq!(made.len(), 2);
        assert_eq!(
            made[&("crates/pelt-t5".to_string(), "parity".to_string())],
            PathBuf::from("/w/target/debug/deps/parity-1")
        );
        assert_eq!(
            made[&(".".to_string(), "data_parallel".to_string())],
            PathBuf::from("/w/t/dp")
        );
    }

    #[test]
    fn a_program_the_build_did_not_make_fails_its_check() {
        let check = &parity_checks()[1];
        let outcome = run_check(Path::new("."), "wgpu", &HashMap::new(), check);
        assert!(!outcome.passed);
        assert_eq!(outcome.detail, "crates/pelt-clip parity: not built");
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
