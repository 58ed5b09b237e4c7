# Experiment (docs/experiments/README.md): linear probes on the frozen model (run from this directory).
import sys, torch, math
sys.argv = [sys.argv[0]] + sys.argv[1:]
exec(open(__file__.replace("linear_probe", "adapter_probe")).read().split("t0 = time.time()")[0])
def feats(rows, where):
    out = []
    with torch.no_grad():
        for i in range(0, len(rows), 100):
            X, M, Y = enc(rows[i:i+100])
            o = model(input_ids=X, attention_mask=M, decoder_input_ids=torch.zeros(len(X),1,dtype=torch.long), output_hidden_states=True)
            if where == "dec": out.append(o.decoder_hidden_states[-1][:, 0])
            else:
                h = o.encoder_last_hidden_state; out.append((h * M[..., None]).sum(1) / M.sum(1, keepdim=True))
    return torch.cat(out)
ytr = torch.tensor([labels.index(t) for _, t in train[:2000]]); yva = torch.tensor([labels.index(t) for _, t in val])
for where in ("enc", "dec"):
    Ftr, Fva = feats(train[:2000], where), feats(val, where)
    mu, sd = Ftr.mean(0), Ftr.std(0) + 1e-6
    Ftr, Fva = (Ftr - mu) / sd, (Fva - mu) / sd
    lin = torch.nn.Linear(Ftr.shape[1], 2); o = torch.optim.Adam(lin.parameters(), 1e-2)
    for _ in range(500):
        l = F.cross_entropy(lin(Ftr), ytr); o.zero_grad(); l.backward(); o.step()
    print(where, "probe acc", (lin(Fva).argmax(-1) == yva).float().mean().item(), "raw feature std/mean-norm", (Ftr.std(0).mean()).item())
