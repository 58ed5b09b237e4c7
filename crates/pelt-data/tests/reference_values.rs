//! pelt-data against the reference libraries: values recorded by `fixtures/gen_fixtures.py`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use pelt_data::metrics::{
    accuracy, cider_d, f1_with_invalid, int_or_invalid, matthews, pearson, spearman, vqa_score,
};
use pelt_data::rng::randperm;
use pelt_data::{Batcher, BatcherConfig, score_target};
use serde_json::Value;

/// Same formulas in f64 with a different summation order than NumPy/scikit-learn.
const METRIC_TOLERANCE: f64 = 1e-12;
/// CIDEr-D sums many exp/log terms in hash-map order; both sides are f64.
const CIDER_TOLERANCE: f64 = 1e-9;

fn fixtures() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference_values.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs reference {b}");
}

#[test]
fn randperm_matches_torch() {
    for case in fixtures()["randperm"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let seed = case["seed"].as_u64().unwrap();
        let expected: Vec<usize> = case["perm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(randperm(n, seed), expected, "n={n} seed={seed}");
    }
}

#[test]
fn stsb_targets_match_numpy_round() {
    for case in fixtures()["stsb_targets"].as_array().unwrap() {
        let label = case["label"].as_f64().unwrap();
        assert_eq!(
            score_target(label),
            case["target"].as_str().unwrap(),
            "label {label}"
        );
    }
}

#[test]
fn classification_metrics_match_scikit_learn() {
    for (i, case) in fixtures()["classification"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let p = strings(&case["predictions"]);
        let t = strings(&case["targets"]);
        let what = format!("case {i}");
        let num = |key: &str| case[key].as_f64().unwrap();
        close(
            accuracy(&p, &t).unwrap(),
            num("accuracy_str"),
            METRIC_TOLERANCE,
            &what,
        );
        // CoLA, MRPC and QQP go through int() first, as `evaluate` does for them.
        let ints = |v: &[String]| -> Vec<String> {
            v.iter().map(|s| int_or_invalid(s).to_string()).collect()
        };
        close(
            accuracy(&ints(&p), &ints(&t)).unwrap(),
            num("accuracy_int"),
            METRIC_TOLERANCE,
            &what,
        );
        close(
            matthews(&p, &t).unwrap(),
            num("matthews"),
            METRIC_TOLERANCE,
            &what,
        );
        if let Some(f1) = case["f1"].as_f64() {
            close(
                f1_with_invalid(&p, &t).unwrap(),
                f1,
                METRIC_TOLERANCE,
                &what,
            );
        }
    }
}

#[test]
fn correlations_match_scipy() {
    for (i, case) in fixtures()["correlation"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let what = format!("case {i}");
        close(
            pearson(&x, &y).unwrap(),
            case["pearson"].as_f64().unwrap(),
            METRIC_TOLERANCE,
            &what,
        );
        close(
            spearman(&x, &y).unwrap(),
            case["spearman"].as_f64().unwrap(),
            METRIC_TOLERANCE,
            &what,
        );
    }
}

#[test]
fn vqa_accuracy_matches_the_official_evaluation() {
    for case in fixtures()["vqa"].as_array().unwrap() {
        let prediction = case["prediction"].as_str().unwrap();
        let answers = strings(&case["answers"]);
        close(
            vqa_score(prediction, &answers),
            case["score"].as_f64().unwrap(),
            METRIC_TOLERANCE,
            &format!("prediction {prediction:?}"),
        );
    }
}

#[test]
fn cider_d_matches_pycocoevalcap() {
    let case = &fixtures()["cider"];
    let predictions = strings(&case["predictions"]);
    let references: Vec<Vec<String>> = case["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(strings)
        .collect();
    let (score, scores) = cider_d(&predictions, &references).unwrap();
    close(
        score,
        case["score"].as_f64().unwrap(),
        CIDER_TOLERANCE,
        "corpus",
    );
    for (i, (a, b)) in scores.iter().zip(floats(&case["scores"])).enumerate() {
        close(*a, b, CIDER_TOLERANCE, &format!("image {i}"));
    }
}

#[test]
fn batcher_ids_match_the_transformers_t5_tokenizer() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/t5-tokenizer/tokenizer.json");
    let batcher = Batcher::from_file(&path, BatcherConfig::default()).unwrap();
    for case in fixtures()["tokenizer"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let max = case["max_len"].as_u64().unwrap() as usize;
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let (ids, cut) = batcher.encode(text, max).unwrap();
        assert_eq!(ids, expected, "{text:?} max {max}");
        let (full, _) = batcher.encode(text, usize::MAX).unwrap();
        assert_eq!(
            cut,
            full.len() > max,
            "truncation of {text:?} at {max} not reported"
        );
    }
}
