"""Run a torch module fast on a few CPU cores: exported once to ONNX Runtime, torch as fallback.

Measured on the 2-core target: the truncated Lite0 on 5 crops of 128 px takes 2.6-4.5 ms in
ONNX Runtime against 18-28 ms in eager torch (depthwise convolutions are slow in eager mode),
so the real-time path exports the whole network (features, head, memory-bank distances) into
one ONNX graph when the classifier is loaded. The export is in memory; nothing is written.
"""

from __future__ import annotations

import io
import logging
import os
import warnings

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2


def _threads() -> int:
    return max(1, int(os.environ.get("FACTORY_AI_THREADS", DEFAULT_THREADS)))


class ModuleRunner:
    """Callable over float32 arrays (B, 3, S, S) that returns the module's outputs as numpy arrays.

    Args:
        module: torch module with one tensor input; outputs a tensor or a tuple of tensors.
        input_px: side S of the square input the graph is exported for (batch size is dynamic).
        backend: "auto" (ONNX Runtime if importable, else torch), "onnxruntime" or "torch".
    """

    def __init__(self, module: nn.Module, input_px: int, backend: str = "auto") -> None:
        if backend not in ("auto", "onnxruntime", "torch"):
            msg = f"backend must be 'auto', 'onnxruntime' or 'torch', got {backend!r}"
            raise ValueError(msg)
        self.module = module.eval()
        self.input_px = int(input_px)
        self._session = None
        self.backend = "torch"
        if backend in ("auto", "onnxruntime"):
            try:
                self._session = self._export(module, self.input_px)
                self.backend = "onnxruntime"
            except Exception as exc:  # an optional accelerator: fall back, loudly
                if backend == "onnxruntime":
                    raise
                log.warning("ONNX Runtime unavailable (%s); running the classifier in torch (slower)", exc)

    @staticmethod
    def _export(module: nn.Module, input_px: int):
        import onnxruntime as ort

        buf = io.BytesIO()
        dummy = torch.zeros(2, 3, input_px, input_px)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (dummy,), buf, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs of the module for a batch (B, 3, S, S) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._session is not None:
            return self._session.run(None, {"x": x})
        torch.set_num_threads(_threads())
        with torch.inference_mode():
            out = self.module(torch.from_numpy(x))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return [o.numpy() for o in out]
