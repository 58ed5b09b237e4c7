"""How far a shallow cue goes on pd-next: word overlap between the two sentences.

    python3 docs/experiments/pd_next_overlap.py

pd-next asks whether sentence2 directly follows sentence1 (the negatives are other sentences of
the same chapter or address). Adjacent sentences share more words, so one number, the Jaccard
overlap of the two sentences' lower-cased word sets, with one threshold and direction chosen
for training accuracy, is a floor for what a model that compares the two sentences can reach.
Standard library only; prints training and test accuracy (×100).
"""

import json
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load(split):
    with open(os.path.join(ROOT, "datasets", "text", "pd-next", f"{split}.jsonl")) as f:
        return [json.loads(line) for line in f]


def overlap(row):
    a, b = (set(re.findall(r"[a-z']+", row[k].lower())) for k in ("sentence1", "sentence2"))
    return len(a & b) / max(1, len(a | b))


def accuracy(rows, threshold, sign):
    return sum((sign * (overlap(r) - threshold) >= 0) == (r["label"] == 1) for r in rows) / len(rows)


def main():
    train, test = load("train"), load("test")
    candidates = sorted({overlap(r) for r in train})
    best = max(((accuracy(train, t, s), t, s) for t in candidates for s in (1, -1)))
    _, threshold, sign = best
    print(f"word overlap (Jaccard {'>=' if sign > 0 else '<='} {threshold:.4f} means adjacent): "
          f"train {100 * best[0]:.1f}, test {100 * accuracy(test, threshold, sign):.1f}")


if __name__ == "__main__":
    main()
