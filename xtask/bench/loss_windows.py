#!/usr/bin/env python3
"""Mean training loss per window of steps of two runs, side by side (docs/precision.md):

    python3 xtask/bench/loss_windows.py RUN_A RUN_B [--window 50]

Reads each run's `log.jsonl` (its training lines, `"loss"` per step; logged with
`train.log_every=1`), prints a Markdown table of the windows' means and their relative
difference (B - A) / A, and the largest |difference|. Only the standard library.
"""
import argparse
import json
import os


def losses(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    out = {line["step"]: line["loss"] for line in lines if "loss" in line and "step" in line}
    steps = sorted(out)
    if steps != list(range(1, len(steps) + 1)):
        raise SystemExit(f"{run}: the log does not hold a loss for every step (log_every=1?)")
    return [out[s] for s in steps]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--window", type=int, default=50)
    args = p.parse_args()
    a, b = losses(args.a), losses(args.b)
    n = min(len(a), len(b)) // args.window * args.window
    print(f"| steps | {args.a} | {args.b} | relative difference |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for start in range(0, n, args.window):
        ma = sum(a[start:start + args.window]) / args.window
        mb = sum(b[start:start + args.window]) / args.window
        rel = (mb - ma) / ma
        worst = max(worst, abs(rel))
        print(f"| {start + 1}-{start + args.window} | {ma:.4f} | {mb:.4f} | {100 * rel:+.2f} % |")
    print(f"\nlargest |relative difference| over {n // args.window} windows: {100 * worst:.2f} %")


if __name__ == "__main__":
    main()
