"""Weight-shared residual CNN supernet for Fashion-MNIST (SubNetAct-style elastic dimensions).

Elastic dimensions (a subnet picks one value of each):
  * input resolution  -- the 28x28 image is resized (bilinear, half-pixel) to r x r
  * depth per stage   -- LayerSelect: only the first d[s] blocks of stage s run
  * width per stage   -- WeightSlice: every conv of stage s uses its first w[s] channels
Per-subnet batch-norm statistics (SubnetNorm) are computed after training by `calibrate`.

Every block is followed by an early-exit ramp (global average pool + linear) that is trained on
detached features, so ramps never pull the backbone towards themselves.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCH_FILE = Path(__file__).with_name("arch.json")


@dataclass(frozen=True)
class Arch:
    resolutions: list[int]
    stage_widths: list[list[int]]  # per stage: allowed widths, ascending; last is the maximum
    stage_depths: list[list[int]]  # per stage: allowed depths, ascending; last is the maximum
    num_classes: int = 10
    bn_eps: float = 1e-5

    @staticmethod
    def load(path: Path = ARCH_FILE) -> "Arch":
        return Arch(**json.loads(path.read_text()))

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    def max_width(self, s: int) -> int:
        return self.stage_widths[s][-1]

    def max_depth(self, s: int) -> int:
        return self.stage_depths[s][-1]


@dataclass(frozen=True)
class Subnet:
    resolution: int
    depth: tuple[int, ...]
    width: tuple[int, ...]

    @property
    def key(self) -> str:
        d = "".join(str(x) for x in self.depth)
        w = "-".join(str(x) for x in self.width)
        return f"r{self.resolution}_d{d}_w{w}"

    def as_dict(self) -> dict:
        return {"resolution": self.resolution, "depth": list(self.depth), "width": list(self.width)}

    @staticmethod
    def from_dict(d: dict) -> "Subnet":
        return Subnet(int(d["resolution"]), tuple(d["depth"]), tuple(d["width"]))


def largest(arch: Arch) -> Subnet:
    return Subnet(max(arch.resolutions), tuple(d[-1] for d in arch.stage_depths),
                  tuple(w[-1] for w in arch.stage_widths))


def smallest(arch: Arch) -> Subnet:
    return Subnet(min(arch.resolutions), tuple(d[0] for d in arch.stage_depths),
                  tuple(w[0] for w in arch.stage_widths))


def sample(arch: Arch, rng: random.Random) -> Subnet:
    return Subnet(rng.choice(arch.resolutions),
                  tuple(rng.choice(d) for d in arch.stage_depths),
                  tuple(rng.choice(w) for w in arch.stage_widths))


class ElasticBN(nn.Module):
    """Shared affine parameters; statistics are batch statistics while training and per-subnet
    tables (SubnetNorm) at evaluation. In `collect` mode it accumulates exact population moments."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None  # (mean, var) for eval
        self.collect = False
        self._sum = self._sqsum = None
        self._count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        w, b = self.weight[:c], self.bias[:c]
        if self.collect:
            dims = (0, 2, 3)
            n = x.shape[0] * x.shape[2] * x.shape[3]
            s, sq = x.sum(dims).double(), (x * x).sum(dims).double()
            self._sum = s if self._sum is None else self._sum + s
            self._sqsum = sq if self._sqsum is None else self._sqsum + sq
            self._count += n
        if self.training or self.collect or self.stats is None:
            return F.batch_norm(x, None, None, w, b, training=True, eps=self.eps)
        mean, var = self.stats
        return F.batch_norm(x, mean[:c], var[:c], w, b, training=False, eps=self.eps)

    def start_collect(self) -> None:
        self.collect, self._sum, self._sqsum, self._count = True, None, None, 0

    def finish_collect(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self._sum / self._count
        var = (self._sqsum / self._count - mean * mean).clamp_min(0)
        self.collect = False
        return mean.float(), var.float()


class Block(nn.Module):
    """Basic residual block. The first block of every stage halves the resolution and has a
    1x1 strided projection shortcut; the others use the identity."""

    def __init__(self, cin: int, cout: int, stride: int, eps: float):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bn1 = ElasticBN(cout, eps)
        self.conv2 = nn.Parameter(torch.empty(cout, cout, 3, 3))
        self.bn2 = ElasticBN(cout, eps)
        self.proj = nn.Parameter(torch.empty(cout, cin, 1, 1)) if stride != 1 else None
        self.bnp = ElasticBN(cout, eps) if stride != 1 else None
        for p in (self.conv1, self.conv2, self.proj):
            if p is not None:
                nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.bn2.weight)  # residual branch starts as identity

    def forward(self, x: torch.Tensor, width: int) -> torch.Tensor:
        cin = x.shape[1]
        h = F.conv2d(x, self.conv1[:width, :cin], stride=self.stride, padding=1)
        h = F.relu(self.bn1(h))
        h = self.bn2(F.conv2d(h, self.conv2[:width, :width], padding=1))
        if self.proj is not None:
            sc = self.bnp(F.conv2d(x, self.proj[:width, :cin], stride=self.stride))
        else:
            sc = x
        return F.relu(h + sc)


class Ramp(nn.Module):
    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.fc = nn.Linear(channels, classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        c = h.shape[1]
        return F.linear(h.mean((2, 3)), self.fc.weight[:, :c], self.fc.bias)


class Supernet(nn.Module):
    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        w0 = arch.max_width(0)
        self.stem = nn.Parameter(torch.empty(w0, 1, 3, 3))
        nn.init.kaiming_normal_(self.stem, mode="fan_out", nonlinearity="relu")
        self.stem_bn = ElasticBN(w0, arch.bn_eps)
        self.stages = nn.ModuleList()
        self.ramps = nn.ModuleList()
        cin = w0
        for s in range(arch.num_stages):
            cout = arch.max_width(s)
            blocks = [Block(cin if j == 0 else cout, cout, 2 if j == 0 else 1, arch.bn_eps)
                      for j in range(arch.max_depth(s))]
            self.stages.append(nn.ModuleList(blocks))
            self.ramps.append(nn.ModuleList(Ramp(cout, arch.num_classes)
                                            for _ in range(arch.max_depth(s))))
            cin = cout
        self.head = nn.Linear(cin, arch.num_classes)

    def forward(self, x: torch.Tensor, net: Subnet, with_ramps: bool = True):
        """x: [N,1,28,28] normalised. Returns (final logits, [ramp logits per active block])."""
        if x.shape[-1] != net.resolution:
            x = F.interpolate(x, size=(net.resolution, net.resolution), mode="bilinear",
                              align_corners=False)
        h = F.relu(self.stem_bn(F.conv2d(x, self.stem[: net.width[0]], padding=1)))
        ramps = []
        for s, blocks in enumerate(self.stages):
            for j in range(net.depth[s]):
                h = blocks[j](h, net.width[s])
                if with_ramps:
                    ramps.append(self.ramps[s][j](h.detach()))
        c = h.shape[1]
        logits = F.linear(h.mean((2, 3)), self.head.weight[:, :c], self.head.bias)
        return logits, ramps

    def bns(self) -> list[tuple[str, ElasticBN]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, ElasticBN)]

    def set_stats(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None) -> None:
        for name, bn in self.bns():
            bn.stats = None if stats is None else stats.get(name)


@torch.no_grad()
def calibrate(model: Supernet, net: Subnet, images: torch.Tensor, batch: int = 500):
    """SubnetNorm: exact per-subnet BN population statistics over `images`. Only the BN layers
    the subnet uses get statistics; the returned dict maps BN module name -> (mean, var)."""
    model.eval()
    bns = model.bns()
    for _, bn in bns:
        bn.start_collect()
    for i in range(0, len(images), batch):
        model(images[i:i + batch], net, with_ramps=False)
    out = {}
    for name, bn in bns:
        if bn._count > 0:
            out[name] = bn.finish_collect()
        bn.collect = False
    return out


def load_checkpoint(path: Path) -> Supernet:
    ck = torch.load(path, map_location="cpu")
    model = Supernet(Arch(**ck["arch"]))
    model.load_state_dict(ck["state"])
    model.eval()
    return model
