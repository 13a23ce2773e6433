"""factory_ai: adaptive pick-and-reject for robot arms over a conveyor."""

import sys
from pathlib import Path

__version__ = "0.1.0"


def package_root() -> Path:
    """Directory holding urdf/, config/ and launch/ (the repo root or the ROS share dir)."""
    here = Path(__file__).resolve().parent
    # a source checkout or editable install; a plain `pip install` (data_files under the prefix)
    for candidate in (here.parent, Path(sys.prefix) / "share" / "factory_ai"):
        if (candidate / "config" / "cell.yaml").is_file():
            return candidate
    try:  # installed by colcon: data files live in the ament share directory
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("factory_ai"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not found" here
        msg = f"cannot find factory_ai's config/ and urdf/ next to {here} or in an ament index"
        raise FileNotFoundError(msg) from exc
