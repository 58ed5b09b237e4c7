//! Prints, for every method, the trainable parameters and their share of the backbone on
//! t5-small- and t5-base-shaped models (random weights: counting needs no checkpoint), as the
//! Markdown table of `docs/hyper.md`.
//!
//! `cargo run --release -p pelt-hyper --example param_counts`

use burn::prelude::*;
use pelt_hyper::{Method, PeltConfig, PeltModel, VisualConfig};
use pelt_t5::T5Config;

/// GLUE's 8 tasks (docs/method.md §9).
const GLUE: [&str; 8] = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default();
    let shapes = [
        (
            "t5-small",
            r#"{"d_model": 512, "d_ff": 2048, "num_layers": 6, "num_heads": 8}"#,
        ),
        (
            "t5-base",
            r#"{"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12}"#,
        ),
    ];
    println!("| backbone | method | visual | trainable | % of backbone |");
    println!("|---|---|---|---:|---:|");
    for (name, json) in shapes {
        let t5 = T5Config::from_json(json)?.init(&device);
        for method in Method::ALL {
            for visual in [false, true] {
                let mut config = PeltConfig::new(method, &GLUE);
                config.visual = visual.then_some(VisualConfig {
                    clip_dim: 768,
                    max_images: 2,
                    conditioning: true,
                });
                let counts = PeltModel::new(t5.clone(), config)?.param_counts();
                println!(
                    "| {name} ({}) | {} | {} | {} | {:.2} |",
                    counts.backbone,
                    method.name(),
                    if visual { "CLIP 768, 2 images" } else { "text" },
                    counts.trainable,
                    counts.percent_of_backbone()
                );
            }
        }
    }
    Ok(())
}
