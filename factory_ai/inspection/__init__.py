"""Inspection: the torch defect classifier (supervised + good-only anomaly score, calibrated).

`DefectClassifier.load()` gives the shipped model (trained on twin renderings only);
`classify(crops, track_ids, stamp_s)` returns one `DefectVerdict` per crop.
"""

from factory_ai.inspection.classifier import DEFAULT_WEIGHTS, DefectClassifier, RawScores, WeightsError
from factory_ai.inspection.data import BadImageError

__all__ = ["DEFAULT_WEIGHTS", "BadImageError", "DefectClassifier", "RawScores", "WeightsError"]
