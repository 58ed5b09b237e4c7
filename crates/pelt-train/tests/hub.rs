//! Hub downloads against a local hub (`pelt_hubmock`, on 127.0.0.1): a T5 model, a CLIP model
//! and data sets are downloaded into an empty cache and trained on, a second run makes no
//! request, a data set id fetches only the files its task reads, and every fault (a missing
//! repository or file, a gated repository, a server error, a connection dropped mid-file, a
//! size or hash that disagrees, half a snapshot) ends in a named error or a recovery, never in
//! a cache entry that a later run trusts (docs/train.md, "Hub downloads").

#![cfg(feature = "hub")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pelt_hubmock::{self as hub_server, Fault, Repo};
use pelt_train::TrainError;
use pelt_train::hub::{Hub, cached_snapshot};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// RTE's configuration of GLUE on the hub.
fn rte_id() -> pelt_train::DatasetId {
    "nyu-mll/glue/rte".parse().unwrap()
}

/// The tiny CLIP of pelt-hyper's fixtures: a small `config.json` (served as a git file) and a
/// `model.safetensors` of 60 kB (served as an LFS file, through the redirect).
fn tiny_clip() -> Repo {
    Repo::from_dir(&root().join("crates/pelt-hyper/tests/fixtures/clip"), "").unwrap()
}

/// The resolve requests' files, as `REPO/FILE`, in first-asked order without repeats.
fn asked(hub: &hub_server::Hub) -> Vec<String> {
    let mut seen = Vec::new();
    for line in hub.log() {
        let path = line.split(' ').next().unwrap_or_default();
        if let Some((repo, file)) = path.split_once("/resolve/main/") {
            let name = format!("{}/{file}", repo.trim_start_matches('/'));
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
    }
    seen
}

/// The error's parts, which must be `TrainError::Hub`.
fn hub_error(err: TrainError) -> (String, Option<String>, String) {
    let text = err.to_string();
    match err {
        TrainError::Hub { id, file, .. } => (id, file, text),
        other => panic!("not a hub error: {other}"),
    }
}

/// The blobs of cached repository `repo` (`models--ORG--NAME`), less lock and part files.
fn blobs(cache: &Path, repo: &str) -> BTreeSet<String> {
    std::fs::read_dir(cache.join(repo).join("blobs"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock") && !n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn models_and_data_sets_download_then_train_and_a_second_run_asks_nothing() {
    let hub = hub_server::Hub::start().unwrap();
    let mut t5 = Repo::from_dir(&root().join("models/t5-mini"), "").unwrap();
    t5.add("README.md", b"not read");
    hub.model("test-org/t5-mini", t5);
    hub.model("test-org/clip-tiny", tiny_clip());
    let parquet = root().join("crates/pelt-data/tests/fixtures/parquet");
    let mut glue = Repo::from_dir(&parquet.join("rte"), "rte/").unwrap();
    glue.add_dir(&parquet.join("pd-next"), "sst2/")
        .unwrap()
        .add(
            "rte/test-00000-of-00001.parquet",
            b"RTE's test split is not read",
        )
        .add("README.md", b"not read");
    hub.dataset("nyu-mll/glue", glue);
    let mut snli = Repo::from_dir(&parquet.join("snli-ve"), "data/").unwrap();
    snli.add("README.md", b"not read");
    hub.dataset("test-org/snli-ve", snli);

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hub");
    let config = dir.path().join("config.json");
    let json = serde_json::json!({
        "t5": {"path": "test-org/t5-mini"},
        "clip": {"path": "test-org/clip-tiny"},
        "data": "hf:nyu-mll/glue",
        "tasks": [{"name": "rte", "dir": "rte"},
                  {"name": "snli-ve", "dir": "hf:test-org/snli-ve/data"}],
        "pelt": {"method": "hyperpelt", "embedding_dim": 4, "projector_hidden_dim": 8,
                 "hyper_dim": 4, "adapter_dim": 2, "prefix_len": 2},
        "train": {"steps": 2, "batch_size": 2, "warmup_steps": 1, "eval_every": 2,
                  "eval_examples": 2, "final_examples": 2, "eval_batch_size": 2,
                  "max_source_len": 16, "max_target_len": 4, "max_new_tokens": 2,
                  "keep_last": 1, "log_every": 1}
    });
    std::fs::write(&config, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    let train = |out: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_pelt"))
            .args(["train", "--devices", "cpu", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join(out))
            .env("HF_ENDPOINT", hub.endpoint())
            .env("HF_HUB_CACHE", &cache)
            .env("HF_HOME", dir.path().join("home"))
            .env_remove("HF_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "pelt train failed:\n{stderr}");
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(out).join("report.json")).unwrap(),
        )
        .unwrap();
        (report, stderr)
    };

    let (report, stderr) = train("first");
    assert_eq!(report["steps"], 2, "{report}");
    assert!(stderr.contains("downloading test-org/t5-mini"), "{stderr}");
    // Exactly what the run reads: the T5's weights, tokenizer and configuration, the CLIP's
    // weights and configuration, and the task's shards (not RTE's unread test split, another
    // configuration, or a README).
    let expected: BTreeSet<String> = [
        "test-org/t5-mini/model.safetensors",
        "test-org/t5-mini/tokenizer.json",
        "test-org/t5-mini/config.json",
        "test-org/clip-tiny/model.safetensors",
        "test-org/clip-tiny/config.json",
        "datasets/nyu-mll/glue/rte/train-00000-of-00002.parquet",
        "datasets/nyu-mll/glue/rte/train-00001-of-00002.parquet",
        "datasets/nyu-mll/glue/rte/validation-00000-of-00001.parquet",
        "datasets/test-org/snli-ve/data/train-00000-of-00001.parquet",
        "datasets/test-org/snli-ve/data/validation-00000-of-00001.parquet",
        "datasets/test-org/snli-ve/data/test-00000-of-00001.parquet",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let got: BTreeSet<String> = asked(&hub).into_iter().collect();
    assert_eq!(got, expected);
    // config.json comes last, so that a snapshot with it holds the rest.
    let order = asked(&hub);
    let t5_files: Vec<&String> = order
        .iter()
        .filter(|f| f.starts_with("test-org/t5"))
        .collect();
    assert_eq!(
        t5_files.last().unwrap().as_str(),
        "test-org/t5-mini/config.json"
    );
    // The trained model came from the downloaded snapshot.
    let snapshot = cached_snapshot(&cache, "test-org/t5-mini").unwrap();
    assert_eq!(
        std::fs::read(snapshot.join("model.safetensors")).unwrap(),
        std::fs::read(root().join("models/t5-mini/model.safetensors")).unwrap()
    );

    let before = hub.log().len();
    let (again, _) = train("second");
    assert_eq!(
        hub.log().len(),
        before,
        "the second run asked the hub: {:?}",
        &hub.log()[before..]
    );
    assert_eq!(again["steps"], 2);
}

#[test]
fn a_missing_repository_or_file_is_named() {
    let hub = hub_server::Hub::start().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);
    let (id, file, text) = hub_error(client.model(Path::new("nobody/nothing")).unwrap_err());
    assert_eq!((id.as_str(), file), ("nobody/nothing", None));
    assert!(
        text.contains("no such repository on the hub (404"),
        "{text}"
    );

    let rte = pelt_data::task("rte").unwrap();
    let (id, _, text) = hub_error(
        client
            .dataset(&"nobody/glue/rte".parse().unwrap(), rte)
            .unwrap_err(),
    );
    assert_eq!(id, "nobody/glue");
    assert!(
        text.contains("no such repository")
            && text.contains("huggingface-cli download nobody/glue --repo-type dataset"),
        "{text}"
    );

    // The repository lists the weights, but they are not there.
    hub.model("test-org/clip-tiny", tiny_clip());
    hub.fault(Fault::File(
        "model.safetensors".into(),
        404,
        "EntryNotFound",
    ));
    let (_, file, text) = hub_error(client.model(Path::new("test-org/clip-tiny")).unwrap_err());
    assert_eq!(file.as_deref(), Some("model.safetensors"));
    assert!(
        text.contains("no such file in the repository (404"),
        "{text}"
    );
    assert_eq!(cached_snapshot(cache.path(), "test-org/clip-tiny"), None);
}

#[test]
fn a_gated_repository_says_how_to_give_a_token() {
    let hub = hub_server::Hub::start().unwrap();
    hub.model("test-org/gated", tiny_clip());
    hub.fault(Fault::Token("secret".into()));
    let cache = tempfile::tempdir().unwrap();
    let with = |token: Option<&str>| {
        Hub::new(
            cache.path().to_path_buf(),
            &hub.endpoint(),
            token.map(String::from),
        )
        .model(Path::new("test-org/gated"))
    };
    for (token, says) in [
        (None, "no token was given"),
        (Some("wrong"), "the token given was refused"),
    ] {
        let (id, _, text) = hub_error(with(token).unwrap_err());
        assert_eq!(id, "test-org/gated");
        assert!(
            text.contains("access denied (401")
                && text.contains(says)
                && text.contains("set HF_TOKEN, or run `huggingface-cli login`"),
            "{text}"
        );
    }
    // A 403 on a file (the hub's answer to a token without access) is named with the file.
    hub.heal()
        .fault(Fault::File("config.json".into(), 403, "GatedRepo"));
    let (_, file, text) = hub_error(with(None).unwrap_err());
    assert_eq!(file.as_deref(), Some("config.json"));
    assert!(
        text.contains("access denied (403") && text.contains("HF_TOKEN"),
        "{text}"
    );
    assert_eq!(cached_snapshot(cache.path(), "test-org/gated"), None);

    // The right token is sent, and lets the download through.
    hub.heal().fault(Fault::Token("secret".into()));
    let dir = with(Some("secret")).unwrap();
    assert!(dir.join("model.safetensors").is_file());
}

#[test]
fn a_server_error_is_named_and_a_later_run_completes_the_download() {
    let hub = hub_server::Hub::start().unwrap();
    hub.model("test-org/clip-tiny", tiny_clip());
    let cache = tempfile::tempdir().unwrap();
    let client = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);

    hub.fault(Fault::Repo(500, "Internal"));
    let (_, file, text) = hub_error(client.model(Path::new("test-org/clip-tiny")).unwrap_err());
    assert_eq!(file, None);
    assert!(
        text.contains("the hub answered 500, a server error"),
        "{text}"
    );

    hub.heal()
        .fault(Fault::File("config.json".into(), 503, "Unavailable"));
    let (_, file, text) = hub_error(client.model(Path::new("test-org/clip-tiny")).unwrap_err());
    assert_eq!(file.as_deref(), Some("config.json"));
    assert!(
        text.contains("503, a server error") && text.contains("try again later"),
        "{text}"
    );
    // The weights arrived, the configuration did not: the snapshot is not trusted.
    assert_eq!(cached_snapshot(cache.path(), "test-org/clip-tiny"), None);

    hub.heal();
    let before = hub.log().len();
    client.model(Path::new("test-org/clip-tiny")).unwrap();
    // Only the configuration was still missing.
    let transfers: Vec<String> = hub.log()[before..]
        .iter()
        .filter(|l| l.contains("/resolve/main/"))
        .cloned()
        .collect();
    assert!(
        transfers.iter().all(|l| l.contains("/config.json")),
        "{transfers:?}"
    );
}

#[test]
fn a_dropped_connection_resumes_where_it_stopped() {
    let hub = hub_server::Hub::start().unwrap();
    let clip = tiny_clip();
    let weights = clip.get("model.safetensors").unwrap().to_vec();
    let cdn = format!("/cdn/{}", hub_server::sha256(&weights));
    hub.model("test-org/clip-tiny", clip);
    let cache = tempfile::tempdir().unwrap();
    let client = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);

    // Once: hf-hub resumes within the same download, from byte 1000.
    hub.fault(Fault::Drop {
        file: "model.safetensors".into(),
        after: 1000,
        times: 1,
    });
    let dir = client.model(Path::new("test-org/clip-tiny")).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(
        hub.log().contains(&format!("{cdn} bytes=1000-")),
        "{:?}",
        hub.log()
    );

    // Every time: a named error, nothing trusted, and the next run resumes from what arrived.
    let cache = tempfile::tempdir().unwrap();
    let client = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);
    hub.heal().fault(Fault::Drop {
        file: "model.safetensors".into(),
        after: 1000,
        times: usize::MAX,
    });
    let (_, file, text) = hub_error(client.model(Path::new("test-org/clip-tiny")).unwrap_err());
    assert_eq!(file.as_deref(), Some("model.safetensors"));
    assert!(
        text.contains("the transfer kept breaking off") && text.contains("the next run resumes"),
        "{text}"
    );
    assert_eq!(cached_snapshot(cache.path(), "test-org/clip-tiny"), None);
    assert!(blobs(cache.path(), "models--test-org--clip-tiny").is_empty());
    hub.heal();
    let before = hub.log().len();
    let dir = client.model(Path::new("test-org/clip-tiny")).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights
    );
    let resumed: Vec<String> = hub.log()[before..]
        .iter()
        .filter(|l| l.starts_with(&cdn) && !l.ends_with("bytes=0-0"))
        .cloned()
        .collect();
    assert!(
        resumed.len() == 1 && !resumed[0].ends_with("bytes=0-"),
        "not resumed: {resumed:?}"
    );
}

#[test]
fn a_file_whose_size_or_hash_disagrees_is_removed_not_trusted() {
    let hub = hub_server::Hub::start().unwrap();
    hub.model("test-org/clip-tiny", tiny_clip());
    for (fault, says, file) in [
        (
            Fault::Size("model.safetensors".into(), 10),
            "bytes arrived where the hub announced",
            "model.safetensors",
        ),
        (
            Fault::Hash("model.safetensors".into()),
            "its SHA-256 is",
            "model.safetensors",
        ),
        (
            Fault::Hash("config.json".into()),
            "its git SHA-1 is",
            "config.json",
        ),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let client = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);
        hub.heal().fault(fault);
        let (_, got, text) = hub_error(client.model(Path::new("test-org/clip-tiny")).unwrap_err());
        assert_eq!(got.as_deref(), Some(file));
        assert!(
            text.contains(says) && text.contains("it was removed from the cache"),
            "{text}"
        );
        // Neither the link nor the blob is left for a later run.
        let snapshot = cache
            .path()
            .join("models--test-org--clip-tiny/snapshots")
            .join(hub_server::COMMIT);
        assert!(
            snapshot.join(file).symlink_metadata().is_err(),
            "{file} left"
        );
        assert_eq!(cached_snapshot(cache.path(), "test-org/clip-tiny"), None);
        let left = blobs(cache.path(), "models--test-org--clip-tiny");
        let expected = usize::from(file == "config.json");
        assert_eq!(left.len(), expected, "{left:?}");
        // The true file, once served, is downloaded and kept.
        hub.heal();
        client.model(Path::new("test-org/clip-tiny")).unwrap();
        assert!(cached_snapshot(cache.path(), "test-org/clip-tiny").is_some());
    }
}

#[test]
fn half_a_snapshot_is_named_offline_and_completed_online() {
    let hub = hub_server::Hub::start().unwrap();
    hub.model("test-org/clip-tiny", tiny_clip());
    let parquet = root().join("crates/pelt-data/tests/fixtures/parquet");
    hub.dataset(
        "nyu-mll/glue",
        Repo::from_dir(&parquet.join("rte"), "rte/").unwrap(),
    );
    let cache = tempfile::tempdir().unwrap();
    let online = Hub::new(cache.path().to_path_buf(), &hub.endpoint(), None);
    // Nothing listens on port 9 of the loopback.
    let offline = Hub::new(cache.path().to_path_buf(), "http://127.0.0.1:9", None);
    let rte = pelt_data::task("rte").unwrap();
    let model = online.model(Path::new("test-org/clip-tiny")).unwrap();
    let data = online.dataset(&rte_id(), rte).unwrap();

    // The weights' blob is gone (the link stays), and so is a train shard.
    std::fs::remove_file(std::fs::canonicalize(model.join("model.safetensors")).unwrap()).unwrap();
    std::fs::remove_file(data.join("train-00001-of-00002.parquet")).unwrap();
    let (_, _, text) = hub_error(offline.model(Path::new("test-org/clip-tiny")).unwrap_err());
    assert!(
        text.contains(&format!(
            "its snapshot {} in the Hugging Face cache lacks",
            model.display()
        )) && text.contains("model.safetensors or pytorch_model.bin")
            && text.contains("could not reach the hub at http://127.0.0.1:9"),
        "{text}"
    );
    let (_, _, text) = hub_error(offline.dataset(&rte_id(), rte).unwrap_err());
    assert!(
        text.contains("lacks train-00001-of-00002.parquet"),
        "{text}"
    );

    // Online, only what is missing is fetched.
    let before = hub.log().len();
    assert_eq!(
        online.model(Path::new("test-org/clip-tiny")).unwrap(),
        model
    );
    assert_eq!(online.dataset(&rte_id(), rte).unwrap(), data);
    let fetched: BTreeSet<String> = hub.log()[before..]
        .iter()
        .filter_map(|l| l.split(' ').next()?.split_once("/resolve/main/"))
        .map(|(_, file)| file.to_string())
        .collect();
    assert_eq!(
        fetched,
        BTreeSet::from([
            "model.safetensors".to_string(),
            "rte/train-00001-of-00002.parquet".to_string()
        ])
    );
    let (examples, _) = pelt_data::read_split(rte, &data, "train", &Default::default()).unwrap();
    assert_eq!(examples.len(), 5);
}
