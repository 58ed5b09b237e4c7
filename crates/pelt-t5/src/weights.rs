//! Loading Hugging Face T5 checkpoints: the one table from Hugging Face names to our modules.

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use pelt_weights::{Checkpoint, StrictLoader};

use crate::attention::T5Attention;
use crate::block::T5Block;
use crate::config::T5Config;
use crate::error::T5Error;
use crate::model::T5Model;
use crate::norm::T5LayerNorm;
use crate::stack::T5Stack;

impl T5Model {
    /// Loads a Hugging Face model directory: `config.json` and `model.safetensors`,
    /// `model.safetensors.index.json` or `pytorch_model.bin`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, T5Error> {
        let dir = dir.as_ref();
        let config = T5Config::from_file(dir)?;
        let checkpoint = Checkpoint::open(dir)?;
        Self::from_checkpoint(&config, &checkpoint, device)
    }

    /// Builds a model of `config`'s shape from `checkpoint`, strictly: every tensor must be
    /// present with its exact shape, and every tensor of the checkpoint must be used, except
    /// the known tied aliases of the shared embedding.
    pub fn from_checkpoint(
        config: &T5Config,
        checkpoint: &Checkpoint,
        device: &Device,
    ) -> Result<Self, T5Error> {
        let mut model = config.init(device);
        let mut loader = StrictLoader::new(checkpoint, device);
        // Tied copies of `shared` that some exports write out; one is read when `shared`
        // itself was dropped on save.
        let shared_name = ["shared.weight", "encoder.embed_tokens.weight"]
            .into_iter()
            .find(|name| loader.contains(name))
            .unwrap_or("shared.weight");
        for alias in [
            "shared.weight",
            "encoder.embed_tokens.weight",
            "decoder.embed_tokens.weight",
            // Written by old versions of `transformers`, never used by the model.
            "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
        ] {
            loader.alias(alias);
        }
        model.shared =
            Param::from_tensor(loader.take(shared_name, [config.vocab_size, config.d_model]));
        load_stack(&mut loader, "encoder", &mut model.encoder);
        load_stack(&mut loader, "decoder", &mut model.decoder);
        match &mut model.lm_head {
            Some(head) => load_linear(&mut loader, "lm_head", head),
            None => loader.alias("lm_head.weight"),
        }
        loader.finish()?;
        Ok(model)
    }
}

fn load_stack(loader: &mut StrictLoader, prefix: &str, stack: &mut T5Stack) {
    let bias_name =
        format!("{prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    let [buckets, heads] = stack.position_bias.embedding.shape().dims();
    stack.position_bias.embedding = Param::from_tensor(loader.take(&bias_name, [buckets, heads]));
    for (i, block) in stack.blocks.iter_mut().enumerate() {
        load_block(loader, &format!("{prefix}.block.{i}"), block);
    }
    load_norm(
        loader,
        &format!("{prefix}.final_layer_norm"),
        &mut stack.final_norm,
    );
}

fn load_block(loader: &mut StrictLoader, prefix: &str, block: &mut T5Block) {
    load_norm(
        loader,
        &format!("{prefix}.layer.0.layer_norm"),
        &mut block.self_norm,
    );
    load_attention(
        loader,
        &format!("{prefix}.layer.0.SelfAttention"),
        &mut block.self_attention,
    );
    let ff_layer = match (&mut block.cross_norm, &mut block.cross_attention) {
        (Some(norm), Some(attention)) => {
            load_norm(loader, &format!("{prefix}.layer.1.layer_norm"), norm);
            load_attention(
                loader,
                &format!("{prefix}.layer.1.EncDecAttention"),
                attention,
            );
            2
        }
        _ => 1,
    };
    let ff = format!("{prefix}.layer.{ff_layer}");
    load_norm(loader, &format!("{ff}.layer_norm"), &mut block.ff_norm);
    match &mut block.ff.wi_1 {
        Some(wi_1) => {
            load_linear(
                loader,
                &format!("{ff}.DenseReluDense.wi_0"),
                &mut block.ff.wi,
            );
            load_linear(loader, &format!("{ff}.DenseReluDense.wi_1"), wi_1);
        }
        None => load_linear(loader, &format!("{ff}.DenseReluDense.wi"), &mut block.ff.wi),
    }
    load_linear(loader, &format!("{ff}.DenseReluDense.wo"), &mut block.ff.wo);
}

fn load_attention(loader: &mut StrictLoader, prefix: &str, attention: &mut T5Attention) {
    load_linear(loader, &format!("{prefix}.q"), &mut attention.q);
    load_linear(loader, &format!("{prefix}.k"), &mut attention.k);
    load_linear(loader, &format!("{prefix}.v"), &mut attention.v);
    load_linear(loader, &format!("{prefix}.o"), &mut attention.o);
}

fn load_norm(loader: &mut StrictLoader, prefix: &str, norm: &mut T5LayerNorm) {
    let [width] = norm.weight.shape().dims();
    norm.weight = Param::from_tensor(loader.take(&format!("{prefix}.weight"), [width]));
}

/// PyTorch stores `[out, in]`; Burn's `Linear` holds `[in, out]`.
fn load_linear(loader: &mut StrictLoader, prefix: &str, linear: &mut Linear) {
    let [d_in, d_out] = linear.weight.shape().dims();
    let weight: Tensor<2> = loader.take(&format!("{prefix}.weight"), [d_out, d_in]);
    linear.weight = Param::from_tensor(weight.transpose());
}
