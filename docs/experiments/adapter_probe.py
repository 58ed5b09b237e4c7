# Experiment (docs/experiments/README.md): adapters on a frozen T5 in PyTorch/transformers.
import json, sys, math, random, time
import torch, torch.nn as nn, torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration
from tokenizers import Tokenizer
torch.set_num_threads(2)
torch.manual_seed(0); random.seed(0)
args = dict(a.split("=") for a in sys.argv[1:])
method = args.get("method", "adapters"); lr = float(args.get("lr", 1e-3)); steps = int(args.get("steps", 300))
task = args.get("task", "pd-source"); init = args.get("init", "hf"); r = int(args.get("r", 24))
ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[2])
tok = Tokenizer.from_file(ROOT + "/datasets/t5-tokenizer/tokenizer.json")
def load(split):
    rows = [json.loads(l) for l in open(f"{ROOT}/datasets/text/{task}/{split}.jsonl")]
    if task == "pd-source":
        return [("sentence: " + x["sentence"], x["label"]) for x in rows]
    return [(f"sentence1: {x['sentence1']} sentence2: {x['sentence2']}", ["not_next", "next"][x["label"]]) for x in rows]
train, val = load("train"), load("validation")
cfg = T5Config(vocab_size=32128, d_model=128, d_kv=32, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
               feed_forward_proj="relu", dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
model = T5ForConditionalGeneration.from_pretrained(args["pre"]) if "pre" in args else T5ForConditionalGeneration(cfg)
if init == "kaiming":
    for n, p in model.named_parameters():
        if p.dim() == 2 and "shared" not in n and "relative" not in n:
            b = 1 / math.sqrt(p.shape[1]); nn.init.uniform_(p, -b, b)
for p in model.parameters(): p.requires_grad_(method == "full")
d = 128
class Adapter(nn.Module):
    def __init__(s):
        super().__init__(); s.down = nn.Linear(d, r); s.up = nn.Linear(r, d)
        nn.init.normal_(s.down.weight, std=0.01); nn.init.zeros_(s.down.bias); nn.init.normal_(s.up.weight, std=0.01); nn.init.zeros_(s.up.bias)
    def forward(s, h): return h + s.up(F.gelu(s.down(h), approximate="tanh"))
adapters = nn.ModuleList()
if method == "adapters":
    for stack in (model.encoder, model.decoder):
        for blk in stack.block:
            ff = blk.layer[-1]; a = Adapter(); adapters.append(a)
            dense = ff.DenseReluDense
            ff.DenseReluDense = nn.Sequential(dense, a)
    for n, p in model.named_parameters():
        if "layer_norm" in n: p.requires_grad_(True)
params = [p for p in model.parameters() if p.requires_grad] + list(adapters.parameters())
params = list({id(p): p for p in params}.values())
print("trainable", sum(p.numel() for p in params))
opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / 30, max(0.0, (steps - s) / (steps - 30))))
def enc(batch):
    x = [tok.encode(s).ids[:64] for s, _ in batch]; y = [tok.encode(t).ids[:8] for _, t in batch]
    X = torch.zeros(len(x), max(map(len, x)), dtype=torch.long); M = torch.zeros_like(X)
    Y = torch.full((len(y), max(map(len, y))), -100, dtype=torch.long)
    for i, (a, b) in enumerate(zip(x, y)): X[i, :len(a)] = torch.tensor(a); M[i, :len(a)] = 1; Y[i, :len(b)] = torch.tensor(b)
    return X, M, Y
labels = sorted({t for _, t in train}); first = [tok.encode(t).ids[0] for t in labels]
def evaluate():
    model.eval(); correct = 0
    with torch.no_grad():
        for i in range(0, 200, 50):
            X, M, Y = enc(val[i:i+50])
            dec = torch.zeros(len(X), 1, dtype=torch.long)
            logits = model(input_ids=X, attention_mask=M, decoder_input_ids=dec).logits[:, 0]
            pred = logits.argmax(-1)
            correct += sum(int(p) == tok.encode(t).ids[0] for p, (_, t) in zip(pred, val[i:i+50]))
    model.train(); return correct / 200
t0 = time.time()
for step in range(steps):
    batch = random.sample(train, 32)
    X, M, Y = enc(batch)
    out = model(input_ids=X, attention_mask=M, labels=Y)
    logits = out.logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1), ignore_index=-100, label_smoothing=float(args.get("ls", 0.1)))
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); sched.step()
    if step % int(args.get("every", 50)) == 0 or step == steps - 1:
        print(step, round(loss.item(), 3), "acc", evaluate(), round(time.time() - t0, 1), flush=True)
