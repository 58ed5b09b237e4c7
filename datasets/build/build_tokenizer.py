"""Trains a backbone's vocabulary on its pretraining corpus.

    python3 datasets/build/build_tokenizer.py [--corpus DIR] [--out DIR]   # needs `tokenizers` (pip)

Defaults: `--corpus datasets/pretrain --out datasets/t5-mini-tokenizer` (models/t5-mini's);
models/t5-mini-en's is `--corpus datasets/pretrain-en --out datasets/t5-mini-en-tokenizer`.

A T5-style SentencePiece Unigram vocabulary of 8,000 pieces trained with Hugging Face
`tokenizers`' `UnigramTrainer` on the corpus's `train.jsonl` only (never on held-out text),
with everything else of T5's tokenizer kept: its normaliser (the precompiled NFKC map and
whitespace collapsing), `Metaspace` pre-tokenizer and decoder, `</s>` appended to every
sequence. Ids: `<pad>` 0, `</s>` 1, `<unk>` 2, the pieces, then the 100 sentinels with
`<extra_id_0>` last (id 8,099), exactly T5's layout, so `len(tokenizer) - 1 - k` is sentinel k.
`transformers`' `T5TokenizerFast` loads the directory (there is no `spiece.model`: the slow
tokenizer cannot). Why a vocabulary of our own: docs/pretrain.md, "The vocabulary".
"""

import argparse
import json
import os
import shutil

from tokenizers import AddedToken, Tokenizer, models, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
T5 = os.path.join(ROOT, "t5-tokenizer")
PIECES = 8000
SENTINELS = 100


def texts(corpus):
    with open(os.path.join(corpus, "train.jsonl"), encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=os.path.join(ROOT, "pretrain"))
    parser.add_argument("--out", default=os.path.join(ROOT, "t5-mini-tokenizer"))
    args = parser.parse_args()
    out = args.out
    t5 = Tokenizer.from_file(os.path.join(T5, "tokenizer.json"))
    tok = Tokenizer(models.Unigram())
    tok.normalizer = t5.normalizer
    tok.pre_tokenizer = t5.pre_tokenizer
    tok.decoder = t5.decoder
    specials = ["<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(
        vocab_size=PIECES, special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(texts(args.corpus), trainer=trainer)
    assert [tok.token_to_id(s) for s in specials] == [0, 1, 2]
    tok.add_special_tokens(
        [AddedToken(f"<extra_id_{k}>", normalized=False) for k in reversed(range(SENTINELS))]
    )
    size = tok.get_vocab_size(with_added_tokens=True)
    assert tok.token_to_id("<extra_id_0>") == size - 1, size
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    # T5's tokenizer_config.json and special_tokens_map.json, with this vocabulary's ids.
    with open(os.path.join(T5, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    decoder = {}
    for token_id, entry in config["added_tokens_decoder"].items():
        content = entry["content"]
        new_id = tok.token_to_id(content)
        assert new_id is not None, content
        decoder[str(new_id)] = entry
    config["added_tokens_decoder"] = decoder
    # Without `spiece.model` the fast tokenizer must not be rebuilt from the slow one, which
    # `add_prefix_space` would ask for.
    for key in ("vocab_file", "add_prefix_space"):
        config.pop(key, None)
    config["model_max_length"] = 512
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    shutil.copy(os.path.join(T5, "special_tokens_map.json"), out)
    print(f"{out}: {size} tokens ({PIECES} pieces + {SENTINELS} sentinels)")


if __name__ == "__main__":
    main()
