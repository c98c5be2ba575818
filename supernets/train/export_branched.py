"""Write supernet-branched.onnx and stages-branched/ (the width-branch SubNetAct encoding, see
onnx_branched.py) and their `graphs.branched` manifest entry for
an already exported supernet directory: the catalogue comes from its manifest.json, SubnetNorm
statistics are recomputed from the checkpoint exactly as export.py computes them.

Usage: /usr/bin/python3 supernets/train/export_branched.py --dir supernets/fmnist-resnet
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
from export import bn_tables, save  # noqa: E402
from model import Subnet, calibrate, load_checkpoint  # noqa: E402
from onnx_branched import branched_graph, branched_stage_graph  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fold-below-params", type=int, default=200_000,
                    help="served (Pareto) subnets with at most this many parameters get their own "
                         "folded static leaf (0 = none)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    manifest = json.loads((args.dir / "manifest.json").read_text())
    model = load_checkpoint(args.dir / manifest["training"]["checkpoint"])
    calib_n = int(manifest["training"]["subnet_norm"].split("first ")[1].split(" ")[0])
    calib = data.normalise(data.load("train")[0][:calib_n])
    catalogue = [Subnet.from_dict(s["choices"]) for s in manifest["subnets"]]
    stats = {}
    for i, net in enumerate(catalogue):
        stats[net] = {k: (m.numpy(), v.numpy()) for k, (m, v) in calibrate(model, net, calib).items()}
        print(f"calibrated {i + 1}/{len(catalogue)} {net.key}", flush=True)
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    tables = bn_tables(model, weights, catalogue, stats)
    arch = model.arch
    pareto = set(manifest.get("pareto") or [])
    folded = [i for i, s in enumerate(manifest["subnets"])
              if s["id"] in pareto and s["params"] <= args.fold_below_params]
    print(f"folded leaves for {len(folded)} served subnets: {[manifest['subnets'][i]['id'] for i in folded]}", flush=True)
    save(branched_graph(arch, weights, tables, catalogue, folded), args.dir / "supernet-branched.onnx")
    stages = {}
    for st in manifest["graphs"]["stages"]:
        rel = f"stages-branched/{st['id']}.onnx"
        save(branched_stage_graph(arch, weights, tables, catalogue, st["stage"], st["block"], folded), args.dir / rel)
        stages[st["id"]] = rel
    manifest["graphs"]["branched"] = {
        "supernet": {**manifest["graphs"]["supernet"], "file": "supernet-branched.onnx"},
        "stages": stages,
        "folded": [manifest["subnets"][i]["id"] for i in folded],
        "doc": "The same subnets, controls, inputs and outputs as `supernet` and `stages`, encoded with "
               "constant pre-sliced weights per width choice selected by If chains on `width` "
               "(WeightSlice at export time), so onnxruntime pre-packs them and uses NCHWc kernels. "
               "The `folded` subnets (small served ones) run their own leaf with SubnetNorm folded "
               "into constant weights, as in their static graphs.",
    }
    (args.dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote supernet-branched.onnx, {len(stages)} stage graphs and the manifest entry", flush=True)


if __name__ == "__main__":
    main()
