//! `T5Model`: shared embedding, encoder, decoder and output layer
//! (`T5ForConditionalGeneration`).

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::embedding;

use crate::block::{CrossContext, LayerCache};
use crate::config::T5Config;
use crate::dense::{dense, fold_matmul};
use crate::error::T5Error;
use crate::init::normal_linear;
use crate::insertions::Insertions;
use crate::loss::IGNORE_INDEX;
use crate::stack::{T5Stack, padding_bias};

/// The encoder's input: token ids, their mask, and optional insertions. The builder checks
/// shapes as parts are added, so a built input is consistent and [`T5Model::encode`] takes it
/// without further checks.
#[derive(Debug, Clone)]
pub struct T5Input {
    /// Token ids `[batch, src]`.
    input_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding, `[batch, src]`; all ones when absent.
    attention_mask: Option<Tensor<2, Int>>,
    /// Embeddings appended after the text tokens (visual tokens), `[batch, extra, d_model]`,
    /// with their mask `[batch, extra]` (all ones when absent).
    appended: Option<(Tensor<3>, Option<Tensor<2, Int>>)>,
    /// Prefixes and adapters for every layer; none means plain T5.
    insertions: Insertions,
}

fn shape_error(what: &str, got: &[usize], expected: String) -> T5Error {
    T5Error::Input(format!("{what} has shape {got:?}; expected {expected}"))
}

impl T5Input {
    /// Input of `input_ids: [batch, src]`, all tokens visible, nothing inserted.
    pub fn new(input_ids: Tensor<2, Int>) -> Self {
        Self {
            input_ids,
            attention_mask: None,
            appended: None,
            insertions: Insertions::default(),
        }
    }

    /// Sets the padding mask `[batch, src]` (1 token, 0 padding); an error naming both shapes
    /// when it does not match `input_ids`.
    pub fn mask(mut self, attention_mask: Tensor<2, Int>) -> Result<Self, T5Error> {
        let ids = self.input_ids.dims();
        if attention_mask.dims() != ids {
            return Err(shape_error(
                "attention_mask",
                &attention_mask.dims(),
                format!("{ids:?}, the shape of input_ids"),
            ));
        }
        self.attention_mask = Some(attention_mask);
        Ok(self)
    }

    /// Appends `embeds: [batch, extra, d_model]` after the text tokens, with an optional
    /// mask `[batch, extra]`; an error naming the shapes when the batch or `extra` differ.
    pub fn append(
        mut self,
        embeds: Tensor<3>,
        mask: Option<Tensor<2, Int>>,
    ) -> Result<Self, T5Error> {
        let [batch, _] = self.input_ids.dims();
        let [rows, extra, _] = embeds.dims();
        if rows != batch {
            return Err(shape_error(
                "appended embeddings",
                &embeds.dims(),
                format!("[{batch}, extra, d_model] (input_ids has batch {batch})"),
            ));
        }
        if let Some(m) = &mask
            && m.dims() != [batch, extra]
        {
            return Err(shape_error(
                "the appended embeddings' mask",
                &m.dims(),
                format!("[{batch}, {extra}]"),
            ));
        }
        self.appended = Some((embeds, mask));
        Ok(self)
    }

    /// Sets the parameter-efficient insertions; an error naming the layer and tensor when a
    /// prefix's key and value, or an adapter's four tensors, disagree in shape, or when a
    /// tensor's leading axis is neither 1 nor the batch of `input_ids`.
    pub fn pelt(mut self, insertions: Insertions) -> Result<Self, T5Error> {
        let [batch, _] = self.input_ids.dims();
        insertions.check(batch).map_err(T5Error::Input)?;
        self.insertions = insertions;
        Ok(self)
    }

    /// Token ids `[batch, src]`.
    pub fn input_ids(&self) -> &Tensor<2, Int> {
        &self.input_ids
    }
}

/// The encoder's output and what the decoder needs of the input.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Final encoder states `[batch, src + extra, d_model]`.
    pub hidden: Tensor<3>,
    /// Mask of those states `[batch, src + extra]`, 1 visible, 0 padding.
    pub mask: Tensor<2>,
    /// The input's insertions (the decoder uses `insertions.decoder`).
    pub insertions: Insertions,
}

impl Encoded {
    /// Keeps the batch rows `rows` (expands a batch into beams).
    pub fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            hidden: self.hidden.clone().select(0, rows.clone()),
            mask: self.mask.clone().select(0, rows.clone()),
            insertions: self.insertions.select_rows(rows),
        }
    }

    fn cross(&self) -> CrossContext {
        CrossContext {
            hidden: self.hidden.clone(),
            bias: padding_bias(self.mask.clone()),
        }
    }
}

/// `T5ForConditionalGeneration`.
#[derive(Module, Debug)]
pub struct T5Model {
    /// `shared`: token embedding `[vocab, d_model]`, shared by encoder, decoder and (when
    /// tied) the output layer.
    pub shared: Param<Tensor<2>>,
    /// `encoder`.
    pub encoder: T5Stack,
    /// `decoder`.
    pub decoder: T5Stack,
    /// `lm_head`, `d_model -> vocab`, when not tied to `shared`.
    pub lm_head: Option<Linear>,
    /// The configuration the model was built from.
    #[module(skip)]
    pub config: T5Config,
}

impl T5Config {
    /// A randomly initialised model of this shape, drawn as Hugging Face's T5 draws it
    /// (`crate::init`: the embedding and an untied output layer `N(0, factor^2)`, every other
    /// weight scaled by its fan-in, norms one); load weights with
    /// [`T5Model::load`](crate::T5Model::load) for a pretrained one.
    pub fn init(&self, device: &Device) -> T5Model {
        let factor = self.initializer_factor;
        T5Model {
            shared: Param::from_tensor(Tensor::random(
                [self.vocab_size, self.d_model],
                burn::tensor::Distribution::Normal(0.0, factor),
                device,
            )),
            encoder: T5Stack::new(self, false, device),
            decoder: T5Stack::new(self, true, device),
            lm_head: (!self.tie_word_embeddings)
                .then(|| normal_linear(self.d_model, self.vocab_size, factor, device)),
            config: self.clone(),
        }
    }
}

impl T5Model {
    /// Embeds `ids: [batch, seq]` with the shared table, `[batch, seq, d_model]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        embedding(self.shared.val(), ids)
    }

    /// Runs the encoder. Appended embeddings follow the text tokens.
    pub fn encode(&self, input: T5Input) -> Encoded {
        let [batch, src] = input.input_ids.dims();
        let device = input.input_ids.device();
        let mut embeds = self.embed(input.input_ids);
        let mut mask = match input.attention_mask {
            Some(mask) => mask.float(),
            None => Tensor::ones([batch, src], &device),
        };
        if let Some((extra, extra_mask)) = input.appended {
            let [_, count, _] = extra.dims();
            let extra_mask = match extra_mask {
                Some(m) => m.float(),
                None => Tensor::ones([batch, count], &device),
            };
            embeds = Tensor::cat(vec![embeds, extra], 1);
            mask = Tensor::cat(vec![mask, extra_mask], 1);
        }
        let hidden = self.encoder.forward(
            embeds,
            Some(mask.clone()),
            0,
            None,
            &input.insertions.encoder,
            None,
        );
        Encoded {
            hidden,
            mask,
            insertions: input.insertions,
        }
    }

    /// Runs the decoder on `decoder_ids: [batch, tgt]` (teacher forcing), returning logits
    /// `[batch, tgt, vocab]`.
    pub fn decode(&self, encoded: &Encoded, decoder_ids: Tensor<2, Int>) -> Tensor<3> {
        let hidden = self.decoder.forward(
            self.embed(decoder_ids),
            None,
            0,
            Some(&encoded.cross()),
            &encoded.insertions.decoder,
            None,
        );
        self.logits(hidden)
    }

    /// One incremental decoding step: `decoder_ids: [batch, new]` at positions
    /// `offset..offset + new`, with keys and values of earlier positions in `cache`
    /// (updated in place). Returns logits `[batch, new, vocab]`.
    pub fn decode_step(
        &self,
        encoded: &Encoded,
        decoder_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Tensor<3> {
        let [_, new] = decoder_ids.dims();
        let hidden = self.decoder.forward(
            self.embed(decoder_ids),
            None,
            cache.len,
            Some(&encoded.cross()),
            &encoded.insertions.decoder,
            Some(&mut cache.layers),
        );
        cache.len += new;
        self.logits(hidden)
    }

    /// Encoder and decoder with teacher forcing: logits `[batch, tgt, vocab]`.
    pub fn forward(&self, input: T5Input, decoder_ids: Tensor<2, Int>) -> Tensor<3> {
        let encoded = self.encode(input);
        self.decode(&encoded, decoder_ids)
    }

    /// A fresh cache for [`decode_step`](Self::decode_step).
    pub fn new_cache(&self) -> DecoderCache {
        DecoderCache {
            layers: vec![LayerCache::default(); self.decoder.blocks.len()],
            len: 0,
        }
    }

    /// Decoder states `[batch, tgt, d_model]` to logits `[batch, tgt, vocab]`: the tied
    /// embedding after scaling by `d_model^-0.5`, or the separate `lm_head`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => dense(head, hidden),
            None => {
                let scaled = hidden * (self.config.d_model as f64).powf(-0.5);
                fold_matmul(scaled, self.shared.val().transpose())
            }
        }
    }

    /// `labels: [batch, tgt]` (-100 where ignored) shifted right behind
    /// `decoder_start_token_id`, with -100 replaced by the pad id: the decoder's input.
    pub fn shift_right(&self, labels: Tensor<2, Int>) -> Tensor<2, Int> {
        let [batch, tgt] = labels.dims();
        let device = labels.device();
        let start = Tensor::<2, Int>::full(
            [batch, 1],
            self.config.decoder_start_token_id as i64,
            &device,
        );
        let shifted = Tensor::cat(vec![start, labels.slice([0..batch, 0..tgt - 1])], 1);
        let ignored = shifted.clone().equal_elem(IGNORE_INDEX);
        shifted.mask_fill(ignored, self.config.pad_token_id as i64)
    }
}

/// The per-layer key/value cache of incremental decoding.
#[derive(Debug, Clone)]
pub struct DecoderCache {
    /// One cache per decoder layer.
    pub layers: Vec<LayerCache>,
    /// Positions decoded so far.
    pub len: usize,
}

impl DecoderCache {
    /// Keeps the batch rows `rows` (reorders beams).
    pub fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            layers: self.layers.iter().map(|l| l.select_rows(rows)).collect(),
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_parts_of_other_shapes_are_errors_naming_them() {
        let device = Device::default();
        let input = || T5Input::new(Tensor::zeros([2, 6], &device));
        let err = input()
            .mask(Tensor::ones([2, 5], &device))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("attention_mask has shape [2, 5]") && err.contains("[2, 6]"),
            "{err}"
        );
        let err = input()
            .append(Tensor::zeros([3, 4, 8], &device), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[3, 4, 8]") && err.contains("batch 2"),
            "{err}"
        );
        let wrong_mask = Some(Tensor::ones([2, 3], &device));
        let err = input()
            .append(Tensor::zeros([2, 4, 8], &device), wrong_mask)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[2, 3]") && err.contains("[2, 4]"), "{err}");
        let ok = input().mask(Tensor::ones([2, 6], &device)).and_then(|i| {
            i.append(
                Tensor::zeros([2, 4, 8], &device),
                Some(Tensor::ones([2, 4], &device)),
            )
        });
        assert!(ok.is_ok());
    }
}
