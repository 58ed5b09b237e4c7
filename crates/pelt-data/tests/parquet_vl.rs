//! The vision-and-language sets in the Parquet layouts of their hub repositories
//! (`tests/fixtures/gen_parquet_vl.py` wrote the fixtures with pyarrow): columns, split names,
//! hashed shard names, images stored in the rows or joined from other shards, and the bytes
//! read back for the feature cache are those of the picture.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pelt_data::{
    Embedded, Example, ImageRef, Layout, LoadOptions, detect_layout, read_embedded_images,
    read_split, task,
};
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet")
}

fn read(name: &str, dir: &str, split: &str) -> Vec<Example> {
    let root = fixtures().join(dir);
    let spec = task(name).unwrap();
    assert!(
        matches!(
            detect_layout(spec, &root, split).unwrap(),
            Layout::Parquet(_)
        ),
        "{name} {split}"
    );
    read_split(spec, &root, split, &LoadOptions::default())
        .unwrap()
        .0
}

fn embedded(image: &ImageRef) -> &Embedded {
    match image {
        ImageRef::Embedded(e) => e,
        ImageRef::File(f) => panic!("{f} is a file, not an image stored in a row"),
    }
}

/// The bytes of `images` as the feature cache reads them back, in the order given.
fn bytes(images: &[&ImageRef]) -> Vec<Vec<u8>> {
    let refs: Vec<&Embedded> = images.iter().map(|i| embedded(i)).collect();
    let mut out = vec![Vec::new(); refs.len()];
    read_embedded_images::<pelt_data::DataError>(&refs, |i, b| {
        out[i] = b;
        Ok(())
    })
    .unwrap();
    out
}

/// Picture `k` of the fixtures as a file.
fn picture(k: usize) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("images/{k}.png"))).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[test]
fn vqa_reads_lmms_lab_vqav2_columns_with_the_pictures_in_the_rows() {
    // Our `val` is the hub's `validation`.
    let val = read("vqa", "vqa", "val");
    assert_eq!(val.len(), 3);
    assert_eq!(val[1].source, "question: How many shapes are there?");
    assert_eq!(val[1].target, "2");
    assert_eq!(
        val[1].references,
        ["2", "2", "two", "3", "2", "2", "2", "2", "2", "2"]
    );
    // Rows 1 and 3 store the same picture: one key, so it is encoded once.
    assert_eq!(val[0].images[0].key(), val[2].images[0].key());
    assert_ne!(val[0].images[0].key(), val[1].images[0].key());
    assert_eq!(val[0].images[0].key(), sha256(&picture(0)));
    let images: Vec<&ImageRef> = val.iter().map(|e| &e.images[0]).collect();
    assert_eq!(bytes(&images), [picture(0), picture(1), picture(0)]);
    let named = val[1].images[0].to_string();
    assert!(
        named.contains("validation-00000-of-00001.parquet") && named.contains("row 2"),
        "{named}"
    );
    assert_eq!(read("vqa", "vqa", "train")[0].target, "square");
}

#[test]
fn gqa_joins_questions_to_pictures_in_other_shards() {
    let train = read("gqa", "gqa", "train");
    assert_eq!(train.len(), 3);
    assert_eq!(train[1].source, "question: What is left?");
    assert_eq!(train[1].target, "tree");
    assert_eq!(train[0].id, "q1");
    // n100 is in the first image shard, n200 in the second.
    let images: Vec<&ImageRef> = train.iter().map(|e| &e.images[0]).collect();
    assert_eq!(bytes(&images), [picture(1), picture(2), picture(1)]);
    assert!(
        embedded(&train[1].images[0])
            .shard
            .ends_with("train_balanced_images/train-00001-of-00002.parquet")
    );
    // A question whose picture is in no shard: named, with the id and the file and row.
    let root = fixtures().join("gqa-missing-image");
    let err = read_split(
        task("gqa").unwrap(),
        &root,
        "train",
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"n200\"") && err.contains("train-00000-of-00001.parquet"),
        "{err}"
    );
}

#[test]
fn nlvr2_reads_hashed_shard_names_and_two_pictures() {
    // Our `dev` is the hub's `balanced_dev`, in a shard whose name carries a hash.
    let dev = read("nlvr2", "nlvr2", "dev");
    assert_eq!(dev.len(), 2);
    assert_eq!(dev[0].source, "statement: There are two dogs.");
    assert_eq!(
        (dev[0].target.as_str(), dev[1].target.as_str()),
        ("true", "false")
    );
    let images: Vec<&ImageRef> = dev.iter().flat_map(|e| &e.images).collect();
    assert_eq!(
        bytes(&images),
        [picture(0), picture(1), picture(2), picture(3)]
    );
}

#[test]
fn coco_captions_train_on_each_caption_and_evaluate_on_all() {
    let train = read("coco", "coco", "train");
    let targets: Vec<&str> = train.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["A green tree.", "A tree.", "Green."]);
    assert!(train.iter().all(|e| e.images == train[0].images));
    let val = read("coco", "coco", "val");
    assert_eq!(val.len(), 2);
    assert_eq!(val[0].source, "caption:");
    assert_eq!(val[0].references, ["A red square.", "Something red."]);
}

#[test]
fn snli_ve_reads_the_class_label_names_and_the_same_examples_as_the_files() {
    for (split, official) in [("train", "train"), ("dev", "dev"), ("test", "test")] {
        let parquet = read("snli-ve", "snli-ve", split);
        let root = fixtures().join("snli-ve-files");
        let (files, _) = read_split(
            task("snli-ve").unwrap(),
            &root,
            official,
            &LoadOptions::default(),
        )
        .unwrap();
        let text = |e: &[Example]| -> Vec<(String, String)> {
            e.iter()
                .map(|e| (e.source.clone(), e.target.clone()))
                .collect()
        };
        assert_eq!(text(&parquet), text(&files), "{split}");
        let stored: Vec<&ImageRef> = parquet.iter().map(|e| &e.images[0]).collect();
        let on_disk: Vec<Vec<u8>> = files
            .iter()
            .map(|e| std::fs::read(root.join(e.images[0].key())).unwrap())
            .collect();
        assert_eq!(bytes(&stored), on_disk, "{split}");
    }
}
