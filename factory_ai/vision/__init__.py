"""Vision: parts in the overhead camera image -> tracked poses on the belt (base frame). OpenCV + numpy.

`PartTracker(cell).update(rgb, stamp_s)` is the entry point; `canonical_crop` makes the
classifier's input, the same function for training data and at run time.
"""

from factory_ai.vision.camera_model import BeltPlaneModel, project_base_to_pixels
from factory_ai.vision.crop import canonical_crop
from factory_ai.vision.detection import SYMMETRY_RAD, Detection, PartShape, SegmentationConfig
from factory_ai.vision.frame_check import BadFrameError, check_rgb_frame
from factory_ai.vision.tracker import PartTracker, TrackerConfig, reduce_yaw_rad

__all__ = [
    "SYMMETRY_RAD",
    "BadFrameError",
    "BeltPlaneModel",
    "Detection",
    "PartShape",
    "PartTracker",
    "SegmentationConfig",
    "TrackerConfig",
    "canonical_crop",
    "check_rgb_frame",
    "project_base_to_pixels",
    "reduce_yaw_rad",
]
