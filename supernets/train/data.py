"""Fashion-MNIST from Debian's `dataset-fashion-mnist` (official 60k/10k split, MIT licence)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

DATA_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
# Preprocessing shared with the ONNX graphs and the manifest: x = (pixel / 255 - MEAN) / STD.
MEAN, STD = 0.2860, 0.3530


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images [N,28,28] and labels [N] for split 'train' or 't10k'."""
    x = _idx(DATA_DIR / f"{split}-images-idx3-ubyte.gz")
    y = _idx(DATA_DIR / f"{split}-labels-idx1-ubyte.gz")
    return x, y


def normalise(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(x.astype(np.float32) / 255.0)
    return ((t - MEAN) / STD).unsqueeze(1)


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random crop (zero-padded by `pad`, in normalised space padded with the background value)
    and random horizontal flip, per sample."""
    n, _, h, w = x.shape
    bg = (0.0 - MEAN) / STD
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=bg)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # [n,h]
    cols = (dx[:, None] + torch.arange(w)[None, :])  # [n,w]
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n)[:, None, None]
    out = xp[idx_n, 0, rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1)
