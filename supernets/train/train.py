"""Train the Fashion-MNIST supernet with the sandwich rule and in-place distillation.

Each step trains the largest subnet on the labels, then the smallest and `--random` sampled
subnets on the largest's (detached) soft predictions. Ramps after every block learn from detached
features with the labels. Usage: /usr/bin/python3 supernets/train/train.py --out DIR
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from data import augment, load, normalise  # noqa: E402
from model import Arch, Supernet, calibrate, largest, sample, smallest  # noqa: E402


def evaluate(model: Supernet, net, calib: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    model.set_stats(calibrate(model, net, calib))
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            out, _ = model(x[i:i + 1000], net, with_ramps=False)
            correct += (out.argmax(1) == y[i:i + 1000]).sum().item()
    model.set_stats(None)
    return correct / len(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.15)
    ap.add_argument("--wd", type=float, default=5e-5)
    ap.add_argument("--random", type=int, default=2, help="random subnets per step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's weights (a further cosine cycle)")
    ap.add_argument("--warmup", type=int, default=300, help="linear warm-up steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    arch = Arch.load()
    xtr_raw, ytr_raw = load("train")
    xte_raw, yte_raw = load("t10k")
    if args.limit:
        xtr_raw, ytr_raw = xtr_raw[: args.limit], ytr_raw[: args.limit]
    xtr, ytr = normalise(xtr_raw), torch.from_numpy(ytr_raw.astype("int64"))
    xte, yte = normalise(xte_raw), torch.from_numpy(yte_raw.astype("int64"))
    calib = xtr[:2000]

    model = Supernet(arch)
    history = []
    if args.init is not None:
        ck = torch.load(args.init, map_location="cpu")
        model.load_state_dict(ck["state"])
        history = ck.get("history", []) + [{"epochs": ck.get("epoch"), "args": ck.get("args")}]
        print(f"starting from {args.init} ({len(history)} earlier run(s))", flush=True)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.wd},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    total = steps_per_epoch * args.epochs
    warmup = min(args.warmup, total // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    big, small = largest(arch), smallest(arch)
    print(f"supernet: {sum(p.numel() for p in model.parameters())} parameters, "
          f"{args.epochs} epochs x {steps_per_epoch} steps", flush=True)
    step, t_start = 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        run_loss, run_n = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            x, y = augment(xtr[idx], gen), ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            out, ramps = model(x, big)
            loss = F.cross_entropy(out, y) + sum(F.cross_entropy(r, y) for r in ramps)
            loss.backward()
            teacher = F.softmax(out.detach(), 1)
            for net in [small] + [sample(arch, rng) for _ in range(args.random)]:
                o, rs = model(x, net)
                sub = F.kl_div(F.log_softmax(o, 1), teacher, reduction="batchmean")
                sub = sub + sum(F.cross_entropy(r, y) for r in rs)
                sub.backward()
            opt.step()
            run_loss += loss.item()
            run_n += 1
            step += 1
            if step % 50 == 0 or i == steps_per_epoch - 1:
                el = time.time() - t_start
                eta = el / step * (total - step)
                print(f"epoch {epoch + 1}/{args.epochs} step {i + 1}/{steps_per_epoch} "
                      f"loss {run_loss / run_n:.4f} lr {lr_at(step):.4f} "
                      f"elapsed {el / 60:.1f}m eta {eta / 60:.1f}m", flush=True)
        acc_big = evaluate(model, big, calib, xte, yte)
        acc_small = evaluate(model, small, calib, xte, yte)
        print(f"epoch {epoch + 1}: test top-1 largest {acc_big:.4f} smallest {acc_small:.4f}",
              flush=True)
        torch.save({"arch": asdict(arch), "state": model.state_dict(), "epoch": epoch + 1,
                    "args": {k: str(v) for k, v in vars(args).items()}, "history": history},
                   args.out / "supernet.pt")
    print(f"done in {(time.time() - t_start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
