"""Choose the subnet catalogue, calibrate SubnetNorm and export every ONNX encoding.

Steps (progress printed):
  1. candidate pool: every "uniform" subnet (same depth and width index in all stages, at every
     resolution) plus seeded random ones, plus the smallest and largest;
  2. each candidate gets per-subnet BN statistics from `--calib` training images (SubnetNorm) and
     a top-1 on a held-in training slice (images 50,000-54,999, no augmentation). Test images are
     not used to choose the catalogue;
  3. the catalogue: the (MACs, slice top-1) Pareto front, thinned to at most `--max-subnets`
     spread evenly in log-MACs;
  4. graphs: supernet.onnx (SubNetAct), stages/*.onnx + head.onnx, static/<id>.onnx, and
     manifest.json without measured fields (`slackserve supernet evaluate` adds accuracy through
     onnxruntime, latency and the Pareto set).

Usage: /usr/bin/python3 supernets/train/export.py --checkpoint FILE --out DIR
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
from model import Arch, Subnet, Supernet, calibrate, largest, load_checkpoint, smallest  # noqa: E402
from onnx_graphs import (bn_scale_shift, head_graph, stage_graph, static_graph,  # noqa: E402
                         subnetact_graph)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def out_size(n: int, stride: int) -> int:
    return (n + 2 - 3) // stride + 1


def macs(arch: Arch, net: Subnet) -> int:
    r = net.resolution
    total = r * r * net.width[0] * 9
    cin, hw = net.width[0], r
    for s in range(arch.num_stages):
        w = net.width[s]
        for j in range(net.depth[s]):
            if j == 0:
                hw = out_size(hw, 2)
                total += hw * hw * w * cin * 9 + hw * hw * w * cin  # conv1 (strided) + projection
            else:
                total += hw * hw * w * w * 9
            total += hw * hw * w * w * 9  # conv2
            cin = w
    return total + cin * arch.num_classes


def params(arch: Arch, net: Subnet) -> int:
    total = net.width[0] * 9 + 2 * net.width[0]
    cin = net.width[0]
    for s in range(arch.num_stages):
        w = net.width[s]
        for j in range(net.depth[s]):
            total += w * cin * 9 + w * w * 9 + 4 * w + (w * cin + 2 * w if j == 0 else 0)
            cin = w
    return total + cin * arch.num_classes + arch.num_classes


def pool(arch: Arch, n_random: int, seed: int) -> list[Subnet]:
    nets = {largest(arch), smallest(arch)}
    for r in arch.resolutions:
        for di in range(len(arch.stage_depths[0])):
            for wi in range(len(arch.stage_widths[0])):
                nets.add(Subnet(r, tuple(d[di] for d in arch.stage_depths),
                                tuple(w[wi] for w in arch.stage_widths)))
    rng = random.Random(seed)
    target = len(nets) + n_random
    while len(nets) < target:
        nets.add(Subnet(rng.choice(arch.resolutions), tuple(rng.choice(d) for d in arch.stage_depths),
                        tuple(rng.choice(w) for w in arch.stage_widths)))
    return sorted(nets, key=lambda n: macs(arch, n))


@torch.no_grad()
def top1(model: Supernet, net: Subnet, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = 0
    for i in range(0, len(x), 1000):
        out, _ = model(x[i:i + 1000], net, with_ramps=False)
        correct += (out.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def pareto(points: list[tuple[float, float, Subnet]]) -> list[tuple[float, float, Subnet]]:
    """Points (cost, accuracy, net): keep those no cheaper-or-equal point beats on accuracy."""
    front, best = [], -1.0
    for cost, acc, net in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc, net))
            best = acc
    return front


def thin(front: list, k: int) -> list:
    """At most k points spread evenly in log cost; the cheapest and the dearest always stay."""
    if len(front) <= k:
        return front
    logs = [math.log(p[0]) for p in front]
    targets = [logs[0] + (logs[-1] - logs[0]) * i / (k - 1) for i in range(k)]
    chosen: list[int] = []
    for t in targets:
        best = min((i for i in range(len(front)) if i not in chosen), key=lambda i: abs(logs[i] - t))
        chosen.append(best)
    return [front[i] for i in sorted(chosen)]


def bn_tables(model: Supernet, weights: dict, catalogue: list, stats: dict) -> dict:
    """SubnetNorm tables: per BN layer, (scale[S, C], shift[S, C]) with row i for catalogue[i]
    (channels a subnet does not use, and layers it skips, hold scale 1 / shift 0)."""
    arch = model.arch
    tables = {}
    for bn in [n for n, _ in model.bns()]:
        c = weights[bn + ".weight"].shape[0]
        scale = np.ones((len(catalogue), c), np.float32)
        shift = np.zeros((len(catalogue), c), np.float32)
        for i, net in enumerate(catalogue):
            if bn in stats[net]:
                mean, var = stats[net][bn]  # only the channels this subnet uses
                u = len(mean)
                scale[i, :u], shift[i, :u] = bn_scale_shift(
                    weights[bn + ".weight"][:u], weights[bn + ".bias"][:u], mean, var, arch.bn_eps)
        tables[bn] = (scale, shift)
    return tables


def write_idx(path: Path, arr: np.ndarray) -> None:
    """IDX file (the dataset's own format), gzipped: magic 0x0000 08 <ndim>, big-endian dims."""
    import gzip
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@torch.no_grad()
def write_replay_set(out: Path) -> dict:
    """The whole test set, copied unchanged, for replay's served-accuracy figures (top-1 is measured on it)."""
    d = out / "sample"
    d.mkdir(parents=True, exist_ok=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(data.DATA_DIR / name, d / name)
    return {"images": "sample/t10k-images-idx3-ubyte.gz", "labels": "sample/t10k-labels-idx1-ubyte.gz",
            "doc": "the whole Fashion-MNIST test set (10,000 images, copied unchanged from Debian's dataset-fashion-mnist): "
                   "what `slackserve replay` sends and scores served accuracy against; the subnets' top1 figures were "
                   "measured on these same images, so live served accuracy and the simulator's agree (the 256-image "
                   "`sample` is kept for tests)"}


def write_sample(out: Path, model: Supernet, catalogue: list, stats_of: dict, xte_raw, yte_raw,
                 n: int, seed: int) -> dict:
    """A fixed, committed sample of test images with PyTorch's predictions for every subnet; the
    tests recompute them through onnxruntime. Margins (top-1 minus top-2 logit) let a test
    tell a genuine disagreement from a numerical near-tie."""
    idx = np.sort(np.random.default_rng(seed).choice(len(xte_raw), n, replace=False))
    d = out / "sample"
    d.mkdir(parents=True, exist_ok=True)
    write_idx(d / "images-idx3-ubyte.gz", xte_raw[idx])
    write_idx(d / "labels-idx1-ubyte.gz", yte_raw[idx])
    x = data.normalise(xte_raw[idx])
    expected = {"indices": idx.tolist(), "framework": f"torch {torch.__version__}", "subnets": {}}
    for net in catalogue:
        model.set_stats(stats_of[net])
        logits, ramps = model(x, net)
        model.set_stats(None)
        top2 = logits.topk(2, dim=1).values
        expected["subnets"][net.key] = {
            "predictions": logits.argmax(1).tolist(),
            "margins": [round(float(v), 6) for v in (top2[:, 0] - top2[:, 1])],
            "ramp_predictions": [r.argmax(1).tolist() for r in ramps],
        }
    (d / "expected.json").write_text(json.dumps(expected) + "\n")
    return {"images": "sample/images-idx3-ubyte.gz", "labels": "sample/labels-idx1-ubyte.gz",
            "expected": "sample/expected.json",
            "indices_doc": f"{n} test-set indices drawn with numpy default_rng({seed}), sorted; "
                           "expected.json lists them with PyTorch's predictions per subnet"}


def save(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--random", type=int, default=90, help="random candidates in the pool")
    ap.add_argument("--max-subnets", type=int, default=24)
    ap.add_argument("--calib", type=int, default=2000, help="training images for SubnetNorm")
    ap.add_argument("--slice", type=int, default=5000, help="training images 50000.. for selection")
    ap.add_argument("--sample", type=int, default=256, help="committed test sample size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    model = load_checkpoint(args.checkpoint)
    arch = model.arch
    ck = torch.load(args.checkpoint, map_location="cpu")
    cycles = ck.get("history", []) + [{"epochs": ck.get("epoch"), "args": ck.get("args")}]
    xtr_raw, ytr_raw = data.load("train")
    xtr = data.normalise(xtr_raw)
    ytr = torch.from_numpy(ytr_raw.astype("int64"))
    calib = xtr[: args.calib]
    xsl, ysl = xtr[50000:50000 + args.slice], ytr[50000:50000 + args.slice]

    cands = pool(arch, args.random, args.seed)
    print(f"[1/4] pool of {len(cands)} candidate subnets", flush=True)
    scored, stats_of = [], {}
    for i, net in enumerate(cands):
        st = calibrate(model, net, calib)
        model.set_stats(st)
        acc = top1(model, net, xsl, ysl)
        model.set_stats(None)
        stats_of[net] = st
        scored.append((float(macs(arch, net)), acc, net))
        if (i + 1) % 10 == 0 or i + 1 == len(cands):
            print(f"[2/4] scored {i + 1}/{len(cands)} candidates ({time.time() - t0:.0f}s)", flush=True)

    front = pareto(scored)
    catalogue = [p[2] for p in thin(front, args.max_subnets)]
    big, small = largest(arch), smallest(arch)
    for must in (small, big):  # the extremes are always served candidates
        if must not in catalogue:
            catalogue.append(must)
    catalogue.sort(key=lambda n: macs(arch, n))
    print(f"[3/4] catalogue: {len(catalogue)} subnets from a front of {len(front)}", flush=True)

    weights = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    stats = {net: {k: (m.numpy(), v.numpy()) for k, (m, v) in stats_of[net].items()} for net in catalogue}
    tables = bn_tables(model, weights, catalogue, stats)

    out = args.out
    for sub in ("stages", "static"):
        shutil.rmtree(out / sub, ignore_errors=True)
    save(subnetact_graph(arch, weights, tables), out / "supernet.onnx")
    stages = []
    for s in range(arch.num_stages):
        for j in range(arch.max_depth(s)):
            sid = f"s{s}b{j}"
            save(stage_graph(arch, weights, tables, s, j), out / "stages" / f"{sid}.onnx")
            first = s == 0 and j == 0
            stages.append({
                "id": sid, "file": f"stages/{sid}.onnx", "stage": s, "block": j,
                "hidden_input": "image" if first else "hidden",
                "control_inputs": ["subnet", "resolution", "width"] if first else ["subnet", "width"],
                "hidden_output": "hidden_out", "ramp_output": "ramp_logits",
            })
    save(head_graph(arch, weights, tables), out / "head.onnx")

    subnets = []
    xte_raw, yte_raw = data.load("t10k")
    xte, yte = data.normalise(xte_raw), torch.from_numpy(yte_raw.astype("int64"))
    for i, net in enumerate(catalogue):
        save(static_graph(arch, weights, stats[net], net), out / "static" / f"{net.key}.onnx")
        model.set_stats(stats_of[net])
        acc_torch = top1(model, net, xte, yte)
        model.set_stats(None)
        chain = [f"s{s}b{j}" for s in range(arch.num_stages) for j in range(net.depth[s])]
        subnets.append({
            "id": net.key, "index": i, "choices": net.as_dict(),
            "feeds": {
                "subnet": {"dtype": "int64", "dims": [1], "values": [i]},
                "resolution": {"dtype": "int64", "dims": [2], "values": [net.resolution] * 2},
                "depth": {"dtype": "int64", "dims": [arch.num_stages], "values": list(net.depth)},
                "width": {"dtype": "int64", "dims": [arch.num_stages], "values": list(net.width)},
            },
            "macs": macs(arch, net), "params": params(arch, net),
            "static_graph": f"static/{net.key}.onnx",
            "stages": chain,
            "selection_top1_train_slice": next(p[1] for p in scored if p[2] == net),
            "top1_torch": acc_torch,
        })
    print(f"[4/4] exported {len(subnets)} static graphs, {len(stages)} stage graphs ({time.time() - t0:.0f}s)",
          flush=True)

    manifest = {
        "format": "slackserve-supernet/1",
        "name": out.name,
        "description": "Residual CNN supernet for Fashion-MNIST with elastic input resolution, "
                       "depth per stage and width per stage, and an early-exit ramp after every block.",
        "dataset": {
            "name": "Fashion-MNIST", "classes": CLASSES,
            "source": "Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
            "license": "MIT", "citation": "Xiao, Rasul, Vollgraf, arXiv:1708.07747 (2017)",
            "train_images": 60000, "test_images": 10000,
        },
        "input": {
            "name": "image", "dtype": "float32", "layout": "NCHW", "shape": [-1, 1, 28, 28],
            "preprocessing": {"scale": 1 / 255, "mean": data.MEAN, "std": data.STD,
                              "formula": "(pixel * scale - mean) / std, pixel in 0..255"},
        },
        "output": {"name": "logits", "dtype": "float32", "shape": [-1, arch.num_classes]},
        "controls": [
            {"name": "subnet", "dtype": "int64", "dims": [1],
             "doc": "SubnetNorm: the subnet's row in every per-subnet BN table (its `index`)"},
            {"name": "resolution", "dtype": "int64", "dims": [2],
             "doc": "elastic resolution: the image is resized (bilinear, half-pixel) to this height, width"},
            {"name": "depth", "dtype": "int64", "dims": [arch.num_stages],
             "doc": "LayerSelect: blocks run per stage (whole-graph encoding only)"},
            {"name": "width", "dtype": "int64", "dims": [arch.num_stages],
             "doc": "WeightSlice: channels used by every layer of each stage"},
        ],
        "architecture": {
            "resolutions": arch.resolutions, "stage_widths": arch.stage_widths,
            "stage_depths": arch.stage_depths, "num_classes": arch.num_classes,
            "block": "basic residual (3x3 conv-BN-ReLU, 3x3 conv-BN, + shortcut, ReLU); the first "
                     "block of every stage has stride 2 and a 1x1 projection shortcut",
            "ramp": "global average pool + linear, after every block, trained on detached features",
        },
        "graphs": {
            "supernet": {"file": "supernet.onnx",
                         "inputs": ["image", "subnet", "resolution", "depth", "width"],
                         "output": "logits"},
            "stages": stages,
            "head": {"file": "head.onnx", "hidden_input": "hidden", "control_inputs": ["width"],
                     "output": "logits"},
            "staging": "Run a subnet's `stages` in order: the first takes `image`, each later one "
                       "takes the previous `hidden_out` as `hidden`; every stage also returns its "
                       "ramp's `ramp_logits`; `head.onnx` turns the last `hidden_out` into logits. "
                       "Each graph takes only the control inputs it lists, from the subnet's feeds.",
        },
        "training": {
            "recipe": "sandwich rule (largest on labels; smallest + `random` sampled subnets "
                      "distilled in place from the largest's soft labels), SGD nesterov, cosine "
                      "schedule per cycle, random crop (pad 2) + horizontal flip; ramps on detached "
                      "features",
            "cycles": [{"epochs": c["epochs"],
                        "args": {k: v for k, v in (c["args"] or {}).items() if k not in ("out", "init")}}
                       for c in cycles],
            "checkpoint": "checkpoint/supernet.pt",
            "subnet_norm": f"exact BN population statistics of each subnet over the first "
                           f"{args.calib} training images",
            "catalogue_selection": f"Pareto front of (MACs, top-1 on training images 50000-{50000 + args.slice - 1}) over "
                                   f"a pool of {len(cands)} candidates, thinned in log-MACs",
        },
        "subnets": subnets,
        "pareto": None,
        "sample": write_sample(out, model, catalogue, stats_of, xte_raw, yte_raw, args.sample, args.seed),
        "replay_set": write_replay_set(out),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {out / 'manifest.json'} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
