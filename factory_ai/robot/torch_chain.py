"""Differentiable batched FK and Jacobians in torch, through pytorch-kinematics.

pytorch-kinematics' own URDF reader builds the fixed offsets in float32; this module builds its
`Chain` straight from the parsed tree in the requested dtype, so float64 batches agree with
Pinocchio to machine precision. Joints outside the model's chain are fixed at zero.
"""

from __future__ import annotations

import numpy as np
import pytorch_kinematics as pk
import torch

from factory_ai.robot.urdf import UrdfTree


class TorchChain:
    """pytorch-kinematics chain of a whole URDF, driven by the model's joints in the model's order.

    Args:
        tree: the parsed URDF.
        joint_names: the model's joints (all others are fixed).
        T_base_root: (4, 4) constant transform from the URDF root into the model's base frame.
        dtype, device: torch dtype and device of the chain.
    """

    def __init__(
        self,
        tree: UrdfTree,
        joint_names: tuple[str, ...],
        T_base_root: np.ndarray,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        movable = set(joint_names)
        children: dict[str, list] = {}
        for j in tree.joints:
            children.setdefault(j.parent, []).append(j)

        def frame(link: str, joint) -> pk.Frame:
            if joint is None:
                pk_joint = pk.Joint(dtype=dtype, device=device)
            else:
                kind = "fixed"
                if joint.name in movable:
                    kind = "prismatic" if joint.type == "prismatic" else "revolute"
                offset = pk.Transform3d(
                    matrix=torch.as_tensor(joint.T_parent_joint, dtype=dtype, device=device),
                    dtype=dtype,
                    device=device,
                )
                pk_joint = pk.Joint(
                    joint.name,
                    offset=offset,
                    joint_type=kind,
                    axis=tuple(float(a) for a in joint.axis),
                    dtype=dtype,
                    device=device,
                    limits=(joint.lower, joint.upper),
                )
            f = pk.Frame(link, link=pk.Link(link), joint=pk_joint)
            f.children = [frame(c.child, c) for c in children.get(link, [])]
            return f

        self.chain = pk.Chain(frame(tree.root, None), dtype=dtype, device=device)
        pk_names = self.chain.get_joint_parameter_names()
        # Column i of the pk input is the model's joint perm[i].
        self._perm = torch.tensor([joint_names.index(n) for n in pk_names], dtype=torch.long, device=device)
        self._T_base_root = torch.as_tensor(T_base_root, dtype=dtype, device=device)
        self._identity_base = bool(np.array_equal(T_base_root, np.eye(4)))
        self.frame_index = dict(self.chain.frame_to_idx)
        # For each frame: (model joint index, pk frame index of that joint, axis) of joints moving it.
        axes = self.chain.axes  # (n_pk, 3), in each joint's own frame
        joint_frame = {}
        for name, idx in self.frame_index.items():
            j = self.chain.find_frame(name).joint
            if j.joint_type != "fixed":
                joint_frame[j.name] = idx
        self._dof_frame = torch.tensor([joint_frame[n] for n in joint_names], dtype=torch.long, device=device)
        self._axes = axes[torch.tensor([pk_names.index(n) for n in joint_names], device=device)]
        kinds = [self.chain.find_frame(self.chain.idx_to_frame[int(i)]).joint.joint_type for i in self._dof_frame]
        self._prismatic = torch.tensor([k == "prismatic" for k in kinds], device=device)
        self._ancestors = {
            name: torch.tensor(
                [int(fi) in set(self.chain.parents_indices[idx].tolist()) for fi in self._dof_frame], device=device
            )
            for name, idx in self.frame_index.items()
        }

    def all_frames(self, q: torch.Tensor) -> torch.Tensor:
        """(F, B, 4, 4) pose of every frame in the base frame for q (B, n) in model order."""
        T = self.chain.forward_kinematics_tensor(q[:, self._perm])
        return T if self._identity_base else self._T_base_root @ T

    def fk(self, q: torch.Tensor, frame: str) -> torch.Tensor:
        """(B, 4, 4) T_base_frame."""
        return self.all_frames(q)[self.frame_index[frame]]

    def jacobian(self, q: torch.Tensor, frame: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 6, n) geometric Jacobian [linear; angular] at the frame origin in base axes, and (B, 4, 4) pose."""
        T_all = self.all_frames(q)
        T = T_all[self.frame_index[frame]]
        T_dof = T_all[self._dof_frame]  # (n, B, 4, 4)
        z = torch.einsum("nbij,nj->nbi", T_dof[..., :3, :3], self._axes)  # (n, B, 3)
        lever = T[:, :3, 3].unsqueeze(0) - T_dof[..., :3, 3]
        prismatic = self._prismatic.view(-1, 1, 1)
        lin = torch.where(prismatic, z, torch.cross(z, lever, dim=-1))
        ang = torch.where(prismatic, torch.zeros_like(z), z)
        moves = self._ancestors[frame].view(-1, 1, 1)
        J = torch.cat([lin, ang], dim=-1) * moves  # (n, B, 6)
        return J.permute(1, 2, 0), T
