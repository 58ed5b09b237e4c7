"""Reference baseline for a bundled text task: TF-IDF bag of words + logistic regression.

    pip install scikit-learn
    python3 docs/experiments/bow_baseline.py TASK_DIR FIELD [FIELD ...] [--json OUT]

    python3 docs/experiments/bow_baseline.py datasets/text/uncertainty sentence --json docs/results/bow/uncertainty.json
    python3 docs/experiments/bow_baseline.py datasets/text/pd-source sentence --json docs/results/bow/pd-source.json
    python3 docs/experiments/bow_baseline.py datasets/text/pd-next sentence1 sentence2 --json docs/results/bow/pd-next.json

Reads TASK_DIR/{train,validation,test}.jsonl (the layout of datasets/text/: text fields and a
`label`); the text of an example is its FIELDs joined by a space. Features: TF-IDF of word
unigrams and bigrams with sublinear tf, fitted on the training split only (scikit-learn's default
tokenisation, lower-cased). Classifier: L2 logistic regression (lbfgs) on the training split,
C chosen among 0.1, 0.3, 1, 3, 10 by validation accuracy (the smallest C on ties), never on
test; the model of that C (trained on train only) is scored on test. Also prints the accuracy
on test of always answering the training split's most common label. Deterministic.
"""

import argparse
import collections
import json
import os
import platform

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

CS = [0.1, 0.3, 1, 3, 10]


def read(task_dir, split, fields):
    texts, labels = [], []
    with open(os.path.join(task_dir, f"{split}.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(" ".join(str(row[field]) for field in fields))
            labels.append(str(row["label"]))
    return texts, labels


def accuracy(predicted, gold):
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task_dir")
    parser.add_argument("fields", nargs="+", help="text fields, joined by a space")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = parser.parse_args()
    data = {split: read(args.task_dir, split, args.fields) for split in ("train", "validation", "test")}
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (data[s] for s in ("train", "validation", "test"))

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train_f = vectorizer.fit_transform(train_x)
    val_f, test_f = vectorizer.transform(val_x), vectorizer.transform(test_x)

    validation = {}
    best = None
    for c in CS:
        model = LogisticRegression(C=c, max_iter=5000).fit(train_f, train_y)
        validation[str(c)] = accuracy(model.predict(val_f), val_y)
        if best is None or validation[str(c)] > validation[str(best[0])]:
            best = (c, model)
    c, model = best
    majority_label, _ = collections.Counter(train_y).most_common(1)[0]
    result = {
        "task_dir": args.task_dir,
        "fields": args.fields,
        "sizes": {s: len(data[s][0]) for s in data},
        "features": len(vectorizer.vocabulary_),
        "validation_accuracy_by_C": validation,
        "C": c,
        "validation_accuracy": validation[str(c)],
        "test_accuracy": accuracy(model.predict(test_f), test_y),
        "majority_label": majority_label,
        "majority_test_accuracy": accuracy([majority_label] * len(test_y), test_y),
        "test_label_counts": dict(sorted(collections.Counter(test_y).items())),
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }
    print(f"{args.task_dir} ({' + '.join(args.fields)}): C {c}, validation accuracy "
          f"{100 * result['validation_accuracy']:.2f}, test accuracy {100 * result['test_accuracy']:.2f}; "
          f"majority label `{majority_label}` on test {100 * result['majority_test_accuracy']:.2f}")
    print("validation accuracy by C: " + ", ".join(f"{k}: {100 * v:.2f}" for k, v in validation.items()))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
