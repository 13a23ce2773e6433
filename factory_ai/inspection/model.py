"""The classifier network: frozen Lite0 features -> supervised head + good-only patch anomaly map.

One `nn.Module` computes both scores from one feature map, so the run-time graph (exported to
ONNX Runtime, or run by torch) is a single pass:

    crop (B, 3, S, S) -> Lite0Features (B, C, S/16, S/16) -> standardize -> 3x3 mean
      -> head: 1x1 conv + ReLU, global max & mean pool, linear -> class logits (B, K)
      -> anomaly: distance of every cell to its nearest neighbour in a memory bank of cells
         from GOOD parts (PatchCore-style, coreset-subsampled) -> (B, h, w); smoothed and
         reduced to its maximum over the part's cells outside the graph (`smooth_and_reduce`)

The anomaly map needs no defect examples, so a flaw of a type nobody labelled still stands out;
its maximum is the image's anomaly score and, upsampled, the heatmap of where the flaw is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from factory_ai.inspection.backbone import EXPAND_TAPS, Lite0Features


@dataclass(frozen=True)
class NetConfig:
    """Architecture of `InspectionNet` (saved with the weights).

    Attributes:
        input_px: side of the square network input; crops are resized to it (px).
        tap: Lite0 block whose expanded activation is the feature map (see backbone.py).
        pool: side of the neighbourhood mean over feature cells (local context, PatchCore).
        smooth_sigma: Gaussian sigma (cells) applied to the anomaly map before its maximum
            (see `smooth_and_reduce`).
        memory_size: cells kept in the good-part memory bank (coreset size).
        head_channels: width of the supervised head.
        head_context: add a 3x3 convolution to the head (context across neighbouring cells).
        class_names: supervised classes; index 0 must be "ok".
        mask_background: score only the cells on the part (the bright blob around the crop
            centre, dilated): belt texture and neighbouring parts at the crop's corners are not
            flaws. For parts that contrast with the belt (the twin); off for images without a
            clear background (the casting photos).
        mask_dilate: dilation of the part mask as a share of the crop side (keeps chips,
            which remove material at the edge, inside the scored region).
        normalize_gain: scale each crop's intensities to a fixed level of its lit surface
            (exposure varies between frames; see `data.to_input`).
        proj_dim: the anomaly branch compares cells after a linear projection to this many
            dimensions (0 = the full embedding). The nearest-neighbour search dominates the
            run time (5 crops x 256 cells x 4096 memory cells x 240 channels), so a projection
            fitted at training time buys a larger memory bank within the latency budget.
    """

    input_px: int = 128
    tap: int = 8
    pool: int = 3
    smooth_sigma: float = 1.0
    memory_size: int = 4096
    head_channels: int = 64
    class_names: tuple[str, ...] = ("ok", "defect")
    mask_background: bool = False
    mask_dilate: float = 0.06
    normalize_gain: bool = False
    proj_dim: int = 0
    head_context: bool = False

    def __post_init__(self) -> None:
        if self.input_px < 32 or self.input_px % 16:
            msg = f"NetConfig.input_px must be a multiple of 16 and >= 32, got {self.input_px}"
            raise ValueError(msg)
        if self.tap not in EXPAND_TAPS:
            msg = f"NetConfig.tap must be one of {sorted(EXPAND_TAPS)}, got {self.tap}"
            raise ValueError(msg)
        if self.pool < 1 or self.pool % 2 == 0:
            msg = f"NetConfig.pool must be an odd number >= 1, got {self.pool}"
            raise ValueError(msg)
        if len(self.class_names) < 2 or self.class_names[0] != "ok":
            msg = f"NetConfig.class_names must start with 'ok' and hold >= 2 classes, got {self.class_names}"
            raise ValueError(msg)
        if self.memory_size < 1 or self.smooth_sigma < 0.0:
            msg = f"NetConfig.memory_size must be >= 1 and smooth_sigma >= 0, got {self.memory_size}, {self.smooth_sigma}"
            raise ValueError(msg)

    def to_dict(self) -> dict:
        """Plain dict (for the weights file)."""
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """Inverse of `to_dict`; unknown keys are an error (an incompatible file)."""
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            msg = f"unknown NetConfig fields {sorted(extra)}"
            raise ValueError(msg)
        d = dict(d)
        if "class_names" in d:
            d["class_names"] = tuple(d["class_names"])
        return cls(**d)


def smooth_and_reduce(amap: np.ndarray, masks: np.ndarray | None, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Masked Gaussian smoothing of raw anomaly maps and their maxima.

    Normalized convolution: smooth(d * m) / smooth(m), so cells off the part neither count nor
    dilute the part's cells near its edge; a real flaw covers neighbouring cells, a noisy cell
    does not, hence the smoothing before the maximum.

    Args:
        amap: (B, h, w) raw nearest-neighbour distances.
        masks: (B, h, w) bool cells on the part, or None (all cells).
        sigma: Gaussian sigma in cells (0 = no smoothing).

    Returns:
        smoothed maps (B, h, w) float32 (off-part cells set to the map's minimum on the part),
        image scores (B,) float64 = max over the part's cells.
    """
    amap = np.asarray(amap, dtype=np.float32)
    m = np.ones(amap.shape, dtype=np.float32) if masks is None else np.asarray(masks, dtype=np.float32)
    m[m.reshape(len(m), -1).sum(1) == 0] = 1.0  # an empty mask scores the whole crop
    out = np.empty_like(amap)
    for i in range(len(amap)):
        if sigma > 0:
            k = 2 * max(1, int(np.ceil(2.0 * sigma))) + 1
            num = cv2.GaussianBlur(amap[i] * m[i], (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
            den = cv2.GaussianBlur(m[i], (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
            sm = num / np.maximum(den, 1e-6)
        else:
            sm = amap[i].copy()
        on = m[i] > 0
        sm[~on] = sm[on].min()
        out[i] = sm
    scores = out.reshape(len(out), -1).max(axis=1).astype(np.float64) if len(out) else np.zeros(0)
    return out, scores


class InspectionNet(nn.Module):
    """Features + supervised head + memory-bank anomaly map (see the module docstring)."""

    def __init__(self, config: NetConfig, features: Lite0Features | None = None) -> None:
        super().__init__()
        self.config = config
        self.features = Lite0Features(config.tap) if features is None else features
        self.features.requires_grad_(False).eval()
        c = self.features.channels
        k = len(config.class_names)
        d = config.proj_dim if config.proj_dim > 0 else c
        self.register_buffer("feat_mean", torch.zeros(c))
        self.register_buffer("feat_scale", torch.ones(c))
        self.register_buffer("proj", torch.eye(c)[:, :d].clone())
        self.register_buffer("memory", torch.zeros(1, d))
        self.register_buffer("memory_sqnorm", torch.zeros(1))
        hc = config.head_channels
        layers: list[nn.Module] = [nn.Conv2d(c, hc, 1), nn.ReLU()]
        if config.head_context:
            # A 3x3 layer lets the head see a flaw's neighbourhood (a thin crack across cells).
            layers += [nn.Conv2d(hc, hc, 3, padding=1), nn.ReLU()]
        self.head_conv = nn.Sequential(*layers, nn.Dropout(0.1))
        self.head_fc = nn.Linear(2 * hc, k)

    # -- pieces (training uses them on cached embeddings) ---------------------------------------

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Standardized, neighbourhood-averaged features (B, C, h, w) of images (B, 3, S, S) in [0, 255]."""
        return self.embed_features(self.features(x))

    def embed_features(self, f: torch.Tensor) -> torch.Tensor:
        """`embed` from raw backbone features (B, C, h, w) (training caches those)."""
        f = (f - self.feat_mean[None, :, None, None]) / self.feat_scale[None, :, None, None]
        p = self.config.pool
        if p > 1:
            f = F.avg_pool2d(f, p, stride=1, padding=p // 2, count_include_pad=False)
        return f

    def head(self, e: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) from embeddings (B, C, h, w)."""
        h = self.head_conv(e)
        pooled = torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)
        return self.head_fc(pooled)

    def anomaly_cells(self, e: torch.Tensor) -> torch.Tensor:
        """Cells (B * h * w, D) in the memory bank's space for embeddings (B, C, h, w)."""
        b, c, h, w = e.shape
        q = e.permute(0, 2, 3, 1).reshape(b * h * w, c)
        return q @ self.proj if self.config.proj_dim > 0 else q

    def anomaly_map(self, e: torch.Tensor) -> torch.Tensor:
        """Nearest-neighbour distance to the good memory (B, h, w) for embeddings (B, C, h, w)."""
        b, _, h, w = e.shape
        q = self.anomaly_cells(e)
        d2 = (q * q).sum(1, keepdim=True) - 2.0 * (q @ self.memory.T) + self.memory_sqnorm[None, :]
        return d2.amin(dim=1).clamp_min(0.0).sqrt().reshape(b, h, w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class logits (B, K), raw anomaly map (B, h, w)) of images (B, 3, S, S) RGB in [0, 255]."""
        e = self.embed(x)
        return self.head(e), self.anomaly_map(e)

    # -- state ---------------------------------------------------------------------------------

    def set_memory(self, memory: torch.Tensor) -> None:
        """Replace the memory bank (M, C) of good-part cells."""
        memory = memory.detach().to(torch.float32).contiguous()
        self.memory = memory
        self.memory_sqnorm = (memory * memory).sum(1)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What training changes (head, standardization, memory): the frozen backbone stays out."""
        return {k: v.detach().clone() for k, v in self.state_dict().items() if not k.startswith("features.")}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of `trainable_state`; shapes must match the config (else ValueError)."""
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("features.") and k != "memory_sqnorm"}
        state = {k: v for k, v in state.items() if k != "memory_sqnorm"}  # recomputed from the memory
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            msg = f"state does not fit this network: missing {missing}, unexpected {extra}"
            raise ValueError(msg)
        for k, v in state.items():
            if k == "memory":
                continue
            if tuple(v.shape) != tuple(own[k].shape):
                msg = f"state tensor {k!r} has shape {tuple(v.shape)}, the network expects {tuple(own[k].shape)}"
                raise ValueError(msg)
        if state["memory"].ndim != 2 or state["memory"].shape[1] != self.memory.shape[1]:
            msg = f"memory bank must be (M, {self.memory.shape[1]}), got {tuple(state['memory'].shape)}"
            raise ValueError(msg)
        self.set_memory(state["memory"].float())
        rest = {k: v.float() for k, v in state.items() if k != "memory"}
        self.load_state_dict(rest, strict=False)
