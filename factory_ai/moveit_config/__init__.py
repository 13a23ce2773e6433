"""MoveIt 2 configuration for any arm, generated reproducibly without a GUI (pure Python).

- `generate_config(SetupOptions(urdf_path=...))` -> `GeneratedConfig` (file name -> text), and
  `write_config(config, out_dir)`; the CLI is `factory-ai moveit-setup`.
- `compute_disabled_collisions(urdf)`: Setup Assistant's sampled collision matrix (Adjacent,
  Default, Always, Never) under the project's collision model.
- `srdf_xml` / `parse_srdf` / `disabled_pairs`: the SRDF model, writer and reader.
- `moveit_py_params(config_dir, urdf)` / `planning_pipeline_params(config_dir)`: ROS parameter
  dicts for MoveItPy and for a move_group launch.

Never imports ROS or MoveIt.
"""

from factory_ai.moveit_config.collisions import DisabledCollisions, LinkPairSampler, compute_disabled_collisions
from factory_ai.moveit_config.generate import GeneratedConfig, SetupOptions, generate_config, write_config
from factory_ai.moveit_config.params import moveit_py_params, planning_pipeline_params, srdf_path
from factory_ai.moveit_config.srdf import SrdfModel, disabled_pairs, parse_srdf, srdf_xml

__all__ = [
    "DisabledCollisions",
    "GeneratedConfig",
    "LinkPairSampler",
    "SetupOptions",
    "SrdfModel",
    "compute_disabled_collisions",
    "disabled_pairs",
    "generate_config",
    "moveit_py_params",
    "parse_srdf",
    "planning_pipeline_params",
    "srdf_path",
    "srdf_xml",
    "write_config",
]
