//! Project driver: `cargo xtask <command>`. Run `cargo xtask help` for the list.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

mod bench;
mod check_results;
mod compare;
mod fewshot;
mod fuzz;
mod gpu_check;
mod rehearse;
mod results;

const HELP: &str = "\
cargo xtask <command>

Commands:
  train [ARGS]   train HyperPELT on the bundled data (configs/default.json) in runs/default,
                 on the CPU, in release mode; ARGS go to `pelt train` (`cargo xtask train --help`).
                 When the configuration or ARGS name text/uncertainty and it is missing, builds it
                 first (datasets/build/build_uncertainty.py; needs pip)
  pretrain [ARGS]
                 pretrain the bundled model's recipe (configs/pretrain-t5-mini.json; models/
                 t5-mini-en's: --config configs/pretrain-t5-mini-en.json) in runs/pretrain,
                 building the corpora first if datasets/pretrain/ or datasets/pretrain-en/ is
                 missing (needs npm and pip); ARGS go to `pelt pretrain`
  compare [ARGS] every method x 3 seeds on the default configuration; writes its table into
                 docs/results.md and its runs' reports into docs/results/SECTION/
                 (`cargo xtask compare --help`)
  fewshot [ARGS] few-shot transfer to one default task from the others, against training it from
                 scratch; writes its table into docs/results.md and its runs' reports into
                 docs/results/fewshot/ (`cargo xtask fewshot --help`)
  rehearse [ARGS]
                 configs/glue-t5-base.json and configs/vl-t5-base-clip.json as they are, for a
                 few steps with a checkpoint and a resume, against a local hub serving random
                 checkpoints of their models' shapes and generated rows of their data sets;
                 prints and writes s/step, peak memory, examples/s (`cargo xtask rehearse --help`)
  check-results  regenerate every table with committed evidence (docs/results/*/meta.json) from
                 its reports alone, training nothing, and fail where docs/results.md disagrees
  eval, predict, export ARGS
                 `pelt eval|predict|export ARGS` (each takes --help)
  pelt ARGS      any `pelt` command (train, pretrain, eval, predict, export, help), release build
  gen-fixtures   regenerate every crate's parity fixtures (tests/fixtures/gen_*.py) with PyTorch
                 and transformers
                 (installs xtask/fixtures-requirements.txt into .venv-fixtures/ on first use;
                 needs PyPI access; developers run it, CI does not)
  bench [ARGS]   criterion benches, then the same work timed in Rust and in PyTorch eager side
                 by side (`cargo xtask bench --help`; installs .venv-fixtures/ like gen-fixtures)
  fuzz [ARGS]    run every `cargo fuzz` target (config, data readers, safetensors header) for
                 10 minutes each and minimise the committed corpus (`cargo xtask fuzz --help`)
  gpu-check --cuda|--wgpu [--quick]
                 on a GPU: the T5, CLIP and HyperPELT parity tests, data-parallel workers against
                 one worker, then one round of the bench cases; one table, also written to
                 runs/gpu-check.json (`cargo xtask gpu-check --help`; CI runs it with
                 --wgpu --quick on Mesa lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)
  check-cuda     type-check every crate with the `cuda` feature, offline: DOCS_RS=1 makes the
                 build script of tracel-llvm-bundler (cubecl-cuda -> cubecl-llvm -> bundler) skip
                 the LLVM download that a real CUDA build needs
  help           print this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("gen-fixtures") => gen_fixtures(&root),
        Some("check-cuda") => check_cuda(&root),
        Some("gpu-check") => gpu_check::gpu_check(&root, &args[1..]),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]),
        Some("check-results") => check_results::check_all(&root),
        Some("pretrain") => pretrain(&root, &args),
        Some("compare") => compare::compare(&root, &args[1..]),
        Some("fewshot") => fewshot::fewshot(&root, &args[1..]),
        Some("rehearse") => rehearse::rehearse(&root, &args[1..]),
        Some("train") => train(&root, &args),
        Some("eval" | "predict" | "export") => pelt(&root, &args),
        Some("pelt") => pelt(&root, &args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{HELP}"),
    }
}

/// glibc's allocator settings for our training processes and both sides of the bench
/// (docs/design.md, "Large blocks stay in the heap"): every block comes from the heap and freed
/// memory is kept, so the large activations of a step are reused instead of being mapped,
/// faulted in and unmapped again at every step. Ignored by other C libraries.
const GLIBC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184";

/// Gives `command` our allocator settings, unless the user set `GLIBC_TUNABLES` already.
pub(crate) fn allocator_settings(command: &mut Command) -> &mut Command {
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env("GLIBC_TUNABLES", GLIBC_TUNABLES);
    }
    command
}

/// Variables that `cargo run` sets for xtask itself and that a nested cargo must not inherit:
/// build scripts watch some of them (ring's `rerun-if-env-changed=CARGO_PKG_NAME`, ...), so a
/// build from `cargo xtask` would see them changed against a build from a shell and rerun
/// ring's script, then rebuild rustls, ureq, hf-hub and pelt-train (docs/design.md, "Nested
/// cargo").
fn inherited_from_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "OUT_DIR"
        )
}

/// The cargo that runs xtask, in the workspace at `root`, with none of the variables
/// [`inherited_from_cargo_run`] names.
pub(crate) fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(inherited_from_cargo_run) {
            command.env_remove(name);
        }
    }
    command
}

/// Builds the `pelt` binary in release mode, once per `cargo xtask` command: one line says
/// what is built and how long a first build takes, then cargo's own progress shows, so that a
/// cold build does not look like a hang.
pub(crate) fn build_pelt(root: &Path) -> Result<()> {
    static BUILT: AtomicBool = AtomicBool::new(false);
    if BUILT.load(Ordering::Relaxed) {
        return Ok(());
    }
    eprintln!(
        "building pelt (release; a first build takes about 10-20 minutes on 2 cores, later \
         ones seconds)"
    );
    run(cargo(root).args(["build", "--release", "-p", "pelt-train", "--bin", "pelt"]))?;
    BUILT.store(true, Ordering::Relaxed);
    Ok(())
}

/// Runs the `pelt` binary of `pelt-train`, built in release mode ([`build_pelt`]), from the
/// workspace root, with our allocator settings.
pub(crate) fn pelt(root: &Path, args: &[String]) -> Result<()> {
    build_pelt(root)?;
    let mut command = cargo(root);
    let status = allocator_settings(&mut command)
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "pelt-train",
            "--bin",
            "pelt",
            "--",
        ])
        .args(args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("pelt {} failed", args.join(" "));
    }
    Ok(())
}

/// The corpora `build_pretrain_corpus.py` writes, one per bundled backbone's recipe.
const CORPORA: [&str; 2] = ["datasets/pretrain", "datasets/pretrain-en"];

/// `pelt pretrain ARGS` after building the corpora when one is missing. The script keeps the
/// validation and test sentences of every bundled text task out of the modern-English corpus,
/// so `datasets/text/uncertainty/` is built first when it is missing.
fn pretrain(root: &Path, args: &[String]) -> Result<()> {
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    let missing = CORPORA
        .iter()
        .any(|dir| !root.join(dir).join("train.jsonl").is_file());
    if !help && missing {
        build_uncertainty(root)?;
        println!("building the pretraining corpora (datasets/build/build_pretrain_corpus.py)");
        run(Command::new("python3")
            .current_dir(root)
            .arg("datasets/build/build_pretrain_corpus.py"))?;
    }
    pelt(root, args)
}

/// Builds `datasets/text/uncertainty/` when it is missing (its sentences are not committed).
fn build_uncertainty(root: &Path) -> Result<()> {
    if root
        .join("datasets")
        .join(UNCERTAINTY)
        .join("train.jsonl")
        .is_file()
    {
        return Ok(());
    }
    println!("building datasets/{UNCERTAINTY}/ (datasets/build/build_uncertainty.py)");
    run(Command::new("python3")
        .current_dir(root)
        .arg("datasets/build/build_uncertainty.py"))
}

/// The task directory whose sentences are not committed (datasets/README.md).
const UNCERTAINTY: &str = "text/uncertainty";

/// `pelt train ARGS` after building `datasets/text/uncertainty/` when the run names it and it is
/// missing.
fn train(root: &Path, args: &[String]) -> Result<()> {
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    if !help && names_uncertainty(root, args) {
        build_uncertainty(root)?;
    }
    pelt(root, args)
}

/// Whether the text of the run's configuration file (`--config`, else with `--resume` the run's
/// own `config.json` where it has one, else `--init-from`'s `config.json`, else
/// configs/default.json: as `pelt train` chooses it) or an argument (say
/// `--tasks uncertainty=text/uncertainty`) mentions `text/uncertainty`.
fn names_uncertainty(root: &Path, args: &[String]) -> bool {
    let value = |flag: &str| {
        let prefix = format!("{flag}=");
        args.iter().enumerate().find_map(|(i, a)| {
            if a == flag {
                args.get(i + 1).map(PathBuf::from)
            } else {
                a.strip_prefix(&prefix).map(PathBuf::from)
            }
        })
    };
    let out = value("--out").unwrap_or_else(|| PathBuf::from("runs/default"));
    let own = Some(out.join("config.json"))
        .filter(|file| args.iter().any(|a| a == "--resume") && root.join(file).is_file());
    let config = value("--config")
        .or(own)
        .or_else(|| value("--init-from").map(|run| run.join("config.json")))
        .unwrap_or_else(|| PathBuf::from("configs/default.json"));
    let text = std::fs::read_to_string(root.join(config)).unwrap_or_default();
    text.contains(UNCERTAINTY) || args.iter().any(|a| a.contains(UNCERTAINTY))
}

/// The checkout this command was started from. `cargo run` sets `CARGO_MANIFEST_DIR` when it
/// starts the binary; the compile-time value is only a fallback, because one build directory
/// shared by two checkouts would otherwise point every run at the checkout that built it.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// The Python interpreter of the fixture generators and the PyTorch benchmarks: `PELT_PYTHON`
/// if set, else `.venv-fixtures/`, created from `xtask/fixtures-requirements.txt` on first use.
fn python_env(root: &Path) -> Result<PathBuf> {
    if let Some(python) = std::env::var_os("PELT_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = root.join(".venv-fixtures");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(&python)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(root.join("xtask/fixtures-requirements.txt")))?;
    }
    Ok(python)
}

fn gen_fixtures(root: &Path) -> Result<()> {
    let python = python_env(root)?;
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .context("reading crates/")?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("tests/fixtures"))
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen_") && n.ends_with(".py"))
        })
        .collect();
    scripts.sort();
    for script in scripts {
        println!("running {}", script.display());
        run(Command::new(&python).arg(&script))?;
    }
    Ok(())
}

/// `cargo check` of the `cuda` build of every crate (the binaries' and tests' too), with
/// `DOCS_RS=1` so that no LLVM bundle is downloaded: it proves the code compiles for CUDA, not
/// that it runs (README, "Backends").
fn check_cuda(root: &Path) -> Result<()> {
    run(cargo(root).env("DOCS_RS", "1").args([
        "check",
        "-p",
        "pelt-train",
        "--no-default-features",
        "--features",
        "cuda",
        "--all-targets",
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn uncertainty_is_built_when_the_config_or_the_arguments_name_it() {
        let dir = std::env::temp_dir().join(format!("xtask-uncertainty-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let named = r#"{"tasks": [{"name": "uncertainty", "dir": "text/uncertainty"}]}"#;
        std::fs::write(dir.join("named.json"), named).unwrap();
        std::fs::write(dir.join("run/config.json"), named).unwrap();
        std::fs::write(dir.join("other.json"), r#"{"tasks": []}"#).unwrap();
        let names = |list: &[&str]| names_uncertainty(&dir, &args(list));
        assert!(names(&["train", "--config", "named.json"]));
        assert!(names(&["train", "--config=named.json"]));
        assert!(names(&["train", "--init-from", "run"]));
        assert!(names(&["train", "--out", "run", "--resume"]));
        assert!(!names(&["train", "--out", "run"]));
        assert!(!names(&["train", "--config", "other.json"]));
        let tasks = "uncertainty=text/uncertainty";
        assert!(names(&["train", "--config=other.json", "--tasks", tasks]));
        // No configs/default.json under this root: nothing names it.
        assert!(!names(&["train"]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn nested_cargo_does_not_inherit_what_cargo_run_set_for_xtask() {
        // `cargo test` sets these for this process as `cargo run` does for xtask.
        let command = cargo(Path::new("."));
        let removed: Vec<String> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(
                removed.iter().any(|r| r == name),
                "{name} is passed on: {removed:?}"
            );
        }
        // What configures cargo itself is kept.
        for name in [
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "CARGO_TERM_COLOR",
            "CARGO",
        ] {
            assert!(!inherited_from_cargo_run(name), "{name}");
        }
    }
}
