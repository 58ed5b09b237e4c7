//! The Rust side of `cargo xtask bench`'s side-by-side comparison with PyTorch
//! (`xtask/bench/torch_worker.py` is the other side). One process times one case and prints
//! one JSON line: the seconds of every timed iteration, the process's peak resident memory and,
//! where it applies, the case's matrix-multiply FLOPs.
//!
//! ```text
//! bench_worker --case step|forward|generate|hypernet|materialised|adapters|matmul|pretrain|
//!                     linear-batched|linear-folded|output-broadcast|output-folded
//!              [--dims small|base] [--method hyperpelt|full] [--visual] [--workers N]
//!              [--iters N] [--warmup N] [--backend auto|flex|wgpu|vulkan|cuda]
//!              [--precision f32|bf16]
//! ```
//!
//! Shapes are the issue's: batch 8, source 128 tokens, target 8, random weights, dropout 0,
//! one task per batch (modules generated once and broadcast); `--visual` appends 49 CLIP
//! ViT-B/32 patch features (width 768) to every example; `--workers N` computes a step's
//! gradients with N data-parallel workers on the device (`DataParallel`, as `train.devices`
//! does; on the CPU each worker gets RAYON_NUM_THREADS / N threads). `pretrain` is one step of `pelt
//! pretrain` at the bundled model's shapes (`configs/pretrain-t5-mini.json`: d_model 256, 4+4
//! layers, batch 32 corrupted chunks of 141 tokens, 128 encoder and 29 decoder tokens): full
//! training, AdamW with weight decay 0.01, global-norm clipping at 1.0. `--precision bf16` rounds
//! the products' inputs to bf16 (`train.matmul_precision`, docs/precision.md); the output
//! names the precision the products had and the relative error of a 256² product against f64,
//! which shows that the kernel changed.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::nn::LinearConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use pelt_hyper::{Materialised, Method, PeltConfig, PeltInput, PeltModel, VisualConfig};
use pelt_t5::{GenerationConfig, T5Config, T5Input};
use pelt_train::{
    DataParallel, DeviceSpec, FusedAdamW, MatmulPrecision, MicroBatch, TrainConfig,
    clip_global_norm,
};
use serde_json::json;

const BATCH: usize = 8;
const SOURCE: usize = 128;
const TARGET: usize = 8;
const VISUAL_TOKENS: usize = 49;
const CLIP_DIM: usize = 768;
const MATMUL_SIZE: usize = 2048;
/// The pretraining step's shapes (`configs/pretrain-t5-mini.json`, `models/t5-mini/pretrain.json`).
const PRETRAIN_BATCH: usize = 32;
const PRETRAIN_CHUNK: usize = 141;
const PRETRAIN_SOURCE: usize = 128;
const PRETRAIN_TARGET: usize = 29;

struct Args {
    case: String,
    dims: String,
    method: Method,
    visual: bool,
    workers: usize,
    iters: usize,
    warmup: usize,
    backend: String,
    precision: MatmulPrecision,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        case: String::new(),
        dims: "small".into(),
        method: Method::Hyperpelt,
        visual: false,
        workers: 1,
        iters: 3,
        warmup: 1,
        backend: "flex".into(),
        precision: MatmulPrecision::F32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--case" => args.case = value()?,
            "--dims" => args.dims = value()?,
            "--method" => {
                let name = value()?;
                args.method = match name.as_str() {
                    "hyperpelt" => Method::Hyperpelt,
                    "full" => Method::Full,
                    other => bail!("--method `{other}`: expected hyperpelt or full"),
                }
            }
            "--visual" => args.visual = true,
            "--workers" => args.workers = value()?.parse().context("--workers")?,
            "--iters" => args.iters = value()?.parse().context("--iters")?,
            "--warmup" => args.warmup = value()?.parse().context("--warmup")?,
            "--backend" => args.backend = value()?,
            "--precision" => {
                let name = value()?;
                args.precision = serde_json::from_value(json!(name))
                    .map_err(|_| anyhow::anyhow!("--precision `{name}`: expected f32 or bf16"))?;
            }
            // `cargo bench` and test harnesses pass this; nothing to do.
            "--bench" => {}
            other => bail!("unknown argument `{other}`"),
        }
    }
    if args.case.is_empty() {
        bail!("--case is required");
    }
    Ok(args)
}

/// t5-small, t5-base or the bundled t5-mini dimensions (v1.0: relu, tied embeddings),
/// dropout 0.
fn t5_config(dims: &str) -> Result<T5Config> {
    let small = T5Config {
        dropout_rate: 0.0,
        ..T5Config::default()
    };
    match dims {
        "small" => Ok(small),
        "base" => Ok(T5Config {
            d_model: 768,
            d_kv: 64,
            d_ff: 3072,
            num_layers: 12,
            num_heads: 12,
            ..small
        }),
        "mini" => Ok(T5Config {
            d_model: 256,
            d_kv: 64,
            d_ff: 1024,
            num_layers: 4,
            num_heads: 4,
            ..small
        }),
        other => bail!("--dims `{other}`: expected small, base or mini"),
    }
}

/// Matrix-multiply FLOPs of one teacher-forced forward pass of `[batch, source, target]`
/// tokens (2 per multiply-add): every
/// projection, attention product, feed-forward layer, adapter and the output layer, with
/// `prefix` extra keys in every attention. The hypernetwork is left out (it runs once per
/// batch on `[1, d_e]` inputs).
fn forward_flops(c: &T5Config, pelt: Option<&PeltConfig>, [b, s, t]: [usize; 3]) -> f64 {
    let (b, s, t) = (b as f64, s as f64, t as f64);
    let (d, inner, ff) = (c.d_model as f64, c.inner_dim() as f64, c.d_ff as f64);
    let ff_mats = if c.feed_forward_proj.gated { 3.0 } else { 2.0 };
    let prefix = pelt.map_or(0.0, |p| p.prefix_len as f64);
    let adapter = pelt
        .filter(|p| p.method.has_adapters())
        .map_or(0.0, |p| 2.0 * 2.0 * d * p.adapter_dim as f64);
    let proj = |tokens: f64| 2.0 * tokens * d * inner;
    let attend = |q: f64, k: f64| 2.0 * 2.0 * q * (k + prefix) * inner;
    let ffn = |tokens: f64| tokens * (ff_mats * 2.0 * d * ff + adapter);
    let encoder = 4.0 * proj(s) + attend(s, s) + ffn(s);
    let decoder =
        4.0 * proj(t) + attend(t, t) + 2.0 * proj(t) + 2.0 * proj(s) + attend(t, s) + ffn(t);
    b * (c.num_layers as f64 * encoder
        + c.decoder_layers() as f64 * decoder
        + 2.0 * t * d * c.vocab_size as f64)
}

/// Runs `f` `warmup` times untimed, then `iters` times timed; seconds per timed run.
fn time(warmup: usize, iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    (0..iters)
        .map(|_| {
            let started = Instant::now();
            f()?;
            Ok(started.elapsed().as_secs_f64())
        })
        .collect()
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if the kernel reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn pelt_config(method: Method, visual: bool) -> PeltConfig {
    let mut config = PeltConfig::new(method, &["task"]);
    if visual {
        config.visual = Some(VisualConfig {
            clip_dim: CLIP_DIM,
            max_images: 1,
            conditioning: true,
        });
    }
    config
}

/// A batch of `[batch, source, target]` random token ids (and CLIP features with `visual`),
/// all of task 0: the input and random target labels `[batch, target]`.
fn batch(
    device: &Device,
    [batch, source, target]: [usize; 3],
    visual: bool,
) -> (PeltInput, Tensor<2, Int>) {
    let ids = |len: usize| {
        Tensor::<2>::random([batch, len], Distribution::Uniform(2.0, 32000.0), device).int()
    };
    let mask = Tensor::<2, Int>::ones([batch, source], device);
    let mut input = PeltInput::text(ids(source), mask, vec![0; batch]);
    if visual {
        let features = Tensor::<4>::random(
            [batch, 1, VISUAL_TOKENS, CLIP_DIM],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        input = input.with_images(features);
    }
    (input, ids(target))
}

/// A case's timed runs (seconds each) and matrix-multiply FLOPs per run, where counted.
type Timings = (Vec<f64>, Option<f64>);

/// Times one case with the parsed arguments, on a device, at the `--dims` T5 shape.
type Case = fn(&Args, &Device, &T5Config) -> Result<Timings>;

/// Every case by its `--case` name.
const CASES: [(&str, Case); 12] = [
    ("step", step),
    ("forward", forward),
    ("generate", generate),
    ("hypernet", hypernet),
    ("materialised", materialised),
    ("adapters", forward),
    ("matmul", matmul),
    ("pretrain", pretrain),
    ("linear-batched", product),
    ("linear-folded", product),
    ("output-broadcast", product),
    ("output-folded", product),
];

/// Waits for `device`'s queued work.
fn sync(device: &Device) -> Result<()> {
    device.sync().context("device sync")
}

/// A square product of `MATMUL_SIZE`.
fn matmul(args: &Args, device: &Device, _: &T5Config) -> Result<Timings> {
    let n = MATMUL_SIZE;
    let a = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let times = time(args.warmup, args.iters, || {
        let _product = a.clone().matmul(b.clone());
        sync(device)
    })?;
    Ok((times, Some(2.0 * (n as f64).powi(3))))
}

/// One product in its batched form and folded into rows (`pelt_t5::dense`,
/// `pelt_t5::fold_matmul`): the minimal reproductions in docs/benchmarks.md, "Folded linear
/// layers". `linear-*`: the first feed-forward layer, `[8, 128, d_model]` through Burn's
/// `Linear` (which keeps the batched form for 128 rows); `output-*`: the tied output layer,
/// `[8, 8, d_model]` times a broadcast `[1, d_model, vocab]`.
fn product(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let output = args.case.starts_with("output");
    let (rows, d_out) = if output {
        (TARGET, config.vocab_size)
    } else {
        (SOURCE, config.d_ff)
    };
    let linear = LinearConfig::new(config.d_model, d_out)
        .with_bias(false)
        .init(device);
    let weight = linear.weight.val();
    let x = Tensor::<3>::random(
        [BATCH, rows, config.d_model],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let times = time(args.warmup, args.iters, || {
        let _y = match args.case.as_str() {
            "linear-batched" => linear.forward(x.clone()),
            "linear-folded" => pelt_t5::dense(&linear, x.clone()),
            "output-broadcast" => x.clone().matmul(weight.clone().unsqueeze_dim(0)),
            _ => pelt_t5::fold_matmul(x.clone(), weight.clone()),
        };
        sync(device)
    })?;
    let flops = 2.0 * (BATCH * rows * config.d_model * d_out) as f64;
    Ok((times, Some(flops)))
}

/// The source length: the text's, and the CLIP patches with `--visual`.
fn source_len(args: &Args) -> usize {
    SOURCE + if args.visual { VISUAL_TOKENS } else { 0 }
}

/// One training step of `--method` with `--workers` data-parallel workers.
fn step(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let autodiff = device.clone().autodiff();
    let pelt = pelt_config(args.method, args.visual);
    let flops = forward_flops(config, Some(&pelt), [BATCH, source_len(args), TARGET])
        * if args.method == Method::Full {
            3.0
        } else {
            2.0
        };
    let mut model = Some(PeltModel::new(config.init(&autodiff), pelt)?);
    let (input, labels) = batch(&autodiff, [BATCH, SOURCE, TARGET], args.visual);
    // The trainer's optimiser (weight decay 0 here, as before) and gradients (one
    // worker: the plain loss and backward pass).
    let mut optimiser = FusedAdamW::module(0.0, false);
    let train = TrainConfig {
        devices: vec![args.backend.parse::<DeviceSpec>()?; args.workers],
        ..TrainConfig::default()
    };
    let mut parallel = DataParallel::new(&train, &autodiff)?;
    let times = time(args.warmup, args.iters, || {
        let current = model.take().context("the model is put back every step")?;
        let (_, grads) = parallel.gradients(
            &current,
            input.clone(),
            labels.clone(),
            0.1,
            MicroBatch { index: 0, count: 1 },
        )?;
        model = Some(optimiser.step(3e-4, current, grads));
        sync(&autodiff)
    })?;
    Ok((times, Some(flops)))
}

/// One step of `pelt pretrain` at the bundled model's shapes.
fn pretrain(args: &Args, device: &Device, _: &T5Config) -> Result<Timings> {
    let autodiff = device.clone().autodiff();
    let config = t5_config("mini")?;
    let shape = [PRETRAIN_BATCH, PRETRAIN_SOURCE, PRETRAIN_TARGET];
    let flops = 3.0 * forward_flops(&config, None, shape);
    let pelt = PeltConfig::new(Method::Full, &["pretrain"]);
    let mut model = Some(PeltModel::new(config.init(&autodiff), pelt)?);
    let (input, labels) = batch(&autodiff, shape, false);
    let mut optimiser = FusedAdamW::module(0.01, false);
    let times = time(args.warmup, args.iters, || {
        let current = model.take().context("the model is put back every step")?;
        let loss = current.loss(input.clone(), labels.clone(), 0.0)?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &current);
        clip_global_norm(&current, &mut grads, 1.0);
        model = Some(optimiser.step(2e-3, current, grads));
        sync(&autodiff)
    })?;
    Ok((times, Some(flops)))
}

/// The inference cases' model (HyperPELT, or adapters for `adapters`), input and decoder
/// ids, and the FLOPs of one forward pass.
fn inference_model(
    args: &Args,
    device: &Device,
    config: &T5Config,
) -> Result<(PeltModel, PeltInput, Tensor<2, Int>, f64)> {
    let method = if args.case == "adapters" {
        Method::Adapters
    } else {
        Method::Hyperpelt
    };
    let pelt = pelt_config(method, args.visual);
    let flops = forward_flops(config, Some(&pelt), [BATCH, source_len(args), TARGET]);
    let model = PeltModel::new(config.init(device), pelt)?;
    let (input, labels) = batch(device, [BATCH, SOURCE, TARGET], args.visual);
    let decoder_ids = model.t5.shift_right(labels);
    Ok((model, input, decoder_ids, flops))
}

/// A teacher-forced forward pass, hypernetwork included.
fn forward(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let (model, input, decoder_ids, flops) = inference_model(args, device, config)?;
    let times = time(args.warmup, args.iters, || {
        let _logits = model.forward(input.clone(), decoder_ids.clone())?;
        sync(device)
    })?;
    Ok((times, Some(flops)))
}

/// The hypernetwork alone (its own FLOPs are not counted, see `forward_flops`).
fn hypernet(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let (model, input, _, _) = inference_model(args, device, config)?;
    let times = time(args.warmup, args.iters, || {
        let insertions = model.insertions(&input)?;
        drop(insertions);
        sync(device)
    })?;
    Ok((times, None))
}

/// The forward pass of plain T5 with a task's exported modules.
fn materialised(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let (model, input, decoder_ids, flops) = inference_model(args, device, config)?;
    let dir = std::env::temp_dir().join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("task.safetensors");
    model.export_task("task", &path)?;
    let modules = Materialised::load(&path, device)?;
    std::fs::remove_dir_all(&dir)?;
    let t5 = modules.apply(model.t5.clone())?;
    let times = time(args.warmup, args.iters, || {
        let t5_input = T5Input::new(input.input_ids.clone()).pelt(modules.insertions())?;
        let _logits = t5.forward(t5_input, decoder_ids.clone());
        sync(device)
    })?;
    Ok((times, Some(flops)))
}

/// Greedy decoding of `TARGET` tokens.
fn generate(args: &Args, device: &Device, config: &T5Config) -> Result<Timings> {
    let mut t5 = config.init(device);
    // An id the model can never produce, so every row decodes all TARGET tokens.
    t5.config.eos_token_id = config.vocab_size;
    let (input, _) = batch(device, [BATCH, SOURCE, TARGET], false);
    let times = time(args.warmup, args.iters, || {
        let t5_input = T5Input::new(input.input_ids.clone());
        let rows = t5.generate(t5_input, &GenerationConfig::greedy(TARGET));
        if rows.iter().any(|r| r.len() != TARGET) {
            bail!("greedy decoding stopped before {TARGET} tokens");
        }
        Ok(())
    })?;
    Ok((times, None))
}

/// The relative error of a 256² product of uniform entries against f64: about 2^-24 · 16 with
/// f32 inputs, about 2^-8 with bf16 ones.
fn product_error(device: &Device) -> Result<f64> {
    let n = 256;
    let operand = || Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let (x, y) = (operand(), operand());
    let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>();
    let (a, b) = (values(x.clone())?, values(y.clone())?);
    let got = values(x.matmul(y))?;
    let (mut worst, mut scale) = (0f64, 0f64);
    for i in 0..n {
        for j in 0..n {
            let (mut exact, mut magnitude) = (0f64, 0f64);
            for k in 0..n {
                let term = f64::from(a[i * n + k]) * f64::from(b[k * n + j]);
                exact += term;
                magnitude += term.abs();
            }
            worst = worst.max((f64::from(got[i * n + j]) - exact).abs());
            scale = scale.max(magnitude);
        }
    }
    Ok(worst / scale)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let device = pelt_train::backend::device(&args.backend)?;
    let precision = args.precision.apply(&device);
    let config = t5_config(&args.dims)?;
    let Some((_, case)) = CASES.iter().find(|(name, _)| *name == args.case) else {
        let names: Vec<&str> = CASES.iter().map(|(name, _)| *name).collect();
        let (last, rest) = names.split_last().context("no cases")?;
        bail!(
            "--case `{}`: expected {} or {last}",
            args.case,
            rest.join(", ")
        );
    };
    let (times, flops) = case(&args, &device, &config)?;
    println!(
        "{}",
        json!({
            "side": "rust",
            "case": args.case,
            "times_s": times,
            "peak_rss_mib": peak_rss_mib(),
            "flops": flops,
            // Corpus tokens per pretraining step (what tokens/s counts, as `pelt pretrain`).
            "tokens": (args.case == "pretrain").then_some(PRETRAIN_BATCH * PRETRAIN_CHUNK),
            "threads": std::env::var("RAYON_NUM_THREADS").ok(),
            "precision": precision,
            "product_error": product_error(&device)?,
        })
    );
    Ok(())
}
