//! Span corruption against Hugging Face's `DataCollatorForT5MLM` on fixed NumPy seeds
//! (`fixtures/span_corruption.json`, written by `fixtures/gen_span_corruption.py`): the same
//! noise masks, inputs and targets, token for token.

#![allow(clippy::unwrap_used)]

use pelt_data::SpanCorruption;
use pelt_data::rng::Mt19937;
use serde_json::Value;

fn ints(value: &Value) -> Vec<Vec<u64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn corruption_matches_the_hugging_face_collator_on_fixed_seeds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/span_corruption.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let seed = case["seed"].as_u64().unwrap();
        let corruption = SpanCorruption {
            noise_density: case["noise_density"].as_f64().unwrap(),
            mean_noise_span_length: case["mean_noise_span_length"].as_f64().unwrap(),
            vocabulary: fixture["vocabulary"].as_u64().unwrap() as u32,
            eos: fixture["eos"].as_u64().unwrap() as u32,
        };
        let input_length = case["input_length"].as_u64().unwrap() as usize;
        assert_eq!(
            corruption.lengths_for_input(input_length),
            (
                case["expanded_length"].as_u64().unwrap() as usize,
                case["target_length"].as_u64().unwrap() as usize
            ),
            "seed {seed}"
        );
        // One generator for the whole batch, as the collator's global NumPy state.
        let mut rng = Mt19937::new(seed);
        let masks = ints(&case["masks"]);
        let inputs = ints(&case["inputs"]);
        let labels = ints(&case["labels"]);
        for (row, chunk) in ints(&case["chunks"]).iter().enumerate() {
            let chunk: Vec<u32> = chunk.iter().map(|&x| x as u32).collect();
            let mut probe = rng.clone();
            let mask: Vec<u64> = corruption
                .noise_mask(chunk.len(), &mut probe)
                .into_iter()
                .map(u64::from)
                .collect();
            assert_eq!(mask, masks[row], "seed {seed}, row {row}: noise mask");
            let out = corruption.corrupt(&chunk, &mut rng).unwrap();
            let widen = |v: Vec<u32>| v.into_iter().map(u64::from).collect::<Vec<_>>();
            assert_eq!(
                widen(out.input),
                inputs[row],
                "seed {seed}, row {row}: input"
            );
            assert_eq!(
                widen(out.target),
                labels[row],
                "seed {seed}, row {row}: target"
            );
        }
    }
}
