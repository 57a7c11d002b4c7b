#!/usr/bin/python3
"""The PyTorch baseline of bench/train_throughput: the same network, batch,
augmentation and optimizer as factorize-nas (read from the spec JSON that
train_throughput_cpp writes), written the way a PyTorch user would: a Dataset
of PIL images, torchvision transforms, a DataLoader, torch.optim.SGD.

Measures images/s of full training epochs, images/s of the bare training step
on one batch held in memory, and peak resident memory. Prints one JSON object.
Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
"""
import argparse
import json
import os
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

from idx import idx_file, read_idx


class ImageDataset(Dataset):
    """Training images as uint8 arrays; items are (PIL image, label), like torchvision's MNIST."""

    def __init__(self, kind, directory, transform):
        if kind == "cifar10":
            raw = np.concatenate([
                np.fromfile(os.path.join(directory, "data_batch_%d.bin" % i), dtype=np.uint8)
                for i in range(1, 6)]).reshape(-1, 3073)
            self.labels = raw[:, 0].astype(np.int64)
            self.images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        else:
            self.images = read_idx(idx_file(directory, "train-images-idx3-ubyte"))
            self.labels = read_idx(idx_file(directory, "train-labels-idx1-ubyte")).astype(np.int64)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i])
        return self.transform(img), int(self.labels[i])


def build_model(spec):
    layers = []
    for op in spec["ops"]:
        if op["kind"] == "conv":
            layers += [nn.Conv2d(op["in"], op["out"], op["k"], padding=op["pad"],
                                 groups=op["groups"], bias=False),
                       nn.BatchNorm2d(op["out"], eps=spec["bn_eps"], momentum=spec["bn_momentum"])]
            if op["relu"]:
                layers.append(nn.ReLU(inplace=True))
        elif op["kind"] == "maxpool":
            layers.append(nn.MaxPool2d(op["k"]))
        elif op["kind"] == "flatten":
            layers.append(nn.Flatten())
        elif op["kind"] == "dense":
            layers.append(nn.Linear(op["in"], op["out"]))
            if op["relu"]:
                layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def build_transform(spec):
    a = spec["augment"]
    t = []
    if a["enabled"]:
        if a["shift"] > 0 or a["zoom"] > 0 or a["rotation"] > 0:
            t.append(transforms.RandomAffine(
                degrees=a["rotation"],
                translate=(a["shift"], a["shift"]) if a["shift"] > 0 else None,
                scale=(1 - a["zoom"], 1 + a["zoom"]) if a["zoom"] > 0 else None))
        if a["hflip"]:
            t.append(transforms.RandomHorizontalFlip())
        if a["vflip"]:
            t.append(transforms.RandomVerticalFlip())
    t += [transforms.ToTensor(), transforms.Normalize(spec["mean"], spec["std"])]
    return transforms.Compose(t)


def peak_rss_mb():
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kb + children_kb) / 1024.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = p.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    dataset = ImageDataset(spec["dataset"], spec["data_dir"], build_transform(spec))
    train = Subset(dataset, range(min(spec["images"], len(dataset))))
    loader = DataLoader(train, batch_size=spec["batch_size"], shuffle=True,
                        num_workers=args.workers)
    model = build_model(spec)
    opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"],
                          weight_decay=spec["weight_decay"])

    # Full epochs.
    best = 0.0
    model.train()
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        seen = correct = 0
        loss_sum = 0.0
        for x, y in loader:
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        best = max(best, seen / (time.perf_counter() - t0))

    # The bare step: one batch in memory.
    x, y = next(iter(loader))
    for g in opt.param_groups:
        g["lr"] = 1e-4

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(5):
        step()
    best_s = float("inf")  # best of 3 rounds (the machine may be shared)
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        best_s = min(best_s, time.perf_counter() - t0)
    step_ips = args.steps * len(y) / best_s

    print(json.dumps({"impl": "pytorch", "threads": torch.get_num_threads(),
                      "epoch_images_per_s": best, "step_images_per_s": step_ips,
                      "peak_rss_mb": peak_rss_mb(), "workers": args.workers}))


if __name__ == "__main__":
    main()
