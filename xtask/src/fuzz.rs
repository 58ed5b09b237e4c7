//! `cargo xtask fuzz`: runs every `cargo fuzz` target of `fuzz/` for a fixed time, then
//! minimises its corpus (`fuzz/corpus/<target>/`, committed; `tests/fuzz_corpus.rs` replays it).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// The targets: the files of `fuzz/fuzz_targets/`, in name order.
fn targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if let Some(name) = path
            .file_stem()
            .filter(|_| path.extension() == Some("rs".as_ref()))
        {
            names.push(name.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

const HELP: &str = "\
cargo xtask fuzz [--seconds N] [--targets a,b]

Runs each `cargo fuzz` target for N seconds (default 600) on the nightly toolchain, one after
another, then minimises its corpus in place (`cargo fuzz cmin`). Crashes land in
fuzz/artifacts/<target>/ and stop the command. Installs cargo-fuzz on first use; needs
`rustup toolchain install nightly`. The targets are the files of fuzz/fuzz_targets/.
";

pub fn fuzz(root: &Path, args: &[String]) -> Result<()> {
    let all = targets(root)?;
    let (mut seconds, mut targets) = (600u64, all.clone());
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
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        bail!(
            "unknown target `{unknown}`; the targets are {}",
            all.join(", ")
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
