//! A full disk loses nothing: `pelt train` writes its run into a tmpfs too small for the whole
//! run, stops with an error naming the file and the fault, leaves its last checkpoint whole,
//! and once resumed with room to spare ends bit-identical to a run that never ran out.
//!
//! The tmpfs is mounted in a private mount namespace (`unshare --user --map-root-user
//! --mount`), which needs root or unprivileged user namespaces, so the test is ignored by
//! default; `.ci/run` runs it with `--ignored`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

/// Bytes `dir` takes on a tmpfs: every file rounded up to whole 4 KiB pages.
fn pages(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                pages(&e.path())
            } else {
                meta.len().div_ceil(4096) * 4096
            }
        })
        .sum()
}

#[test]
#[ignore = "needs a mount namespace (root or unprivileged user namespaces); .ci/run runs it"]
fn a_full_disk_stops_the_run_cleanly_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("pelt-disk-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = common::tiny_config(&dir, 8);
    // Checkpoints several times larger than the plots' change in size over the run (a plot of
    // one point can be larger than the final one), so that the first checkpoint fits in the
    // budget below and the last one does not.
    let mut json: serde_json::Value = serde_json::from_slice(&common::read(&config)).unwrap();
    json["pelt"]["hyper_dim"] = 32.into();
    std::fs::write(&config, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    let pelt = env!("CARGO_BIN_EXE_pelt");
    let train = |out: &Path| {
        Command::new(pelt)
            .args(["train", "--resume", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };

    let reference = dir.join("reference");
    assert!(train(&reference).status.success());
    // While the last checkpoint is written, the run holds its final files plus three
    // checkpoints (two kept, one being written); half a checkpoint more than the final run
    // fits up to the middle of the run, not to its end.
    let checkpoint = pages(&pelt_train::checkpoint::list(&reference).unwrap()[0]);
    let size = pages(&reference) + checkpoint / 2;

    // Inside a private mount namespace: mount the small tmpfs, train into it, and copy what
    // the failed run left out before the namespace (and the tmpfs) goes away.
    let small = dir.join("small");
    let left = dir.join("left");
    std::fs::create_dir_all(&small).unwrap();
    let script = r#"mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99
"$3" train --config "$4" --out "$2/run"; status=$?
cp -a "$2/run" "$5"
exit $status"#;
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(size.to_string())
        .arg(&small)
        .arg(pelt)
        .arg(&config)
        .arg(&left)
        .output()
        .expect("`unshare` (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(99),
        "could not mount a tmpfs in a user namespace: {stderr}"
    );
    assert!(!out.status.success(), "the run fitted in {size} bytes");
    assert!(
        stderr.contains("No space left on device") && stderr.contains(&*small.to_string_lossy()),
        "the error names neither the fault nor the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The last checkpoint the failed run left is whole, and resuming from it on a disk with
    // room ends exactly where the uninterrupted run did.
    let saved = pelt_train::checkpoint::list(&left).unwrap();
    assert!(
        !saved.is_empty(),
        "the disk filled before the first checkpoint"
    );
    let (step, kept) = common::last_checkpoint(&left).unwrap();
    assert!(step > 0);
    let resumed = train(&left);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        common::resumed_at(&left, kept),
        Some(step),
        "the resume did not continue from the last checkpoint left"
    );
    common::assert_same_end(&reference, &left, "the disk filled");
    std::fs::remove_dir_all(&dir).unwrap();
}
