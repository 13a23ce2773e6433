"""RobotModel: URDF loading (ours, a 7-DOF arm, a vendor-style URDF), FK against MuJoCo,
Jacobians against finite differences, batched torch and numpy paths against single FK."""

from __future__ import annotations

import math
import sys

import mujoco
import numpy as np
import pytest
import torch
from robot_helpers import ARM_URDF, SEVEN_DOF_BASE, SEVEN_DOF_JOINTS, SEVEN_DOF_TIP, seven_dof_urdf, vendor_style_urdf
from scipy.spatial.transform import Rotation

from factory_ai.geometry import T_inv
from factory_ai.robot import RobotModel, UrdfError

ARM_JOINTS = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)


@pytest.fixture(scope="module")
def arm() -> RobotModel:
    return RobotModel.from_urdf(ARM_URDF)


@pytest.fixture(scope="module")
def arm7() -> RobotModel:
    return RobotModel.from_urdf(seven_dof_urdf(), base_frame=SEVEN_DOF_BASE, tip_frame=SEVEN_DOF_TIP)


def _rot_angle(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angle (rad) between rotation matrices (..., 3, 3)."""
    return Rotation.from_matrix(np.swapaxes(Ra, -1, -2) @ Rb).magnitude()


def test_arm_joints_and_limits_come_from_the_urdf(arm: RobotModel) -> None:
    assert arm.joint_names == ARM_JOINTS
    assert arm.n_joints == 6
    np.testing.assert_allclose(arm.q_max_rad, [6.283185, 6.283185, 3.141593, 6.283185, 6.283185, 6.283185])
    np.testing.assert_allclose(arm.q_min_rad, -arm.q_max_rad)
    np.testing.assert_allclose(arm.v_max_radps, 3.14159)
    np.testing.assert_allclose(arm.effort_max, [150, 150, 150, 28, 28, 28])
    for frame in ("world", "base_link", "tool0", "suction_cup"):
        assert frame in arm.frame_names


def test_core_imports_neither_ros_nor_mujoco() -> None:
    import subprocess

    code = (
        "import sys, factory_ai.robot as r; m = r.RobotModel.from_urdf(r'%s'); m.ik(m.fk([0.1] * 6));"
        "print(sorted(k for k in ('rclpy', 'mujoco', 'torch') if k in sys.modules))" % ARM_URDF
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # torch only loads for the batched torch calls


def test_fk_of_tool0_agrees_with_mujoco_on_1000_configurations(arm: RobotModel) -> None:
    mj = mujoco.MjModel.from_xml_path(str(ARM_URDF))
    data = mujoco.MjData(mj)
    adr = [mj.jnt_qposadr[mj.joint(name).id] for name in arm.joint_names]
    base, tool = mj.body("base_link").id, mj.body("tool0").id
    q = arm.random_q(1000, rng=7)
    p_err, r_err = [], []
    for qi in q:
        data.qpos[adr] = qi
        mujoco.mj_kinematics(mj, data)
        T_w_base, T_w_tool = np.eye(4), np.eye(4)
        T_w_base[:3, :3], T_w_base[:3, 3] = data.xmat[base].reshape(3, 3), data.xpos[base]
        T_w_tool[:3, :3], T_w_tool[:3, 3] = data.xmat[tool].reshape(3, 3), data.xpos[tool]
        T_mj = T_inv(T_w_base) @ T_w_tool
        T = arm.fk(qi, "tool0")
        p_err.append(np.linalg.norm(T[:3, 3] - T_mj[:3, 3]))
        r_err.append(_rot_angle(T[:3, :3], T_mj[:3, :3]))
    assert max(p_err) <= 1e-6
    assert max(r_err) <= 1e-6


def _fd_jacobian(fk, q: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences: linear rows from positions, angular rows from log(R+ R-^T)."""
    J = np.zeros((6, q.size))
    for i in range(q.size):
        dq = np.zeros(q.size)
        dq[i] = h
        Tp, Tm = fk(q + dq), fk(q - dq)
        J[:3, i] = (Tp[:3, 3] - Tm[:3, 3]) / (2 * h)
        J[3:, i] = Rotation.from_matrix(Tp[:3, :3] @ Tm[:3, :3].T).as_rotvec() / (2 * h)
    return J


@pytest.mark.parametrize("which", ["arm", "arm7"])
@pytest.mark.parametrize("frame", [None, "tool0"])
def test_jacobian_matches_finite_differences(which: str, frame: str | None, arm, arm7) -> None:
    model = arm if which == "arm" else arm7
    if frame == "tool0" and which == "arm7":
        frame = "flange"
    for q in model.random_q(30, rng=3):
        J = model.jacobian(q, frame)
        J_fd = _fd_jacobian(lambda x: model.fk(x, frame), q)
        np.testing.assert_allclose(J, J_fd, atol=1e-7)


@pytest.mark.parametrize("which", ["arm", "arm7"])
def test_torch_batch_jacobian_matches_finite_differences_and_autograd(which: str, arm, arm7) -> None:
    model = arm if which == "arm" else arm7
    q = torch.tensor(model.random_q(20, rng=4), requires_grad=True)
    J = model.jacobian_batch(q).detach().numpy()
    for i, qi in enumerate(q.detach().numpy()):
        J_fd = _fd_jacobian(lambda x: model.fk_batch(torch.tensor(x[None]))[0].numpy(), qi)
        np.testing.assert_allclose(J[i], J_fd, atol=1e-7)
    # fk_batch is differentiable: d(sum of tip x positions)/dq equals the Jacobian's x row.
    model.fk_batch(q)[:, 0, 3].sum().backward()
    np.testing.assert_allclose(q.grad.numpy(), J[:, 0, :], atol=1e-10)


@pytest.mark.parametrize("which", ["arm", "arm7"])
def test_batched_fk_and_jacobian_equal_single_configuration_calls(which: str, arm, arm7) -> None:
    model = arm if which == "arm" else arm7
    q = model.random_q(1000, rng=5)
    T_single = np.stack([model.fk(x) for x in q])
    J_single = np.stack([model.jacobian(x) for x in q])
    T_torch = model.fk_batch(torch.tensor(q)).numpy()
    J_torch = model.jacobian_batch(torch.tensor(q)).numpy()
    T_np, J_np = model.fk_jacobian_np(q)
    np.testing.assert_allclose(T_torch, T_single, atol=1e-12)
    np.testing.assert_allclose(J_torch, J_single, atol=1e-12)
    np.testing.assert_allclose(T_np, T_single, atol=1e-12)
    np.testing.assert_allclose(J_np, J_single, atol=1e-12)
    # float32 batches keep their dtype and stay within float32 precision.
    T32 = model.fk_batch(torch.tensor(q, dtype=torch.float32))
    assert T32.dtype == torch.float32
    np.testing.assert_allclose(T32.numpy(), T_single, atol=2e-5)
    # Several frames at once equal one at a time.
    frames = list(model.frame_names)
    np.testing.assert_allclose(model.fk_frames(q[0], frames), np.stack([model.fk(q[0], f) for f in frames]), atol=1e-15)


def test_base_frame_below_the_urdf_root(arm7: RobotModel) -> None:
    """Poses are relative to base_frame even when fixed links sit above it."""
    assert arm7.joint_names == SEVEN_DOF_JOINTS  # gripper fingers off the chain are not joints
    world = RobotModel.from_urdf(seven_dof_urdf(), base_frame="world", tip_frame=SEVEN_DOF_TIP)
    T_world_base = world.fk(np.zeros(7), SEVEN_DOF_BASE)
    assert np.linalg.norm(T_world_base[:3, 3]) > 0.5  # the mount offset is real
    for q in arm7.random_q(20, rng=6):
        np.testing.assert_allclose(T_world_base @ arm7.fk(q), world.fk(q), atol=1e-12)
        J_world = world.jacobian(q)
        R = T_world_base[:3, :3]
        np.testing.assert_allclose(R @ arm7.jacobian(q)[:3], J_world[:3], atol=1e-12)
        np.testing.assert_allclose(R @ arm7.jacobian(q)[3:], J_world[3:], atol=1e-12)
    np.testing.assert_allclose(arm7.fk(np.zeros(7), SEVEN_DOF_BASE), np.eye(4), atol=1e-15)


def test_seven_dof_limits_and_continuous_joint(arm7: RobotModel) -> None:
    np.testing.assert_allclose(arm7.q_min_rad[:6], [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175])
    assert arm7.q_min_rad[6] == -math.inf and arm7.q_max_rad[6] == math.inf
    q = arm7.random_q(500, rng=1)
    assert np.all(arm7.within_limits(q))
    assert np.all(np.abs(q[:, 6]) <= math.pi)  # continuous joints are sampled over one turn


def test_vendor_style_urdf_with_missing_package_meshes_loads(arm: RobotModel, tmp_path) -> None:
    text = vendor_style_urdf()
    assert "package://factory_arm_description/meshes" in text and "<transmission" in text
    path = tmp_path / "vendor_arm.urdf"  # no meshes next to it, no ROS package to resolve
    path.write_text(text)
    vendor = RobotModel.from_urdf(path)
    assert vendor.joint_names == arm.joint_names
    for q in arm.random_q(50, rng=2):
        np.testing.assert_allclose(vendor.fk(q), arm.fk(q), atol=1e-15)
    np.testing.assert_allclose(vendor.fk_batch(torch.tensor(q[None]))[0].numpy(), arm.fk(q), atol=1e-12)


def test_ready_pose_holds_the_cup_above_the_belt_pointing_down(arm: RobotModel, cell) -> None:
    assert cell.arm.ready_q_rad.shape == (arm.n_joints,)
    assert arm.within_limits(cell.arm.ready_q_rad)
    T = arm.fk(cell.arm.ready_q_rad, cell.arm.tip_frame)
    p_belt = (T_inv(cell.T_base_belt) @ T)[:3, 3]  # cup lip in the belt-surface frame
    assert math.degrees(math.acos(-T[2, 2])) < 0.1  # cup z axis points straight down
    assert abs(p_belt[1]) < cell.conveyor.width_m / 2  # over the belt
    assert 0.28 <= p_belt[2] <= 0.32  # about 0.30 m above the belt surface


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"base_frame": "nope"}, "base_frame 'nope'"),
        ({"tip_frame": "nope"}, "tip_frame 'nope'"),
        ({"base_frame": "tool0", "tip_frame": "base_link"}, "does not hang below"),
        ({"base_frame": "tool0", "tip_frame": "suction_cup"}, "no movable joint"),
    ],
)
def test_bad_frames_are_named(kwargs: dict, needle: str) -> None:
    with pytest.raises(UrdfError, match=needle):
        RobotModel.from_urdf(ARM_URDF, **kwargs)


def test_malformed_urdf_and_bad_inputs_raise_clear_errors(arm: RobotModel, tmp_path) -> None:
    with pytest.raises(UrdfError, match="cannot read URDF"):
        RobotModel.from_urdf(tmp_path / "missing.urdf")
    with pytest.raises(UrdfError, match="not valid XML"):
        RobotModel.from_urdf("<robot><link name='a'></robot>")
    broken = ARM_URDF.read_text().replace('<child link="shoulder_link"/>', '<child link="shoulder_lnk"/>')
    with pytest.raises(UrdfError, match="shoulder_lnk"):
        RobotModel.from_urdf(broken)
    with pytest.raises(ValueError, match=r"q_rad must have shape \(6,\)"):
        arm.fk(np.zeros(5))
    with pytest.raises(ValueError, match="q_rad contains NaN"):
        arm.jacobian([0, 0, math.nan, 0, 0, 0])
    with pytest.raises(ValueError, match="unknown frame 'flange'"):
        arm.fk(np.zeros(6), "flange")
    with pytest.raises(ValueError, match=r"shape \(B, 6\)"):
        arm.fk_batch(torch.zeros(3, 5))
