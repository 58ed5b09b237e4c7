"""Held-out span-corruption loss and swapped-input gap of a T5 directory, measured in PyTorch.

    .venv-fixtures/bin/python docs/experiments/heldout_gap.py [MODEL_DIR] [seeds=0,1,2] [chunks=256]

An independent check of the figures `pelt pretrain` reports (docs/pretrain.md, "The health
signal"), with nothing of our Rust code: `transformers`' `T5TokenizerFast` and
`T5ForConditionalGeneration` load MODEL_DIR (default models/t5-mini); the held-out corpus
(datasets/pretrain/heldout.jsonl) is tokenised document by document, each closed by `</s>`,
concatenated and cut into chunks of 141 tokens; `chunks` of them, evenly spread, are corrupted
by Hugging Face's span corruption (density 0.15, mean span 3; the collator's NumPy steps as
restated in crates/pelt-data/tests/fixtures/gen_span_corruption.py) after `np.random.seed(s)`
for each seed. Printed per seed: the mean cross-entropy per target token, the same with every
chunk's encoder input replaced by the next chunk's, their difference, and a unigram table of
the training corpus on the same targets (sentinels and `</s>` free, as in issue 26).
"""

import collections
import json
import math
import os
import sys

import numpy as np
import torch
from transformers import T5ForConditionalGeneration, T5TokenizerFast

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "crates", "pelt-data", "tests", "fixtures"))
import gen_span_corruption as collator  # noqa: E402

CHUNK, DENSITY, MEAN_SPAN = 141, 0.15, 3.0


def token_stream(tokenizer, path):
    ids = []
    with open(path) as f:
        for line in f:
            ids.extend(tokenizer(json.loads(line)["text"]).input_ids)  # ends with </s>
    return ids


def main():
    args = [a for a in sys.argv[1:] if "=" not in a]
    options = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    model_dir = args[0] if args else os.path.join(ROOT, "models", "t5-mini")
    seeds = [int(s) for s in options.get("seeds", "0,1,2").split(",")]
    count = int(options.get("chunks", "256"))

    tokenizer = T5TokenizerFast.from_pretrained(model_dir)
    model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()
    collator.VOCAB = len(tokenizer)
    collator.EOS = tokenizer.eos_token_id

    stream = token_stream(tokenizer, os.path.join(ROOT, "datasets", "pretrain", "heldout.jsonl"))
    total = len(stream) // CHUNK
    picks = [i * total // count for i in range(count)] if total > count else range(total)
    chunks = [stream[i * CHUNK:(i + 1) * CHUNK] for i in picks]

    counts = collections.Counter(
        token_stream(tokenizer, os.path.join(ROOT, "datasets", "pretrain", "train.jsonl")))
    everything = sum(counts.values())
    free = {tokenizer.eos_token_id} | {collator.VOCAB - 1 - k for k in range(100)}

    print(f"{model_dir}: {len(chunks)} chunks of {CHUNK} tokens, {total} in the held-out corpus")
    print("| seed | held-out loss | swapped-input loss | gap | unigram table |")
    print("|---:|---:|---:|---:|---:|")
    results = []
    for seed in seeds:
        np.random.seed(seed)
        _, inputs, labels = collator.collate(chunks, DENSITY, MEAN_SPAN)
        inputs, labels = torch.tensor(inputs), torch.tensor(labels)
        with torch.no_grad():
            plain = model(input_ids=inputs, labels=labels).loss.item()
            swapped = model(input_ids=torch.roll(inputs, -1, dims=0), labels=labels).loss.item()
        unigram = np.mean([0.0 if t in free else -math.log(max(counts[t], 1) / everything)
                           for t in labels.flatten().tolist()])
        results.append((plain, swapped))
        print(f"| {seed} | {plain:.3f} | {swapped:.3f} | {swapped - plain:.3f} | {unigram:.3f} |")
    plain, swapped = np.array(results).T
    print(f"mean over {len(seeds)} seeds: held-out {plain.mean():.3f} (sd {plain.std(ddof=1):.3f}),"
          f" gap {(swapped - plain).mean():.3f} (sd {(swapped - plain).std(ddof=1):.3f})")


if __name__ == "__main__":
    main()
