//! Batch layout, truncation reporting, visual inputs and the threaded loader.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pelt_data::{
    Batcher, BatcherConfig, Example, FeatureCache, LoadOptions, Loader, LoaderConfig, Row,
    SamplerConfig, TemperatureSampler, VisualInput, load_task, task,
};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

const EOS: i64 = 1;

fn tokenizer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/t5-tokenizer/tokenizer.json")
}

fn example(source: &str, target: &str, images: &[&str]) -> Example {
    Example {
        id: source.to_owned(),
        source: source.to_owned(),
        target: target.to_owned(),
        references: vec![target.to_owned()],
        images: images.iter().map(|&s| s.into()).collect(),
    }
}

fn rows<'a>(examples: &'a [Example], root: &'a Path) -> Vec<Row<'a>> {
    examples
        .iter()
        .enumerate()
        .map(|(i, example)| Row {
            task: i % 2,
            index: i,
            example,
            root,
        })
        .collect()
}

#[test]
fn padding_masks_labels_and_decoder_inputs() {
    let batcher = Batcher::from_file(&tokenizer(), BatcherConfig::default()).unwrap();
    let examples = [
        example(
            "translate English to German: The house is wonderful.",
            "Das Haus ist wunderbar.",
            &[],
        ),
        example("sentence: ok", "1", &[]),
    ];
    let batch = batcher.batch(3, &rows(&examples, Path::new("."))).unwrap();
    let (s, t) = (batch.source_len, batch.target_len);
    assert_eq!(batch.batch_size, 2);
    assert_eq!(
        &batch.input_ids[..s],
        &[13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5, 1]
    );
    assert_eq!(s, 11);
    let short: Vec<i64> = batch.input_ids[s..].to_vec();
    let n = batch.attention_mask[s..].iter().sum::<i64>() as usize;
    assert_eq!(short[n - 1], EOS);
    assert!(short[n..].iter().all(|&id| id == 0));
    assert!(batch.attention_mask[s..][n..].iter().all(|&m| m == 0));
    for r in 0..2 {
        let labels = &batch.labels[r * t..(r + 1) * t];
        let dec = &batch.decoder_input_ids[r * t..(r + 1) * t];
        let mask = &batch.decoder_attention_mask[r * t..(r + 1) * t];
        assert_eq!(dec[0], 0, "decoder starts with the pad id");
        for j in 1..t {
            assert_eq!(dec[j], labels[j - 1]);
        }
        let tokens = mask.iter().filter(|&&m| m == 1).count();
        assert!(mask[..tokens].iter().all(|&m| m == 1), "tokens come first");
        assert_eq!(labels[tokens - 1], EOS, "targets end in </s>");
        assert!(labels[tokens..].iter().all(|&id| id == 0), "padding is 0");
    }
    assert_eq!(batch.task_ids, vec![0, 1]);
    assert_eq!(batch.rows, vec![(0, 0), (1, 1)]);
    assert!(batch.visual.is_none());
    assert_eq!(batch.truncation.sources, 0);
}

#[test]
fn truncation_is_counted_and_keeps_eos() {
    let config = BatcherConfig {
        max_source_len: 4,
        max_target_len: 2,
        pad_to_max: true,
    };
    let batcher = Batcher::from_file(&tokenizer(), config).unwrap();
    let examples = [
        example("a rather long source sentence", "two words", &[]),
        example("hi", "yes", &[]),
    ];
    let batch = batcher.batch(0, &rows(&examples, Path::new("."))).unwrap();
    assert_eq!((batch.source_len, batch.target_len), (4, 2));
    assert_eq!(batch.input_ids[3], EOS);
    assert_eq!(batch.labels[1], EOS);
    assert_eq!((batch.truncation.sources, batch.truncation.targets), (1, 1));
}

#[test]
fn image_rows_carry_paths_or_cached_features_with_masks() {
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("clip.safetensors");
    let (patches, hidden) = (3, 2);
    let names = [
        "images/dev/p-img0.png",
        "images/dev/p-img1.png",
        "val2014/x.jpg",
    ];
    let buffers: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            (0..patches * hidden)
                .flat_map(|_| (i as f32 + 1.0).to_le_bytes())
                .collect()
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = names
        .iter()
        .zip(&buffers)
        .map(|(n, b)| {
            (
                (*n).to_owned(),
                TensorView::new(Dtype::F32, vec![patches, hidden], b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &cache_path).unwrap();

    let examples = [
        example("statement: two dogs", "true", &names[..2]),
        example("question: what?", "cat", &names[2..]),
    ];
    let plain = Batcher::from_file(&tokenizer(), BatcherConfig::default()).unwrap();
    let batch = plain.batch(0, &rows(&examples, dir.path())).unwrap();
    let Some(VisualInput::Paths(paths)) = batch.visual else {
        panic!("expected paths")
    };
    assert_eq!(
        paths[0],
        vec![dir.path().join(names[0]), dir.path().join(names[1])]
    );

    let cache = Arc::new(FeatureCache::open(&cache_path).unwrap());
    let batcher = plain.with_features(cache);
    let batch = batcher.batch(0, &rows(&examples, dir.path())).unwrap();
    let Some(VisualInput::Features {
        features,
        mask,
        image_index,
        tokens,
        hidden: h,
    }) = batch.visual
    else {
        panic!("expected features")
    };
    assert_eq!((tokens, h), (6, 2));
    assert_eq!(mask, vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    assert_eq!(image_index[..6], [0, 0, 0, 1, 1, 1]);
    assert_eq!(features[0], 1.0);
    assert_eq!(features[3 * 2], 2.0);
    assert_eq!(features[6 * 2], 3.0);
    assert!(features[(6 + 3) * 2..].iter().all(|&x| x == 0.0));

    let missing = [example("question: ?", "x", &["nowhere.png"])];
    let err = batcher
        .batch(0, &rows(&missing, dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nowhere.png"), "{err}");
}

#[test]
fn threaded_loader_yields_the_sequential_batches_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/text");
    let opts = LoadOptions::default();
    let tasks = vec![
        load_task(task("pd-source").unwrap(), &root.join("pd-source"), &opts).unwrap(),
        load_task(task("pd-next").unwrap(), &root.join("pd-next"), &opts).unwrap(),
    ];
    let sizes: Vec<usize> = tasks.iter().map(|t| t.train.len()).collect();
    let config = SamplerConfig {
        batch_size: 8,
        ..Default::default()
    };
    let batcher = Batcher::from_file(&tokenizer(), BatcherConfig::default()).unwrap();
    let expected: Vec<_> = TemperatureSampler::new(&sizes, config)
        .unwrap()
        .skip(5)
        .take(20)
        .map(|plan| batcher.plan(&plan, &tasks).unwrap())
        .collect();
    let sampler = TemperatureSampler::resume(&sizes, config, 5).unwrap();
    let loader = Loader::spawn(
        batcher,
        Arc::new(tasks),
        sampler,
        25,
        LoaderConfig {
            workers: 3,
            prefetch: 4,
        },
    )
    .unwrap();
    let got: Vec<_> = loader.map(Result::unwrap).collect();
    assert_eq!(got, expected);
}

#[test]
fn evaluation_batches_cover_a_split_in_order() {
    let batcher = Batcher::from_file(&tokenizer(), BatcherConfig::default()).unwrap();
    let examples: Vec<Example> = (0..7)
        .map(|i| example(&format!("sentence: {i}"), "0", &[]))
        .collect();
    let batches: Vec<_> = batcher
        .split_batches(2, Path::new("."), &examples, 3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        batches.iter().map(|b| b.batch_size).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let rows: Vec<(usize, usize)> = batches.iter().flat_map(|b| b.rows.clone()).collect();
    assert_eq!(rows, (0..7).map(|i| (2, i)).collect::<Vec<_>>());
}
