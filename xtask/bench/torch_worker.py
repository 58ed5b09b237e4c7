#!/usr/bin/env python3
"""The PyTorch side of `cargo xtask bench`'s side-by-side comparison (the Rust side is
`crates/pelt-train/examples/bench_worker.rs`). One process times one case and prints one JSON
line: the seconds of every timed iteration and the process's peak resident memory.

PyTorch eager, the reference implementation of the fixture generators: Hugging Face T5
(random weights, dropout 0) with the spec's insertion points (`pelt-t5`'s `spec_forward`) and the
HyperPELT hypernetwork (`pelt-hyper`'s `Reference`, spec dimensions), AdamW. Greedy generation
is transformers' own `generate` with its key/value cache. `pretrain` is one span-corruption
pretraining step at the bundled model's shapes as a `transformers` user writes it: the model's
own forward and loss, `clip_grad_norm_`, fused AdamW. Threads: `--threads`
(`torch.set_num_threads`), the same number the Rust side gets. `--compile` runs the forward
(and loss) through `torch.compile` (inductor); the warm-up iterations include the compilation.
`--precision bf16` turns on PyTorch's bf16 products for f32 matrices (oneDNN; the API this torch
honours is printed, with the relative error of a 256² product against f64, which shows whether
the kernel really changed); `--autocast` runs the forward and loss under CPU autocast to bf16.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURES = os.path.join(ROOT, "crates", "{}", "tests", "fixtures")
# Both generators are called gen_fixtures: pelt-t5's is imported under that name (pelt-hyper's
# imports it so), pelt-hyper's under another.
sys.path.insert(0, FIXTURES.format("pelt-t5"))
import gen_fixtures as t5fx  # noqa: E402  (spec_forward: T5 with the insertion points)

_spec = importlib.util.spec_from_file_location(
    "hyper_fixtures", os.path.join(FIXTURES.format("pelt-hyper"), "gen_fixtures.py"))
hyperfx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hyperfx)  # Reference: the HyperPELT hypernetwork

BATCH, SOURCE, TARGET, VISUAL_TOKENS, CLIP_DIM, MATMUL_SIZE = 8, 128, 8, 49, 768, 2048
# configs/pretrain-t5-mini.json: 32 chunks of 141 tokens, corrupted to 128 + 29.
PRETRAIN_BATCH, PRETRAIN_CHUNK, PRETRAIN_SOURCE, PRETRAIN_TARGET = 32, 141, 128, 29
# PeltConfig's defaults (docs/method.md §8).
SPEC_DIMS = dict(embedding_dim=64, projector_hidden_dim=128, hyper_dim=64, adapter_dim=24,
                 prefix_len=8)
DIMS = {
    "small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
    "base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12),
    "mini": dict(d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_heads=4),
}


def t5(dims):
    config = T5Config(vocab_size=32128, feed_forward_proj="relu", dropout_rate=0.0,
                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, **DIMS[dims])
    return T5ForConditionalGeneration(config)


def batch(visual):
    ids = torch.randint(2, 32000, (BATCH, SOURCE))
    mask = torch.ones(BATCH, SOURCE, dtype=torch.long)
    labels = torch.randint(2, 32000, (BATCH, TARGET))
    features = torch.randn(BATCH, 1, VISUAL_TOKENS, CLIP_DIM) if visual else None
    return ids, mask, labels, features


def reference(model, visual):
    cfg = dict(SPEC_DIMS, tasks=["task"], method="hyperpelt")
    return hyperfx.Reference(cfg, model.config, CLIP_DIM if visual else None, max_images=1)


def insertions(ref, features):
    """The modules and visual tokens of a batch of one task, as the Rust side computes them:
    text batches generate the task's modules once and broadcast them; visual modules depend on
    each image, so V&L batches generate per example."""
    if features is not None:
        return ref.insertions(torch.zeros(BATCH, dtype=torch.long), features)
    ins, _ = ref.insertions(torch.tensor([0]), None)
    for stack in ins.values():
        for slot in stack:
            for key, value in slot.items():
                if key == "adapters":
                    slot[key] = [tuple(p.expand(BATCH, *p.shape[1:]) for p in a) for a in value]
                else:
                    slot[key] = tuple(p.expand(BATCH, *p.shape[1:]) for p in value)
    return ins, None


def timed(warmup, iters, f):
    for _ in range(warmup):
        f()
    out = []
    for _ in range(iters):
        start = time.perf_counter()
        f()
        out.append(time.perf_counter() - start)
    return out


def set_precision(precision):
    """Makes `precision` the products' inputs for f32 matrices; returns the API that took it
    (None for f32) and the relative error of a 256² product against f64 (about 2^-24 · 16 for
    f32 products, about 2^-8 for bf16 ones)."""
    api = None
    if precision == "bf16":
        mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
        if mkldnn is not None and hasattr(mkldnn, "fp32_precision"):
            mkldnn.fp32_precision = "bf16"
            api = "torch.backends.mkldnn.matmul.fp32_precision = 'bf16'"
        else:
            torch.set_float32_matmul_precision("medium")
            api = "torch.set_float32_matmul_precision('medium')"
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(256, 256, generator=g), torch.randn(256, 256, generator=g)
    exact = x.double() @ y.double()
    scale = (x.double().abs() @ y.double().abs()).max()
    return api, float(((x @ y).double() - exact).abs().max() / scale)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True,
                   choices=["step", "forward", "generate", "matmul", "pretrain"])
    p.add_argument("--dims", default="small", choices=list(DIMS))
    p.add_argument("--method", default="hyperpelt", choices=["hyperpelt", "full"])
    p.add_argument("--visual", action="store_true")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--compile", action="store_true")
    p.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    p.add_argument("--autocast", action="store_true")
    a = p.parse_args()
    api, product_error = set_precision(a.precision)
    cast = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.autocast
            else contextlib.nullcontext)
    compiled = torch.compile if a.compile else (lambda f: f)
    if a.compile:
        # The first call compiles; the second recompiles once more for the grad-mode and
        # shape guards it learnt. Neither is timed.
        a.warmup = max(a.warmup, 2)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    if a.case == "matmul":
        x, y = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
        def product():
            with cast():
                return x @ y
        times = timed(a.warmup, a.iters, product)
    elif a.case == "pretrain":
        model = t5("mini").train()
        ids = torch.randint(2, 32000, (PRETRAIN_BATCH, PRETRAIN_SOURCE))
        mask = torch.ones_like(ids)
        labels = torch.randint(2, 32000, (PRETRAIN_BATCH, PRETRAIN_TARGET))
        optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01,
                                      fused=True)
        def loss():
            with cast():
                return model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss_of = compiled(loss)

        def step():
            optimiser.zero_grad(set_to_none=True)
            loss_of().backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
        times = timed(a.warmup, a.iters, step)
    elif a.case == "generate":
        model = t5(a.dims).eval()
        ids, mask, _, _ = batch(False)

        def generate():
            with torch.no_grad(), cast():
                out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                     num_beams=1, max_new_tokens=TARGET, min_new_tokens=TARGET)
            assert out.shape[1] == TARGET + 1, out.shape
        times = timed(a.warmup, a.iters, generate)
    else:
        model = t5(a.dims)
        ids, mask, labels, features = batch(a.visual)
        dec_ids = model._shift_right(labels)
        full = a.case == "step" and a.method == "full"
        ref = None if full else reference(model, a.visual)
        if a.case == "forward":
            model.eval()

            # Returns the logits: a compiled function whose result is unused compiles to
            # nothing.
            @compiled
            def forward():
                with torch.no_grad(), cast():
                    ins, tokens = insertions(ref, features)
                    return t5fx.spec_forward(model, ids, mask, dec_ids, ins, tokens)
            times = timed(a.warmup, a.iters, forward)
        else:
            model.train()
            if full:
                params = list(model.parameters())
            else:
                for q in model.parameters():
                    q.requires_grad_(False)
                params = list(ref.named(model).values())
                for q in params:
                    q.requires_grad_(True)
            # fused=True: one kernel over all parameters, the fastest eager AdamW on a CPU
            # (docs/benchmarks.md, "The PyTorch anchor of the full step").
            optimiser = torch.optim.AdamW(params, lr=3e-4, fused=True)

            @compiled
            def loss_of():
                with cast():
                    ins, tokens = (None, None) if full else insertions(ref, features)
                    _, logits = t5fx.spec_forward(model, ids, mask, dec_ids, ins, tokens)
                return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                       labels.reshape(-1),
                                       ignore_index=-100, label_smoothing=0.1)

            def step():
                optimiser.zero_grad(set_to_none=True)
                loss_of().backward()
                optimiser.step()
            times = timed(a.warmup, a.iters, step)
    print(json.dumps({
        "side": "torch", "case": a.case, "times_s": times,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": a.threads, "torch": torch.__version__, "compiled": a.compile,
        "precision": a.precision, "precision_api": api, "autocast": a.autocast,
        "product_error": product_error,
    }))


if __name__ == "__main__":
    main()
