//! The paper configurations' data sets in the hub's Parquet layout, with generated rows: the
//! real column names and types, `ClassLabel` names in the `huggingface` metadata, the hub's
//! directory and shard names, and pictures stored in the rows (docs/data.md, "Parquet").

use anyhow::Result;
use pelt_data::SplitPolicy;
use pelt_hubmock::Repo;

use super::parquet::{Column, Values, write};

/// How many rows each generated split has (a train split from which the task holds out its
/// validation examples has those in addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    /// Rows of a `train` split.
    pub train: usize,
    /// Rows of every other split.
    pub other: usize,
}

impl Rows {
    fn of(&self, split: &str) -> usize {
        if split == "train" {
            self.train
        } else {
            self.other
        }
    }
}

/// Words the generated sentences are drawn from.
const WORDS: &[&str] = &[
    "the",
    "a",
    "man",
    "woman",
    "dog",
    "cat",
    "city",
    "river",
    "house",
    "car",
    "book",
    "story",
    "film",
    "music",
    "market",
    "company",
    "report",
    "government",
    "team",
    "game",
    "is",
    "was",
    "runs",
    "walks",
    "reads",
    "writes",
    "buys",
    "sells",
    "plays",
    "sees",
    "likes",
    "finds",
    "red",
    "green",
    "small",
    "large",
    "old",
    "new",
    "quiet",
    "busy",
    "good",
    "bad",
    "on",
    "in",
    "near",
    "with",
    "after",
    "before",
    "and",
    "but",
    "because",
    "very",
    "often",
    "never",
];

/// A deterministic generator of rows (SplitMix64).
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }

    /// A sentence of about `words` words (from half to one and a half times that).
    fn sentence(&mut self, words: usize) -> String {
        let count = words / 2 + self.below(words + 1);
        let mut text: Vec<&str> = (0..count.max(1))
            .map(|_| WORDS[self.below(WORDS.len())])
            .collect();
        text.push(".");
        let mut sentence = text.join(" ").replace(" .", ".");
        if let Some(first) = sentence.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        sentence
    }

    fn sentences(&mut self, rows: usize, words: usize) -> Values {
        Values::Str((0..rows).map(|_| self.sentence(words)).collect())
    }

    /// `rows` class indices below `classes`, or `-1` (no label) for a test split.
    fn labels(&mut self, rows: usize, classes: usize, split: &str) -> Vec<i64> {
        (0..rows)
            .map(|_| {
                if split.starts_with("test") {
                    -1
                } else {
                    self.below(classes) as i64
                }
            })
            .collect()
    }
}

/// A GLUE configuration of `nyu-mll/glue`: its text columns with their mean length in words,
/// its label names (none: STS-B's `float32` score) and its splits.
struct Glue {
    name: &'static str,
    text: &'static [(&'static str, usize)],
    labels: &'static [&'static str],
    splits: &'static [&'static str],
}

const SPLITS: &[&str] = &["train", "validation", "test"];
const NLI: &[&str] = &["entailment", "not_entailment"];

/// The eight configurations `configs/glue-t5-base.json` names, with the columns the hub has
/// (and `idx`, `int32`, in each).
const GLUE: &[Glue] = &[
    Glue {
        name: "cola",
        text: &[("sentence", 9)],
        labels: &["unacceptable", "acceptable"],
        splits: SPLITS,
    },
    Glue {
        name: "sst2",
        text: &[("sentence", 19)],
        labels: &["negative", "positive"],
        splits: SPLITS,
    },
    Glue {
        name: "mrpc",
        text: &[("sentence1", 22), ("sentence2", 22)],
        labels: &["not_equivalent", "equivalent"],
        splits: SPLITS,
    },
    Glue {
        name: "qqp",
        text: &[("question1", 11), ("question2", 11)],
        labels: &["not_duplicate", "duplicate"],
        splits: SPLITS,
    },
    Glue {
        name: "stsb",
        text: &[("sentence1", 10), ("sentence2", 10)],
        labels: &[],
        splits: SPLITS,
    },
    Glue {
        name: "mnli",
        text: &[("premise", 22), ("hypothesis", 11)],
        labels: &["entailment", "neutral", "contradiction"],
        splits: &[
            "train",
            "validation_matched",
            "validation_mismatched",
            "test_matched",
            "test_mismatched",
        ],
    },
    Glue {
        name: "qnli",
        text: &[("question", 10), ("sentence", 30)],
        labels: NLI,
        splits: SPLITS,
    },
    Glue {
        name: "rte",
        text: &[("sentence1", 43), ("sentence2", 9)],
        labels: NLI,
        splits: SPLITS,
    },
];

/// The GLUE configurations `configs/glue-t5-base.json` trains on.
pub fn glue_configurations() -> Vec<&'static str> {
    GLUE.iter().map(|g| g.name).collect()
}

/// `nyu-mll/glue`: `CONFIG/SPLIT-00000-of-00001.parquet` for each configuration and split.
pub fn glue(rows: Rows) -> Result<Repo> {
    let mut draw = Draw(1);
    let mut repo = Repo::default();
    for glue in GLUE {
        // sst2, qqp and qnli take their validation examples out of train (docs/data.md).
        let held_out = match pelt_data::task(glue.name)?.split {
            SplitPolicy::HoldOutTrain { count, .. } => count,
            _ => 0,
        };
        for split in glue.splits {
            let n = rows.of(split) + if *split == "train" { held_out } else { 0 };
            let mut columns: Vec<Column> = glue
                .text
                .iter()
                .map(|(name, words)| Column::new(name, draw.sentences(n, *words)))
                .collect();
            columns.push(if glue.labels.is_empty() {
                let score = |d: &mut Draw| d.below(26) as f32 / 5.0;
                let scores = (0..n)
                    .map(|_| {
                        if split == &"test" {
                            -1.0
                        } else {
                            score(&mut draw)
                        }
                    })
                    .collect();
                Column::new("label", Values::F32(scores))
            } else {
                Column::label(
                    "label",
                    draw.labels(n, glue.labels.len(), split),
                    glue.labels,
                )
            });
            columns.push(Column::new("idx", Values::I32((0..n as i32).collect())));
            repo.add(
                &format!("{}/{split}-00000-of-00001.parquet", glue.name),
                write(&columns)?,
            );
        }
    }
    repo.add("README.md", "GLUE, generated rows (cargo xtask rehearse)");
    Ok(repo)
}

/// A picture of `width` x `height` as PNG: a colour gradient that differs with `seed`.
pub fn picture(seed: usize, width: u32, height: u32) -> Result<Vec<u8>> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            pixels.extend([
                (x + seed * 70) as u8,
                (y + seed * 30) as u8,
                (seed * 90 + x / 2) as u8,
            ]);
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(bytes)
}

/// Distinct pictures per split; rows share them, as questions about one image do.
const PICTURES: usize = 8;
/// The pictures' size: about that of a GQA or Flickr30k image.
const SIZE: (u32, u32) = (480, 360);

/// Answers of the generated GQA questions.
const ANSWERS: &[&str] = &[
    "yes", "no", "left", "right", "red", "blue", "man", "table", "dog", "car",
];

/// `lmms-lab/GQA`: `SPLIT_balanced_instructions/` (questions with `imageId`) and
/// `SPLIT_balanced_images/` (`id`, `image`) for `train`, `val` and `testdev`.
pub fn gqa(rows: Rows) -> Result<Repo> {
    let mut draw = Draw(2);
    let mut repo = Repo::default();
    for split in ["train", "val", "testdev"] {
        let n = rows.of(split);
        let image_ids: Vec<String> = (0..PICTURES).map(|k| format!("{split}{k}")).collect();
        let answers: Vec<String> = (0..n)
            .map(|_| ANSWERS[draw.below(ANSWERS.len())].to_string())
            .collect();
        let questions = vec![
            Column::new(
                "id",
                Values::Str((0..n).map(|i| format!("{split}-q{i}")).collect()),
            ),
            Column::new(
                "imageId",
                Values::Str((0..n).map(|i| image_ids[i % PICTURES].clone()).collect()),
            ),
            Column::new(
                "question",
                Values::Str((0..n).map(|_| draw.sentence(9).replace('.', "?")).collect()),
            ),
            Column::new("answer", Values::Str(answers.clone())),
            Column::new(
                "fullAnswer",
                Values::Str(
                    answers
                        .iter()
                        .map(|a| format!("The answer is {a}."))
                        .collect(),
                ),
            ),
            Column::new("isBalanced", Values::Bool(vec![true; n])),
        ];
        repo.add(
            &format!("{split}_balanced_instructions/{split}-00000-of-00001.parquet"),
            write(&questions)?,
        );
        let images = (0..PICTURES)
            .map(|k| Ok((picture(k, SIZE.0, SIZE.1)?, format!("{}.jpg", image_ids[k]))))
            .collect::<Result<Vec<_>>>()?;
        let pictures = vec![
            Column::new("id", Values::Str(image_ids)),
            Column::new("image", Values::Image(images)),
        ];
        repo.add(
            &format!("{split}_balanced_images/{split}-00000-of-00001.parquet"),
            write(&pictures)?,
        );
    }
    repo.add("README.md", "GQA, generated rows (cargo xtask rehearse)");
    Ok(repo)
}

/// `sedrickkeh/snli-ve`: `data/SPLIT-00000-of-00001.parquet` for `train`, `validation` and
/// `test`, the picture in each row and `label` a `ClassLabel`.
pub fn snli_ve(rows: Rows) -> Result<Repo> {
    let mut draw = Draw(3);
    let mut repo = Repo::default();
    let pictures = (0..PICTURES)
        .map(|k| picture(k + PICTURES, SIZE.0, SIZE.1))
        .collect::<Result<Vec<_>>>()?;
    for split in ["train", "validation", "test"] {
        let n = rows.of(split);
        let files: Vec<String> = (0..n)
            .map(|i| format!("{}.jpg", 1000 + i % PICTURES))
            .collect();
        let images = (0..n)
            .map(|i| (pictures[i % PICTURES].clone(), files[i].clone()))
            .collect();
        // SNLI-VE's test split is labelled.
        let labels = draw.labels(n, 3, "");
        let columns = vec![
            Column::new("image", Values::Image(images)),
            Column::new("filename", Values::Str(files)),
            Column::new("premise", draw.sentences(n, 12)),
            Column::new("hypothesis", draw.sentences(n, 7)),
            Column::label("label", labels, &["entailment", "neutral", "contradiction"]),
        ];
        repo.add(
            &format!("data/{split}-00000-of-00001.parquet"),
            write(&columns)?,
        );
    }
    repo.add(
        "README.md",
        "SNLI-VE, generated rows (cargo xtask rehearse)",
    );
    Ok(repo)
}
