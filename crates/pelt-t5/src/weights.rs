//! Loading Hugging Face T5 checkpoints: the one table from Hugging Face names to our modules.

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use pelt_weights::{Checkpoint, NamedTensor, StrictLoader};

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
        let shape = [config.vocab_size, config.d_model];
        let shared = loader.take_values(shared_name, &shape);
        load_stack(&mut loader, "encoder", &mut model.encoder);
        load_stack(&mut loader, "decoder", &mut model.decoder);
        // A tied model's output layer is `shared`; a file whose `lm_head.weight` holds other
        // values was trained untied, and Hugging Face would silently replace them.
        let untied_head = match &mut model.lm_head {
            Some(head) => {
                load_linear(&mut loader, "lm_head", head);
                false
            }
            None => {
                loader.contains("lm_head.weight")
                    && loader.take_values("lm_head.weight", &shape) != shared
            }
        };
        loader.finish()?;
        if untied_head {
            return Err(T5Error::TiedHeadDiffers {
                path: checkpoint.path().to_path_buf(),
            });
        }
        model.shared =
            Param::from_tensor(Tensor::from_data(TensorData::new(shared, shape), device));
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

impl T5Model {
    /// Every parameter under the Hugging Face name [`T5Model::from_checkpoint`] reads it from,
    /// linear weights as PyTorch's `[out, in]`; the shared embedding once as `shared.weight`
    /// (Hugging Face ties the encoder's and decoder's `embed_tokens`, and a tied `lm_head`, to it
    /// on load).
    pub fn hf_tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        push(&mut out, "shared.weight", self.shared.val());
        for (prefix, stack) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            push(
                &mut out,
                &format!("{prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                stack.position_bias.embedding.val(),
            );
            for (i, block) in stack.blocks.iter().enumerate() {
                let p = format!("{prefix}.block.{i}.layer");
                push(
                    &mut out,
                    &format!("{p}.0.layer_norm.weight"),
                    block.self_norm.weight.val(),
                );
                attention(
                    &mut out,
                    &format!("{p}.0.SelfAttention"),
                    &block.self_attention,
                );
                let mut ff_layer = 1;
                if let (Some(norm), Some(cross)) = (&block.cross_norm, &block.cross_attention) {
                    push(
                        &mut out,
                        &format!("{p}.1.layer_norm.weight"),
                        norm.weight.val(),
                    );
                    attention(&mut out, &format!("{p}.1.EncDecAttention"), cross);
                    ff_layer = 2;
                }
                let ff = format!("{p}.{ff_layer}");
                push(
                    &mut out,
                    &format!("{ff}.layer_norm.weight"),
                    block.ff_norm.weight.val(),
                );
                match &block.ff.wi_1 {
                    Some(wi_1) => {
                        linear(&mut out, &format!("{ff}.DenseReluDense.wi_0"), &block.ff.wi);
                        linear(&mut out, &format!("{ff}.DenseReluDense.wi_1"), wi_1);
                    }
                    None => linear(&mut out, &format!("{ff}.DenseReluDense.wi"), &block.ff.wi),
                }
                linear(&mut out, &format!("{ff}.DenseReluDense.wo"), &block.ff.wo);
            }
            push(
                &mut out,
                &format!("{prefix}.final_layer_norm.weight"),
                stack.final_norm.weight.val(),
            );
        }
        if let Some(head) = &self.lm_head {
            linear(&mut out, "lm_head", head);
        }
        out
    }

    /// Writes `dir/config.json` and `dir/model.safetensors` (f32) as Hugging Face lays out a
    /// `T5ForConditionalGeneration`, so that `transformers` and [`T5Model::load`] read it back.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), T5Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| T5Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let config_path = dir.join("config.json");
        let unwritable = |e: serde_json::Error| T5Error::ConfigParse {
            path: config_path.clone(),
            reason: format!("cannot serialise the configuration: {e}"),
        };
        let mut config = serde_json::to_value(&self.config).map_err(unwritable)?;
        if let Some(fields) = config.as_object_mut() {
            fields.insert("model_type".into(), "t5".into());
            fields.insert(
                "architectures".into(),
                serde_json::json!(["T5ForConditionalGeneration"]),
            );
            fields.insert("is_encoder_decoder".into(), true.into());
        }
        let text = serde_json::to_vec_pretty(&config).map_err(unwritable)?;
        pelt_weights::write_atomically(&config_path, &text)?;
        pelt_weights::write_safetensors(
            dir.join("model.safetensors"),
            &self.hf_tensors(),
            &[("format".to_string(), "pt".to_string())].into(),
        )?;
        Ok(())
    }
}

fn push<const D: usize>(out: &mut Vec<NamedTensor>, name: &str, tensor: Tensor<D>) {
    let shape = tensor.dims().to_vec();
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        // Cannot fail after `convert`; an empty vector would be refused by the writer's
        // shape check, naming the tensor.
        .unwrap_or_default();
    out.push(NamedTensor {
        name: name.to_string(),
        shape,
        values,
    });
}

fn attention(out: &mut Vec<NamedTensor>, prefix: &str, attention: &T5Attention) {
    for (name, layer) in [
        ("q", &attention.q),
        ("k", &attention.k),
        ("v", &attention.v),
        ("o", &attention.o),
    ] {
        linear(out, &format!("{prefix}.{name}"), layer);
    }
}

/// Burn's `[in, out]` written as PyTorch's `[out, in]`.
fn linear(out: &mut Vec<NamedTensor>, prefix: &str, linear: &Linear) {
    push(
        out,
        &format!("{prefix}.weight"),
        linear.weight.val().transpose(),
    );
}
