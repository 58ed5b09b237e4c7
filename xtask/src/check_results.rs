//! `cargo xtask check-results`: every section of the documents with committed evidence
//! (`docs/results/*/meta.json`) regenerated from its runs' reports alone, by the command that
//! wrote it with `--check`, and compared with the document (docs/results.md, "How the tables
//! are made").

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Every section with committed evidence (`docs/results/*/meta.json`) regenerated from its
/// reports alone and compared with the document: the command's own arguments plus `--check`.
pub fn check_all(root: &Path) -> Result<()> {
    let dir = root.join("docs/results");
    let mut metas: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path().join("meta.json")))
        .filter(|p| p.is_file())
        .collect();
    metas.sort();
    if metas.is_empty() {
        bail!("{}: no section with a meta.json to check", dir.display());
    }
    for meta in metas {
        let text = std::fs::read_to_string(&meta)?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", meta.display()))?;
        let args: Vec<String> = value["args"]
            .as_array()
            .with_context(|| format!("{}: no args", meta.display()))?
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        // `--check` goes first: everything after `--` is passed to `pelt train`.
        let checked = |rest: &[String]| {
            std::iter::once("--check".to_string())
                .chain(rest.iter().cloned())
                .collect::<Vec<_>>()
        };
        match args.split_first() {
            Some((command, rest)) if command == "compare" => {
                crate::compare::compare(root, &checked(rest))?;
            }
            Some((command, rest)) if command == "fewshot" => {
                crate::fewshot::fewshot(root, &checked(rest))?;
            }
            other => bail!("{}: unknown command {other:?}", meta.display()),
        }
        println!("{}: the document agrees with its reports", meta.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_results_trains_nothing_even_with_pelt_arguments() {
        // A section whose run never finished: the check must fail on the missing report, not
        // train it (`--check` must not end up after `--`, among `pelt train`'s arguments).
        let root = std::env::temp_dir().join(format!("xtask-check-all-{}", std::process::id()));
        let section = root.join("docs/results/s");
        std::fs::create_dir_all(&section).unwrap();
        let meta = serde_json::json!({"args": ["compare", "--methods", "hyperpelt", "--seeds",
            "1", "--section", "s", "--out", "docs/r.md", "--", "--set", "train.steps=1"]});
        std::fs::write(section.join("meta.json"), meta.to_string()).unwrap();
        let err = check_all(&root).unwrap_err().to_string();
        assert!(err.contains("no report.json"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
