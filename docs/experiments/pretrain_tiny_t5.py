# Experiment (docs/experiments/README.md): span-corruption pretraining of the tiny T5 on the training-split text.
import json, sys, math, random, time
import torch, torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration
from tokenizers import Tokenizer
torch.set_num_threads(2); torch.manual_seed(0); random.seed(0)
args = dict(a.split("=") for a in sys.argv[1:])
steps = int(args.get("steps", 2000)); lr = float(args.get("lr", 2e-3)); out = args.get("out", "t5-tiny")
R = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "datasets")
tok = Tokenizer.from_file(f"{R}/t5-tokenizer/tokenizer.json")
texts = []
for l in open(f"{R}/text/pd-source/train.jsonl"): texts.append(json.loads(l)["sentence"])
for l in open(f"{R}/text/pd-next/train.jsonl"):
    x = json.loads(l); texts += [x["sentence1"], x["sentence2"]]
texts = sorted(set(texts))
docs = [tok.encode(t, add_special_tokens=False).ids for t in texts]
print("sentences", len(docs), "tokens", sum(map(len, docs)))
cfg = T5Config(vocab_size=32128, d_model=128, d_kv=32, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
               feed_forward_proj="relu", dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
model = T5ForConditionalGeneration(cfg)
def corrupt(ids):
    n = len(ids); k = max(1, round(n * 0.15 / 3)); starts = sorted(random.sample(range(n), min(k, n)))
    src, tgt, s, last = [], [], 0, 0
    for i, st in enumerate(starts):
        if st < last: continue
        ln = min(3, n - st); sent = 32099 - s; s += 1
        src += ids[last:st] + [sent]; tgt += [sent] + ids[st:st + ln]; last = st + ln
    src += ids[last:]
    return src[:63] + [1], tgt[:31] + [1]
def batch(bs):
    pairs = [corrupt(random.choice(docs)[:60]) for _ in range(bs)]
    X = torch.zeros(bs, max(len(p[0]) for p in pairs), dtype=torch.long); M = torch.zeros_like(X)
    Y = torch.full((bs, max(len(p[1]) for p in pairs)), -100, dtype=torch.long)
    for i, (a, b) in enumerate(pairs): X[i, :len(a)] = torch.tensor(a); M[i, :len(a)] = 1; Y[i, :len(b)] = torch.tensor(b)
    return X, M, Y
opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / 100, max(0.05, (steps - s) / (steps - 100))))
t0 = time.time()
for step in range(steps):
    X, M, Y = batch(64)
    loss = model(input_ids=X, attention_mask=M, labels=Y).loss
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step()
    if step % 100 == 0 or step == steps - 1: print(step, round(loss.item(), 3), round(time.time() - t0), flush=True)
model.save_pretrained(out, safe_serialization=True)
