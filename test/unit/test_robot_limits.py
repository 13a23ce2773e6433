"""Joint limits: URDF position/velocity merged with config/joint_limits.yaml acceleration/jerk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from robot_helpers import ARM_URDF

from factory_ai.robot import JointLimits, JointLimitsError, RobotModel, load_joint_limits

SHIPPED_YAML = Path(__file__).resolve().parents[2] / "config" / "joint_limits.yaml"


@pytest.fixture(scope="module")
def arm() -> RobotModel:
    return RobotModel.from_urdf(ARM_URDF)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "joint_limits.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _shipped() -> dict:
    return yaml.safe_load(SHIPPED_YAML.read_text())


def test_shipped_limits_merge_urdf_and_yaml(arm: RobotModel) -> None:
    limits = load_joint_limits(arm, SHIPPED_YAML)
    assert limits.names == arm.joint_names
    np.testing.assert_array_equal(limits.q_min, arm.q_min_rad)
    np.testing.assert_array_equal(limits.q_max, arm.q_max_rad)
    np.testing.assert_allclose(limits.v_max, 3.14159)
    np.testing.assert_allclose(limits.a_max, [10, 10, 10, 15, 15, 15])
    np.testing.assert_allclose(limits.j_max, [100, 100, 100, 150, 150, 150])
    np.testing.assert_allclose(limits.effort_max, [150, 150, 150, 28, 28, 28])
    # The other call forms give the same numbers: YAML path only, or nothing (shipped arm).
    for other in (load_joint_limits(SHIPPED_YAML), load_joint_limits(), load_joint_limits(ARM_URDF)):
        np.testing.assert_array_equal(other.a_max, limits.a_max)
        assert other.names == limits.names


def test_yaml_can_tighten_but_not_loosen(arm: RobotModel, tmp_path: Path, caplog) -> None:
    data = _shipped()
    data["joint_limits"]["elbow_joint"].update(
        {"max_velocity": 1.0, "has_position_limits": True, "min_position": -1.0, "max_position": 1.5}
    )
    data["joint_limits"]["wrist_1_joint"]["max_velocity"] = 9.0
    limits = load_joint_limits(arm, _write(tmp_path, data))
    i, k = limits.index(["elbow_joint", "wrist_1_joint"])
    assert limits.v_max[i] == 1.0 and (limits.q_min[i], limits.q_max[i]) == (-1.0, 1.5)
    assert limits.v_max[k] == pytest.approx(3.14159)
    assert "wrist_1_joint.max_velocity 9 exceeds the URDF" in caplog.text


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["joint_limits"].pop("elbow_joint"), "joint_limits.elbow_joint is missing"),
        (
            lambda d: d["joint_limits"]["wrist_2_joint"].pop("max_jerk"),
            "joint_limits.wrist_2_joint.max_jerk is missing",
        ),
        (
            lambda d: d["joint_limits"]["wrist_3_joint"].update(max_acceleration=-1),
            "wrist_3_joint.max_acceleration must be a positive",
        ),
        (
            lambda d: d["joint_limits"]["shoulder_pan_joint"].update(has_acceleration_limits=False),
            "shoulder_pan_joint needs has_acceleration_limits",
        ),
        (
            lambda d: d["joint_limits"].update(elbow_jiont={"max_velocity": 1.0}),
            "joint_limits.elbow_jiont is not a joint of the arm",
        ),
        (lambda d: d.pop("joint_limits"), "joint_limits is missing"),
    ],
)
def test_bad_yaml_names_the_joint_and_key(arm: RobotModel, tmp_path: Path, edit, needle: str) -> None:
    data = _shipped()
    edit(data)
    with pytest.raises(JointLimitsError, match=needle):
        load_joint_limits(arm, _write(tmp_path, data))


def test_unreadable_yaml_is_reported(arm: RobotModel, tmp_path: Path) -> None:
    bad = tmp_path / "joint_limits.yaml"
    bad.write_text("joint_limits: [unclosed\n")
    with pytest.raises(JointLimitsError, match="not valid YAML"):
        load_joint_limits(arm, bad)
    with pytest.raises(JointLimitsError, match="cannot read joint limits"):
        load_joint_limits(arm, tmp_path / "absent.yaml")


def test_joint_limits_validate_their_arrays() -> None:
    with pytest.raises(ValueError, match="JointLimits.a_max must be > 0"):
        JointLimits(("a",), np.array([-1.0]), np.array([1.0]), np.array([1.0]), np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"JointLimits.v_max must have shape \(1,\)"):
        JointLimits(("a",), np.array([-1.0]), np.array([1.0]), np.array([1.0, 2.0]), np.array([1.0]), np.array([1.0]))
