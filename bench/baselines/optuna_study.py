#!/usr/bin/python3
"""The whole-study baseline of bench/study_vs_optuna: a plain Optuna + PyTorch
study of the same candidates, data and epochs as a factorize-nas config.

Reads the study's YAML (the keys it shares with factorize-nas: model, data,
training, quantization.calibration_samples) and the candidates' factorizations
(`factorize-nas space CONFIG --format json`, passed as --candidates). Every
candidate is one Optuna trial (each enqueued once with study.enqueue_trial, so
parallel jobs never take the same one — GridSampler with n_jobs > 1 can hand
two jobs the same grid point and skip another; two objectives:
conv MACs down, quint8 test accuracy up): it is trained with SGD as the config
says, then quantized with PyTorch's eager-mode post-training static
quantization (conv-BN-ReLU fused, QuantStub / DeQuantStub, the default qconfig
of the quantized engine with its default observers, quint8 activations),
calibrated on calibration_samples random training images and evaluated on the
test images. Prints one JSON object: wall time, the trials and Optuna's
Pareto front (study.best_trials).

Run with Debian's /usr/bin/python3 (python3-torch, python3-optuna, python3-yaml).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import optuna
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from idx import idx_file, read_idx


def load_data(cfg):
    d = cfg.get("data", {})
    directory = d.get("path") or "/usr/share/datasets/fashion-mnist"
    if d.get("dataset", "fashion_mnist") not in ("fashion_mnist", "mnist", "idx"):
        raise SystemExit("optuna_study.py reads MNIST-format data only")
    xtr = read_idx(idx_file(directory, "train-images-idx3-ubyte"))
    ytr = read_idx(idx_file(directory, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(idx_file(directory, "t10k-images-idx3-ubyte"))
    yte = read_idx(idx_file(directory, "t10k-labels-idx1-ubyte")).astype(np.int64)
    val = d.get("validation", 5000)
    # The same counts as factorize-nas: `validation` images held out of the
    # training set, then train_subset of the rest (0 = all) to train on.
    n = d.get("train_subset", 0) or len(ytr) - val
    n = min(n, len(ytr) - val)
    xtr, ytr = xtr[val:val + n], ytr[val:val + n]
    m = d.get("test_subset", 0) or len(yte)
    xte, yte = xte[:m], yte[:m]
    to = lambda x: torch.from_numpy(x.copy()).float().div_(255).unsqueeze(1)
    xtr, xte = to(xtr), to(xte)
    mean, std = xtr.mean().item(), xtr.std().item()
    norm = lambda x: (x - mean) / std
    return norm(xtr), torch.from_numpy(ytr.copy()), norm(xte), torch.from_numpy(yte.copy())


class Net(nn.Module):
    """The FactorizeNet macroarchitecture for one factorization vector."""

    def __init__(self, model, f):
        super().__init__()
        w = model.get("width", 1.0)
        c_in = model.get("input", [1, 28, 28])[0]
        depth = lambda d: max(1, int(round(d * w)))
        stages = [[64, 64], [128, 128, 128], [256, 256, 256]]
        self.quant = torch.ao.quantization.QuantStub()
        self.dequant = torch.ao.quantization.DeQuantStub()
        self.fuse = []
        layers = []

        def cbr(cin, cout, k, groups):
            i = len(layers)
            layers.extend([nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False),
                           nn.BatchNorm2d(cout), nn.ReLU()])
            self.fuse.append([str(i), str(i + 1), str(i + 2)])

        cbr(c_in, depth(64), 3, 1)
        cur = depth(64)
        li = 0
        for s, stage in enumerate(stages):
            for d in stage:
                out = depth(d)
                if f[li] == 1:
                    cbr(cur, out, 3, 1)
                else:
                    cbr(cur, cur, 3, f[li])
                    cbr(cur, out, 1, 1)
                cur = out
                li += 1
            if s + 1 < len(stages):
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        h, wd = model.get("input", [1, 28, 28])[1:]
        h, wd = h // 4, wd // 4
        dense = []
        n = cur * h * wd
        for size in model.get("dense", [1024, 1024]):
            dense += [nn.Linear(n, size), nn.ReLU()]
            n = size
        dense.append(nn.Linear(n, model.get("classes", 10)))
        self.classifier = nn.Sequential(*dense)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        x = self.quant(x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return self.dequant(x)

    def fuse_for_quantization(self):
        torch.ao.quantization.fuse_modules(self.features, self.fuse, inplace=True)
        pairs = [[str(i), str(i + 1)] for i, m in enumerate(self.classifier)
                 if isinstance(m, nn.Linear) and i + 1 < len(self.classifier)
                 and isinstance(self.classifier[i + 1], nn.ReLU)]
        torch.ao.quantization.fuse_modules(self.classifier, pairs, inplace=True)


def accuracy(model, x, y, batch=512):
    correct = 0
    with torch.no_grad():
        for b in range(0, len(y), batch):
            correct += (model(x[b:b + batch]).argmax(1) == y[b:b + batch]).sum().item()
    return correct / len(y)


def milestones(t, epochs):
    out = []
    for m in t.get("milestones", [75, 120, 170]):
        out.append(max(1, int(round(m * epochs))) if m < 1 else int(m))
    return out


def run_trial(cfg, f, data, engine):
    xtr, ytr, xte, yte = data
    t = cfg.get("training", {})
    epochs = t.get("epochs", 200)
    bs = t.get("batch_size", 128)
    model = Net(cfg.get("model", {}), f)
    opt = torch.optim.SGD(model.parameters(), lr=t.get("lr", 0.01),
                          momentum=t.get("momentum", 0.9), weight_decay=t.get("weight_decay", 0.0))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones(t, epochs), t.get("gamma", 0.1))
    hflip = t.get("augment", {}).get("hflip", True) if t.get("augment", True) else False
    vflip = t.get("augment", {}).get("vflip", True) if t.get("augment", True) else False
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr))
        for b in range(0, len(perm), bs):
            idx = perm[b:b + bs]
            if len(idx) < 2:
                continue
            x, y = xtr[idx], ytr[idx]
            if hflip:
                flip = torch.rand(len(idx)) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            if vflip:
                flip = torch.rand(len(idx)) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(2), x)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    acc_fp32 = accuracy(model, xte, yte)
    # Eager-mode post-training static quantization with the default observers.
    model.fuse_for_quantization()
    model.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    torch.ao.quantization.prepare(model, inplace=True)
    n_cal = cfg.get("quantization", {}).get("calibration_samples", 1024)
    cal = torch.randperm(len(ytr))[:n_cal]
    with torch.no_grad():
        for b in range(0, len(cal), 256):
            model(xtr[cal[b:b + 256]])
    torch.ao.quantization.convert(model, inplace=True)
    acc_q = accuracy(model, xte, yte)
    return acc_fp32, acc_q


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--candidates", required=True, help="`factorize-nas space --format json` output")
    p.add_argument("--jobs", type=int, default=os.cpu_count(), help="Optuna n_jobs")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--engine", default="qnnpack", help="quantized engine (default qconfig's)")
    args = p.parse_args()
    start = time.perf_counter()
    with open(args.config) as fh:
        cfg = yaml.safe_load(fh)
    with open(args.candidates) as fh:
        cands = json.load(fh)
    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = args.engine
    torch.manual_seed(cfg.get("seed", 42))
    data = load_data(cfg)
    by_name = {c["name"]: c for c in cands}
    names = [c["name"] for c in cands]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "maximize"])
    for n in names:
        study.enqueue_trial({"candidate": n})
    results = {}

    def objective(trial):
        name = trial.suggest_categorical("candidate", names)
        f = [int(v) for v in by_name[name]["factorization"].split(".")]
        t0 = time.perf_counter()
        acc_fp32, acc_q = run_trial(cfg, f, data, args.engine)
        results[name] = (acc_fp32, acc_q, time.perf_counter() - t0)
        return by_name[name]["macs_conv"], acc_q

    study.optimize(objective, n_trials=len(names), n_jobs=args.jobs)
    if sorted(results) != sorted(names):
        sys.exit("optuna_study: trained %s, expected each of %s once" % (sorted(results), names))
    wall = time.perf_counter() - start
    front = sorted(((t.params["candidate"], t.values[0], t.values[1]) for t in study.best_trials),
                   key=lambda r: r[1])
    print(json.dumps({
        "impl": "optuna+pytorch", "seconds": wall, "jobs": args.jobs, "threads": args.threads,
        "engine": args.engine, "train_images": len(data[1]), "test_images": len(data[3]),
        "trials": [{"candidate": n, "acc_fp32": a, "acc_quint8": q, "seconds": s}
                   for n, (a, q, s) in results.items()],
        "front": [{"candidate": n, "macs_conv": m, "acc_quint8": a} for n, m, a in front]}))


if __name__ == "__main__":
    main()
