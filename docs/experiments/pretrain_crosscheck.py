# The PyTorch side of the pretraining cross-check (docs/pretrain.md, "The PyTorch cross-check").
#
#   pelt pretrain --config CONFIG --out DIR --export-start N [--set ...]   # DIR/init, DIR/batches.json
#   python docs/experiments/pretrain_crosscheck.py DIR CONFIG [KEY=VALUE ...] > torch.jsonl
#   python docs/experiments/pretrain_crosscheck.py --compare RUST_LOG torch.jsonl
#
# Trains Hugging Face's T5ForConditionalGeneration from DIR/init on exactly the batches of
# DIR/batches.json with the recipe of CONFIG's `train` section (overridden by KEY=VALUE, as
# `--set train.KEY=VALUE`): AdamW (betas 0.9/0.999, eps 1e-5, Burn's defaults), decoupled weight
# decay, optional parameter scaling (each tensor's lr times max(1e-3, RMS)), linear warm-up then
# linear decay to zero, global gradient-norm clipping. Prints one JSON line per step:
# {"step", "loss", "lr", "grad_norm"}, as `pelt`'s log.jsonl with log_every 1.
import json
import sys

import torch
from transformers import T5ForConditionalGeneration

torch.set_num_threads(2)


def compare(rust_log, torch_log):
    """Per-step losses of both runs: the largest relative difference, and 50-step means."""
    rust = {d["step"]: d["loss"] for d in map(json.loads, open(rust_log)) if "loss" in d}
    ours = {d["step"]: d["loss"] for d in map(json.loads, open(torch_log))}
    steps = sorted(set(rust) & set(ours))
    worst = max(abs(rust[s] - ours[s]) / abs(ours[s]) for s in steps[:10])
    print(f"{len(steps)} steps; largest relative difference over the first 10: {worst:.1e}")
    for start in range(0, len(steps), 50):
        window = steps[start:start + 50]
        mean = lambda d: sum(d[s] for s in window) / len(window)
        print(f"steps {window[0]}-{window[-1]}: pelt {mean(rust):.4f}  transformers {mean(ours):.4f}")


if sys.argv[1] == "--compare":
    compare(sys.argv[2], sys.argv[3])
    sys.exit(0)
run, config_file = sys.argv[1], sys.argv[2]
train = json.load(open(config_file))["train"]
for item in sys.argv[3:]:
    key, value = item.split("=", 1)
    train[key] = json.loads(value)
steps = len(json.load(open(f"{run}/batches.json")))
batches = json.load(open(f"{run}/batches.json"))
model = T5ForConditionalGeneration.from_pretrained(f"{run}/init").train()
params = [p for p in model.parameters() if p.requires_grad]
groups = [{"params": [p]} for p in params]
opt = torch.optim.AdamW(groups, lr=0.0, betas=(0.9, 0.999), eps=1e-5,
                        weight_decay=train.get("weight_decay", 0.0))


def learning_rate(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(total - step, 0) / max(total - warmup, 1)


for step, batch in enumerate(batches):
    lr = learning_rate(step, train["steps"], train["warmup_steps"], train["learning_rate"])
    for group in opt.param_groups:
        (p,) = group["params"]
        scale = max(1e-3, p.detach().pow(2).mean().sqrt().item()) if train.get("parameter_scale") else 1.0
        group["lr"] = lr * scale
    input_ids = torch.tensor(batch["input_ids"])
    labels = torch.tensor(batch["labels"])
    loss = model(input_ids=input_ids, labels=labels).loss
    opt.zero_grad()
    loss.backward()
    clip = train.get("max_grad_norm", 0.0)
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    opt.step()
    print(json.dumps({"step": step + 1, "loss": loss.item(), "lr": lr, "grad_norm": norm.item()}), flush=True)
