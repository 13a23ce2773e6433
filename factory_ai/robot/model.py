"""`RobotModel`: one arm chain of a URDF with FK, Jacobians (single and batched) and IK.

Single configurations go through Pinocchio (about 1-2 us for FK + Jacobian); torch batches go
through pytorch-kinematics (differentiable); batched IK uses a vectorized numpy chain kernel.
All poses are in `base_frame`, which need not be the URDF root.

Not thread-safe: single-configuration calls reuse one Pinocchio data buffer. Use one model
per thread.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pinocchio as pin

from factory_ai.geometry import T_inv
from factory_ai.robot.chain import SerialChainKernel
from factory_ai.robot.ik import IKBatchResult, IKOptions, IKResult, JointBox, solve_batch, solve_single
from factory_ai.robot.urdf import UrdfError, UrdfTree, kinematic_urdf_xml, parse_urdf

if TYPE_CHECKING:
    import torch

    from factory_ai.robot.torch_chain import TorchChain

log = logging.getLogger(__name__)

_LWA = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
_DEFAULT_IK = IKOptions()


class RobotModel:
    """Kinematics of the joints between `base_frame` and `tip_frame` of a URDF.

    Joints off that chain (grippers, other arms) are held at zero. Geometry is ignored, so
    vendor URDFs whose meshes are not installed load fine.

    Args:
        tree: the parsed URDF (see `RobotModel.from_urdf`).
        base_frame: link that all poses and Jacobians are expressed in.
        tip_frame: default frame for FK, Jacobian and IK.
        source: where the URDF came from (for messages).
    """

    def __init__(
        self, tree: UrdfTree, base_frame: str = "base_link", tip_frame: str = "suction_cup", source: str = ""
    ) -> None:
        path = tree.path_joints(base_frame, tip_frame)
        chain = [j for j in path if j.movable]
        if not chain:
            msg = f"no movable joint between base_frame {base_frame!r} and tip_frame {tip_frame!r}"
            raise UrdfError(msg)
        for j in chain:
            if j.mimic is not None:
                msg = f"joint {j.name!r} on the arm chain mimics {j.mimic!r}; mimic joints must be off the chain"
                raise UrdfError(msg)
        self.tree = tree
        self.source = source or tree.name
        self.base_frame = base_frame
        self.tip_frame = tip_frame
        self.joint_names: tuple[str, ...] = tuple(j.name for j in chain)
        self.n_joints = len(chain)
        self.joint_types: tuple[str, ...] = tuple(j.type for j in chain)
        self.q_min_rad = np.array([j.lower for j in chain])
        self.q_max_rad = np.array([j.upper for j in chain])
        self.v_max_radps = np.array([j.velocity for j in chain])
        self.effort_max = np.array([j.effort for j in chain])
        self.frame_names: tuple[str, ...] = tree.links
        self._box = JointBox(self.q_min_rad, self.q_max_rad, np.array([t != "prismatic" for t in self.joint_types]))

        self._pin = pin.buildModelFromXML(kinematic_urdf_xml(tree, set(self.joint_names)))
        pin_names = tuple(self._pin.names[1:])
        if pin_names != self.joint_names or self._pin.nq != self.n_joints:
            msg = f"Pinocchio ordered the joints {pin_names}, expected {self.joint_names}"
            raise UrdfError(msg)
        self._data = self._pin.createData()
        self._fid = {}
        for name in self.frame_names:
            if not self._pin.existFrame(name, pin.FrameType.BODY):
                msg = f"Pinocchio has no frame for link {name!r}"
                raise UrdfError(msg)
            self._fid[name] = self._pin.getFrameId(name, pin.FrameType.BODY)
        # Joints above the base are fixed, so the root-to-base transform is a constant.
        pin.framesForwardKinematics(self._pin, self._data, np.zeros(self.n_joints))
        self._T_root_base = self._data.oMf[self._fid[base_frame]].homogeneous.copy()
        self._T_base_root = T_inv(self._T_root_base)
        self._base_is_root = bool(np.array_equal(self._T_root_base, np.eye(4)))
        self._R_base_root = self._T_base_root[:3, :3].copy()
        self._kernels: dict[str, SerialChainKernel] = {}
        self._torch: dict[tuple, TorchChain] = {}

    @classmethod
    def from_urdf(
        cls, urdf: str | Path, base_frame: str = "base_link", tip_frame: str = "suction_cup"
    ) -> RobotModel:
        """Load a URDF file (or XML string); mesh files are never opened.

        Raises:
            UrdfError: unreadable/malformed URDF, unknown frame, or no joint between the frames.
        """
        tree = parse_urdf(urdf)
        source = str(urdf) if not str(urdf).lstrip().startswith("<") else tree.name
        return cls(tree, base_frame=base_frame, tip_frame=tip_frame, source=source)

    def __repr__(self) -> str:
        return (
            f"RobotModel({self.source!r}, base_frame={self.base_frame!r}, tip_frame={self.tip_frame!r}, "
            f"joints={list(self.joint_names)})"
        )

    # ----------------------------------------------------------------- validation
    def _q(self, q_rad, name: str = "q_rad") -> np.ndarray:
        q = np.asarray(q_rad, dtype=float)
        if q.shape != (self.n_joints,):
            msg = f"{name} must have shape ({self.n_joints},) for joints {list(self.joint_names)}, got {q.shape}"
            raise ValueError(msg)
        if not math.isfinite(float(q @ q)):  # one dot product: cheaper than isfinite().all()
            msg = f"{name} contains NaN or inf (or absurdly large values): {q.tolist()}"
            raise ValueError(msg)
        return q

    def _frame(self, frame: str | None) -> str:
        frame = self.tip_frame if frame is None else frame
        if frame not in self._fid:
            msg = f"unknown frame {frame!r}; frames: {', '.join(self.frame_names)}"
            raise ValueError(msg)
        return frame

    @staticmethod
    def _pose(T, name: str, batch: bool = False) -> np.ndarray:
        T = np.asarray(T, dtype=float)
        if not batch and T.shape == (4, 4):
            # Fast path for one pose (planner queries): plain floats beat numpy reductions here.
            (a, b, c, x), (d, e, f, y), (g, h, i, z), bottom = T.tolist()
            det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
            R = T[:3, :3]
            if (
                math.isfinite(a + b + c + d + e + f + g + h + i + x + y + z)
                and bottom == [0.0, 0.0, 0.0, 1.0]
                and det > 0
                and float(np.abs(R.T @ R - np.eye(3)).max()) <= 1e-6
            ):
                return T
        shape_ok = T.ndim == 3 and T.shape[1:] == (4, 4) if batch else T.shape == (4, 4)
        if not shape_ok:
            want = "(B, 4, 4)" if batch else "(4, 4)"
            msg = f"{name} must have shape {want}, got {T.shape}"
            raise ValueError(msg)
        bad = ~np.all(np.isfinite(T), axis=(-2, -1))
        if np.any(bad):
            where = f" (target {int(np.flatnonzero(bad)[0])})" if batch else ""
            msg = f"{name} contains NaN or inf{where}"
            raise ValueError(msg)
        R = T[..., :3, :3]
        ortho = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(axis=(-2, -1))
        det = np.linalg.det(R)
        bottom = np.abs(T[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=-1)
        bad = (ortho > 1e-6) | (det < 0) | (bottom > 1e-9)
        if np.any(bad):
            i = int(np.flatnonzero(np.atleast_1d(bad))[0])
            where = f" (target {i})" if batch else ""
            msg = (
                f"{name} is not a rigid transform{where}: max |R^T R - I| = {np.atleast_1d(ortho)[i]:.2e}, "
                f"det R = {np.atleast_1d(det)[i]:.3f}, bottom row error {np.atleast_1d(bottom)[i]:.2e}"
            )
            raise ValueError(msg)
        return T

    # ----------------------------------------------------------------- single configuration
    def fk(self, q_rad, frame: str | None = None) -> np.ndarray:
        """Pose of a frame.

        Args:
            q_rad: (n_joints,) joint positions.
            frame: link name; None = tip_frame.

        Returns:
            (4, 4) T_base_frame.
        """
        fid = self._fid[self._frame(frame)]
        pin.forwardKinematics(self._pin, self._data, self._q(q_rad))
        T = pin.updateFramePlacement(self._pin, self._data, fid).homogeneous
        return T if self._base_is_root else self._T_base_root @ T

    def fk_jacobian(self, q_rad, frame: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pose (4, 4) T_base_frame and Jacobian (6, n_joints) of a frame from one kinematics pass."""
        fid = self._fid[self._frame(frame)]
        J = pin.computeFrameJacobian(self._pin, self._data, self._q(q_rad), fid, _LWA)
        T = self._data.oMf[fid].homogeneous
        if self._base_is_root:
            return T, J
        return self._T_base_root @ T, np.concatenate([self._R_base_root @ J[:3], self._R_base_root @ J[3:]])

    def fk_frames(self, q_rad, frames: Sequence[str]) -> np.ndarray:
        """Poses of several frames for one configuration, (k, 4, 4) T_base_frame."""
        fids = [self._fid[self._frame(f)] for f in frames]
        pin.forwardKinematics(self._pin, self._data, self._q(q_rad))
        T = np.stack([pin.updateFramePlacement(self._pin, self._data, fid).homogeneous for fid in fids])
        return T if self._base_is_root else self._T_base_root @ T

    def jacobian(self, q_rad, frame: str | None = None) -> np.ndarray:
        """Geometric Jacobian (6, n_joints): rows [linear; angular], base axes, at the frame origin."""
        fid = self._fid[self._frame(frame)]
        J = pin.computeFrameJacobian(self._pin, self._data, self._q(q_rad), fid, _LWA)
        if self._base_is_root:
            return J
        return np.concatenate([self._R_base_root @ J[:3], self._R_base_root @ J[3:]])

    def _fk_jac_root(self, fid: int):
        model, data = self._pin, self._data

        def fk_jacobian(q: np.ndarray):
            J = pin.computeFrameJacobian(model, data, q, fid, _LWA)
            M = data.oMf[fid]
            return M.rotation, M.translation, J

        return fk_jacobian

    # ----------------------------------------------------------------- torch batches
    def _torch_chain(self, q: torch.Tensor) -> TorchChain:
        key = (q.dtype, q.device)
        if key not in self._torch:
            from factory_ai.robot.torch_chain import TorchChain

            self._torch[key] = TorchChain(self.tree, self.joint_names, self._T_base_root, q.dtype, q.device)
        return self._torch[key]

    def _q_batch_torch(self, q: torch.Tensor) -> torch.Tensor:
        import torch

        if not isinstance(q, torch.Tensor):
            q = torch.as_tensor(np.asarray(q, dtype=float))
        if q.ndim != 2 or q.shape[1] != self.n_joints:
            msg = f"q must have shape (B, {self.n_joints}), got {tuple(q.shape)}"
            raise ValueError(msg)
        if not q.is_floating_point():
            q = q.to(torch.float64)
        return q

    def fk_batch(self, q: torch.Tensor, frame: str | None = None) -> torch.Tensor:
        """Differentiable batched FK.

        Args:
            q: (B, n_joints) torch tensor (its dtype and device are kept).
            frame: link name; None = tip_frame.

        Returns:
            (B, 4, 4) T_base_frame.
        """
        q = self._q_batch_torch(q)
        return self._torch_chain(q).fk(q, self._frame(frame))

    def jacobian_batch(self, q: torch.Tensor, frame: str | None = None) -> torch.Tensor:
        """Differentiable batched geometric Jacobian (B, 6, n_joints) [linear; angular], base axes."""
        q = self._q_batch_torch(q)
        return self._torch_chain(q).jacobian(q, self._frame(frame))[0]

    def fk_jacobian_batch(self, q: torch.Tensor, frame: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched (B, 4, 4) T_base_frame and (B, 6, n_joints) Jacobian from one torch FK pass."""
        q = self._q_batch_torch(q)
        J, T = self._torch_chain(q).jacobian(q, self._frame(frame))
        return T, J

    # ----------------------------------------------------------------- IK
    def random_q(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """(n, n_joints) configurations drawn uniformly within the limits (one turn for continuous joints)."""
        return self._box.sample(np.random.default_rng(rng), (n,))

    def project_to_limits(self, q_rad: np.ndarray) -> np.ndarray:
        """q (..., n_joints) moved inside the limits: full-turn joints wrap by 2 pi, others clamp."""
        return self._box.project(np.asarray(q_rad, dtype=float))

    def within_limits(self, q_rad: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """True where q (..., n_joints) lies inside the position limits."""
        q = np.asarray(q_rad, dtype=float)
        return np.all((q >= self.q_min_rad - tol) & (q <= self.q_max_rad + tol), axis=-1)

    def ik(
        self,
        T_base_target,
        frame: str | None = None,
        q_seed=None,
        options: IKOptions | None = None,
        rng: np.random.Generator | int | None = 0,
    ) -> IKResult:
        """Joint positions that put `frame` at `T_base_target`, within joint limits.

        Starts from `q_seed` (fast when the seed is close), then restarts from random
        configurations. An unreachable target returns `success=False` with the best attempt.

        Args:
            T_base_target: (4, 4) target pose in the base frame.
            frame: link to place; None = tip_frame.
            q_seed: (n_joints,) first guess, or None to start at random.
            options: tolerances and budgets (`IKOptions`).
            rng: seed or generator for the random restarts (deterministic by default).

        Raises:
            ValueError: only for malformed input (shape, NaN, not a rigid transform, unknown frame).
        """
        t0 = time.perf_counter()
        T = self._pose(T_base_target, "T_base_target")
        fid = self._fid[self._frame(frame)]
        seed = None if q_seed is None else self._q(q_seed, "q_seed")
        opts = options or _DEFAULT_IK
        T_root = T if self._base_is_root else self._T_root_base @ T
        ok, q, pe, re, iters, starts = solve_single(
            self._fk_jac_root(fid),
            T_root[:3, :3],
            T_root[:3, 3],
            seed,
            self._box,
            opts,
            rng,
            log3=pin.log3,
        )
        if ok:
            message = f"solved in {iters} iterations from {starts} start(s)"
        else:
            message = (
                f"no solution within {opts.pos_tol_m * 1e3:g} mm / {math.degrees(opts.rot_tol_rad):g} deg after "
                f"{starts} starts; best {pe * 1e3:.3g} mm / {math.degrees(re):.3g} deg (unreachable or at a limit?)"
            )
        return IKResult(ok, q, pe, re, message, iters, starts, time.perf_counter() - t0)

    def _kernel(self, frame: str) -> SerialChainKernel:
        if frame not in self._kernels:
            try:
                path = self.tree.path_joints(self.base_frame, frame)
            except UrdfError as exc:
                msg = f"ik_batch frame {frame!r} must hang below base_frame {self.base_frame!r}"
                raise ValueError(msg) from exc
            index = {name: i for i, name in enumerate(self.joint_names)}
            self._kernels[frame] = SerialChainKernel(path, index)
        return self._kernels[frame]

    def fk_jacobian_np(self, q_rad: np.ndarray, frame: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectorized numpy FK and Jacobian for q (B, n_joints): (B, 4, 4) T_base_frame, (B, 6, n) J."""
        q = np.asarray(q_rad, dtype=float)
        if q.ndim != 2 or q.shape[1] != self.n_joints:
            msg = f"q_rad must have shape (B, {self.n_joints}), got {q.shape}"
            raise ValueError(msg)
        R, p, J = self._kernel(self._frame(frame)).fk_jacobian(q)
        T = np.zeros((q.shape[0], 4, 4))
        T[:, :3, :3], T[:, :3, 3], T[:, 3, 3] = R, p, 1.0
        return T, J

    def ik_batch(
        self,
        T_base_target,
        q_seeds=None,
        frame: str | None = None,
        options: IKOptions | None = None,
        rng: np.random.Generator | int | None = 0,
    ) -> IKBatchResult:
        """Solve many IK targets at once (vectorized LM; each target restarts independently).

        Args:
            T_base_target: (B, 4, 4) target poses in the base frame.
            q_seeds: None (random), (n,) one seed for all, (B, n) one per target, or (B, S, n)
                S seeds per target tried in parallel.
            frame: link to place (must hang below the base); None = tip_frame.
            options: tolerances and budgets (`IKOptions`).
            rng: seed or generator for random seeds/restarts.

        Returns:
            `IKBatchResult` with per-target success, q_rad (B, n), pos_err_m, rot_err_rad.
        """
        t0 = time.perf_counter()
        T = self._pose(T_base_target, "T_base_target", batch=True)
        B = T.shape[0]
        seeds = None
        if q_seeds is not None:
            seeds = np.asarray(q_seeds, dtype=float)
            n = self.n_joints
            if seeds.shape == (n,):
                seeds = np.broadcast_to(seeds, (B, 1, n))
            elif seeds.shape == (B, n):
                seeds = seeds[:, None, :]
            elif not (seeds.ndim == 3 and seeds.shape[0] == B and seeds.shape[2] == n and seeds.shape[1] >= 1):
                msg = f"q_seeds must have shape ({n},), ({B}, {n}) or ({B}, S, {n}), got {seeds.shape}"
                raise ValueError(msg)
            if not np.all(np.isfinite(seeds)):
                msg = "q_seeds contains NaN or inf"
                raise ValueError(msg)
        kernel = self._kernel(self._frame(frame))
        ok, q, pe, re, iters, starts = solve_batch(
            kernel.fk_jacobian,
            T[:, :3, :3],
            T[:, :3, 3],
            seeds,
            self._box,
            options or _DEFAULT_IK,
            rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng),
        )
        return IKBatchResult(ok, q, pe, re, iters, starts, time.perf_counter() - t0)
