//! `cargo xtask fuzz`: runs every `cargo fuzz` target of `fuzz/` for a fixed time, then
//! minimises its corpus (`fuzz/corpus/<target>/`, committed; `tests/fuzz_corpus.rs` replays it).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// The targets, as named in `fuzz/Cargo.toml` and `fuzz/harness.rs`.
const TARGETS: [&str; 5] = [
    "config",
    "glue_tsv",
    "json_lines",
    "json_documents",
    "safetensors",
];

const HELP: &str = "\
cargo xtask fuzz [--seconds N] [--targets a,b]

Runs each `cargo fuzz` target for N seconds (default 600) on the nightly toolchain, one after
another, then minimises its corpus in place (`cargo fuzz cmin`). Crashes land in
fuzz/artifacts/<target>/ and stop the command. Installs cargo-fuzz on first use; needs
`rustup toolchain install nightly`. Targets: config, glue_tsv, json_lines, json_documents,
safetensors.
";

pub fn fuzz(root: &Path, args: &[String]) -> Result<()> {
    let (mut seconds, mut targets) = (600u64, TARGETS.map(String::from).to_vec());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => seconds = value()?.parse().context("--seconds")?,
            "--targets" => targets = value()?.split(',').map(String::from).collect(),
            "--help" | "-h" => {
                print!("{HELP}");
                return Ok(());
            }
            other => bail!("unknown option `{other}`\n\n{HELP}"),
        }
    }
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!(
            "unknown target `{unknown}`; the targets are {}",
            TARGETS.join(", ")
        );
    }
    let have_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_fuzz {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // Optimised, with overflow checks; no sanitizer: the crates are safe Rust, and the
    // property is "no panic, and errors name the file".
    let fuzz = |command: &str, target: &str| {
        let mut c = Command::new("cargo");
        c.current_dir(root)
            .args(["+nightly", "fuzz", command, target])
            .args(["--release", "--debug-assertions", "--sanitizer", "none"]);
        c
    };
    for target in &targets {
        println!("== fuzzing {target} for {seconds} s");
        run(fuzz("run", target).args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=4096",
            "-timeout=10",
            "-print_final_stats=1",
        ]))?;
        println!("== minimising the corpus of {target}");
        run(&mut fuzz("cmin", target))?;
    }
    Ok(())
}
