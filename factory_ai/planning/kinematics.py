"""Planner-side kinematics: batched numpy poses of every link, and closed-form tool-down IK.

Why the planner has its own kernels instead of calling `RobotModel` in its inner loop: a replan
should take a couple of milliseconds, and it needs (a) the pose of every collision link for a few hundred samples
and (b) IK for a few hundred candidate grasp poses. One numpy pass over a (B, n) batch does (a)
in tens of microseconds; (b) has a closed form for this arm's kinematic family (UR-type:
pan z, three parallel y joints, wrist z, wrist y) when the cup points straight down, which is
exactly the pose family of a pick from a flat belt. Both are checked against Pinocchio in the
tests, and the independent `FeasibilityChecker` uses `RobotModel` FK, not these kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from factory_ai.geometry import T_from_xyz_rpy
from factory_ai.robot.urdf import UrdfTree

TWO_PI = 2.0 * math.pi


def _skew(a: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])


@dataclass(frozen=True)
class _Step:
    """One URDF joint on the walk from the base: static offset, then the joint's rotation."""

    frame: int  # index of the child frame
    parent: int  # index of the parent frame
    p_static: np.ndarray  # (3,)
    R_static: np.ndarray  # (3, 3)
    q_index: int  # column of q, or -1 for a fixed joint
    # R_static @ Rot(axis, q) = cos(q) A + sin(q) B + C (Rodrigues, pre-multiplied).
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray


class ArmKinematics:
    """Poses of all links below the base frame for a batch of configurations (revolute joints).

    Args:
        tree: the parsed URDF.
        joint_names: movable joints in q's column order.
        base_frame: link all poses are expressed in.
    """

    def __init__(self, tree: UrdfTree, joint_names: tuple[str, ...], base_frame: str = "base_link") -> None:
        if base_frame not in tree.links:
            msg = f"base_frame {base_frame!r} is not a link of URDF {tree.name!r}"
            raise ValueError(msg)
        q_index = {name: i for i, name in enumerate(joint_names)}
        frames = [base_frame]
        steps: list[_Step] = []
        queue = [base_frame]
        while queue:  # breadth-first: every parent is computed before its children
            parent = queue.pop(0)
            for j in tree.joints:
                if j.parent != parent:
                    continue
                if j.type not in ("revolute", "continuous", "fixed"):
                    msg = f"ArmKinematics supports revolute and fixed joints, joint {j.name!r} is {j.type}"
                    raise ValueError(msg)
                T = j.T_parent_joint
                R, a = T[:3, :3], j.axis
                aa = np.outer(a, a)
                moving = j.type != "fixed" and j.name in q_index
                steps.append(
                    _Step(
                        frame=len(frames),
                        parent=frames.index(parent),
                        p_static=T[:3, 3].copy(),
                        R_static=R.copy(),
                        q_index=q_index[j.name] if moving else -1,
                        A=R @ (np.eye(3) - aa),
                        B=R @ _skew(a),
                        C=R @ aa,
                    )
                )
                frames.append(j.child)
                queue.append(j.child)
        missing = set(joint_names) - {j.name for j in tree.joints if j.child in frames}
        if missing:
            msg = f"joints {sorted(missing)} do not hang below base_frame {base_frame!r}"
            raise ValueError(msg)
        self.frame_names: tuple[str, ...] = tuple(frames)
        self.joint_names = tuple(joint_names)
        self._steps = tuple(steps)

    def frame_index(self, name: str) -> int:
        """Index of a link in `frame_names` (the second axis of `link_poses`)."""
        try:
            return self.frame_names.index(name)
        except ValueError:
            msg = f"frame {name!r} is not below the base; frames: {', '.join(self.frame_names)}"
            raise ValueError(msg) from None

    def link_poses(self, q_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotation and position of every frame in the base frame.

        Args:
            q_rad: (B, n_joints) joint positions.

        Returns:
            R (B, F, 3, 3) and p (B, F, 3), F = len(frame_names).
        """
        q_rad = np.asarray(q_rad, dtype=float)
        B = q_rad.shape[0]
        F = len(self.frame_names)
        R = np.empty((B, F, 3, 3))
        p = np.empty((B, F, 3))
        R[:, 0] = np.eye(3)
        p[:, 0] = 0.0
        cos = np.cos(q_rad)
        sin = np.sin(q_rad)
        for s in self._steps:
            Rp = R[:, s.parent]
            p[:, s.frame] = p[:, s.parent] + Rp @ s.p_static
            if s.q_index < 0:
                R[:, s.frame] = Rp @ s.R_static
            else:
                c = cos[:, s.q_index, None, None]
                sn = sin[:, s.q_index, None, None]
                R[:, s.frame] = Rp @ (c * s.A + sn * s.B + s.C)
        return R, p


class IKStructureError(ValueError):
    """The arm is not of the kinematic family the closed-form tool-down IK supports."""


@dataclass(frozen=True)
class DownwardIKParams:
    """Geometry of a UR-type arm (all lengths in m, see `DownwardIK`)."""

    d1: float  # shoulder-lift height above the base
    y_offset: float  # sum of the offsets along the parallel joints' axis
    l1: float  # upper arm
    l2: float  # forearm
    d5: float  # wrist-2 to wrist-3 along the wrist-2 axis
    d_tip: float  # wrist-3 origin to the tool tip along the wrist-3 axis


class DownwardIK:
    """Closed-form IK for the tool tip at a position with the tool z axis pointing straight down.

    For a UR-type arm with the cup axis along the last joint's axis, "pointing down" fixes
    q2 + q3 + q4 = sigma * pi / 2 and q5 = -sigma * pi / 2; q6 only spins the (round) cup and is
    left to the caller. The wrist-3 origin is then `d_tip` above the tip, which gives q1 (two
    shoulder branches), and a planar two-link problem gives q2, q3 (two elbow branches).
    Branch = (shoulder, elbow, wrist) signs in {+1, -1}.

    Args:
        params: the arm's geometry.
        q_min_rad / q_max_rad: (6,) joint limits; solutions are wrapped by 2 pi into them.
    """

    BRANCHES = np.array([(s, e, w) for s in (1, -1) for e in (1, -1) for w in (1, -1)], dtype=float)

    def __init__(self, params: DownwardIKParams, q_min_rad: np.ndarray, q_max_rad: np.ndarray) -> None:
        self.params = params
        self.q_min = np.asarray(q_min_rad, dtype=float)
        self.q_max = np.asarray(q_max_rad, dtype=float)

    @classmethod
    def from_urdf(
        cls, tree: UrdfTree, joint_names: tuple[str, ...], tip_frame: str, q_min_rad: np.ndarray, q_max_rad: np.ndarray
    ) -> DownwardIK:
        """Read the geometry from the URDF; raises IKStructureError for another arm family."""
        if len(joint_names) != 6:
            msg = f"DownwardIK needs a 6-joint arm, got {len(joint_names)} joints"
            raise IKStructureError(msg)
        by_name = {j.name: j for j in tree.joints}
        js = [by_name[n] for n in joint_names]
        want_axes = ("z", "y", "y", "y", "z", "y")
        unit = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0])}
        for j, ax in zip(js, want_axes):
            if not np.allclose(j.axis, unit[ax], atol=1e-9) or not np.allclose(j.origin_rpy, 0.0, atol=1e-9):
                msg = f"joint {j.name!r}: axis {j.axis} / rpy {j.origin_rpy} does not fit a UR-type arm"
                raise IKStructureError(msg)
        for k in range(1, 6):
            if js[k].parent != js[k - 1].child:
                msg = f"joint {js[k].name!r} does not follow {js[k - 1].name!r} directly"
                raise IKStructureError(msg)
        o = [j.origin_xyz for j in js]
        pattern_zero = [(0, (0, 1)), (1, (0, 2)), (2, (0,)), (3, (0, 1)), (4, (0, 2)), (5, (0, 1))]
        for k, idx in pattern_zero:
            if not np.allclose(o[k][list(idx)], 0.0, atol=1e-9):
                msg = f"joint {js[k].name!r} origin {o[k]} does not fit a UR-type arm"
                raise IKStructureError(msg)
        # Fixed chain wrist_3 -> tip: must be a pure offset along wrist_3's y with tip z = that y.
        T = np.eye(4)
        for j in tree.path_joints(js[5].child, tip_frame):
            if j.type != "fixed":
                msg = f"joint {j.name!r} between the wrist and {tip_frame!r} is not fixed"
                raise IKStructureError(msg)
            T = T @ T_from_xyz_rpy(j.origin_xyz, j.origin_rpy)
        if not (np.allclose(T[:3, 3][[0, 2]], 0.0, atol=1e-6) and np.allclose(T[:3, 2], [0, 1, 0], atol=1e-6)):
            msg = f"tip {tip_frame!r} is not on the last joint's axis with its z along it: T={T.round(4).tolist()}"
            raise IKStructureError(msg)
        params = DownwardIKParams(
            d1=float(o[0][2]),
            y_offset=float(o[1][1] + o[2][1] + o[4][1]),
            l1=float(o[2][2]),
            l2=float(o[3][2]),
            d5=float(o[5][2]),
            d_tip=float(T[1, 3]),
        )
        return cls(params, q_min_rad, q_max_rad)

    def solve(
        self, p_tip_m: np.ndarray, branch: np.ndarray, q6_rad: np.ndarray | float, q_ref_rad: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions for tip positions, cup pointing down.

        Args:
            p_tip_m: (B, 3) tip positions in the base frame.
            branch: (B, 3) or (3,) signs (shoulder, elbow, wrist).
            q6_rad: (B,) or scalar value of the last joint.
            q_ref_rad: (B, 6) or (6,) reference: full-turn joints are wrapped to the nearest
                2 pi copy of it that lies within the limits.

        Returns:
            q (B, 6) and ok (B,): reachable, not within 1e-3 of the elbow singularity, in limits.
        """
        P = self.params
        p = np.asarray(p_tip_m, dtype=float)
        B = p.shape[0]
        br = np.broadcast_to(np.asarray(branch, dtype=float), (B, 3))
        s1, s3, sig = br[:, 0], br[:, 1], br[:, 2]
        wx, wy, wz = p[:, 0], p[:, 1], p[:, 2] + P.d_tip
        rho2 = wx * wx + wy * wy
        ok = rho2 > P.y_offset**2 + 1e-12
        rho = np.sqrt(np.maximum(rho2, 1e-300))
        psi = np.arctan2(wy, wx)
        asn = np.arcsin(np.clip(P.y_offset / rho, -1.0, 1.0))
        q1 = np.where(s1 > 0, psi - asn, psi - math.pi + asn)
        x_s = s1 * np.sqrt(np.maximum(rho2 - P.y_offset**2, 0.0))
        u = x_s - sig * P.d5
        v = wz - P.d1
        c3 = (u * u + v * v - P.l1**2 - P.l2**2) / (2.0 * P.l1 * P.l2)
        ok &= np.abs(c3) <= 1.0 - 1e-3
        q3 = s3 * np.arccos(np.clip(c3, -1.0, 1.0))
        q2 = np.arctan2(u, v) - np.arctan2(P.l2 * np.sin(q3), P.l1 + P.l2 * np.cos(q3))
        q4 = sig * (math.pi / 2) - q2 - q3
        q5 = -sig * (math.pi / 2)
        q6 = np.broadcast_to(np.asarray(q6_rad, dtype=float), (B,))
        q = np.stack([q1, q2, q3, q4, q5, q6], axis=1)
        q = self.wrap_near(q, q_ref_rad)
        ok &= np.all((q >= self.q_min - 1e-9) & (q <= self.q_max + 1e-9), axis=1)
        return q, ok

    def solve_point(
        self, x: float, y: float, z: float, branch: tuple[float, float, float], q6_rad: float, q_ref_rad: np.ndarray
    ) -> tuple[list[float], bool]:
        """`solve` for one point in plain Python floats (a replan calls this in its inner loop,
        where numpy's per-call overhead would dominate)."""
        P = self.params
        s1, s3, sig = branch
        wz = z + P.d_tip
        rho2 = x * x + y * y
        if rho2 <= P.y_offset**2 + 1e-12:
            return [0.0] * 6, False
        rho = math.sqrt(rho2)
        psi = math.atan2(y, x)
        asn = math.asin(max(-1.0, min(1.0, P.y_offset / rho)))
        q1 = psi - asn if s1 > 0 else psi - math.pi + asn
        u = s1 * math.sqrt(max(rho2 - P.y_offset**2, 0.0)) - sig * P.d5
        v = wz - P.d1
        c3 = (u * u + v * v - P.l1**2 - P.l2**2) / (2.0 * P.l1 * P.l2)
        ok = abs(c3) <= 1.0 - 1e-3
        q3 = s3 * math.acos(max(-1.0, min(1.0, c3)))
        q2 = math.atan2(u, v) - math.atan2(P.l2 * math.sin(q3), P.l1 + P.l2 * math.cos(q3))
        q = [q1, q2, q3, sig * (math.pi / 2) - q2 - q3, -sig * (math.pi / 2), q6_rad]
        for k in range(6):
            r = float(q_ref_rad[k])
            v_k = r + (q[k] - r + math.pi) % TWO_PI - math.pi
            if v_k > self.q_max[k]:
                v_k -= TWO_PI
            if v_k < self.q_min[k]:
                v_k += TWO_PI
            ok = ok and (self.q_min[k] - 1e-9 <= v_k <= self.q_max[k] + 1e-9)
            q[k] = v_k
        return q, ok

    def solve_all(self, p_tip_m: np.ndarray, q6_rad: float, q_ref_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All eight branches at once: q (B, 8, 6), ok (B, 8), branch order = BRANCHES."""
        p = np.asarray(p_tip_m, dtype=float)
        B = p.shape[0]
        K = len(self.BRANCHES)
        q, ok = self.solve(np.repeat(p, K, axis=0), np.tile(self.BRANCHES, (B, 1)), q6_rad, q_ref_rad)
        return q.reshape(B, K, 6), ok.reshape(B, K)

    def wrap_near(self, q_rad: np.ndarray, q_ref_rad: np.ndarray) -> np.ndarray:
        """Shift each joint by multiples of 2 pi to the copy nearest q_ref that is within limits."""
        ref = np.broadcast_to(np.asarray(q_ref_rad, dtype=float), q_rad.shape)
        q = ref + (q_rad - ref + math.pi) % TWO_PI - math.pi
        # The nearest copy may be outside the limits while another copy is inside.
        q = np.where(q > self.q_max, q - TWO_PI, q)
        q = np.where(q < self.q_min, q + TWO_PI, q)
        return q

    def branch_of(self, q_rad: np.ndarray) -> np.ndarray:
        """Branch signs (B, 3) of configurations that point the tool down."""
        q = np.atleast_2d(q_rad)
        P = self.params
        q2, q3 = q[:, 1], q[:, 2]
        sig = np.where(np.sin(q[:, 4]) < 0.0, 1.0, -1.0)
        x_w1 = P.l1 * np.sin(q2) + P.l2 * np.sin(q2 + q3)
        s1 = np.where(x_w1 + sig * P.d5 >= 0.0, 1.0, -1.0)
        s3 = np.where(q3 >= 0.0, 1.0, -1.0)
        return np.stack([s1, s3, sig], axis=1)
