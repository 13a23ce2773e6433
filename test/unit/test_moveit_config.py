"""`factory-ai moveit-setup`: the generated MoveIt config is complete, consistent with the URDF and
with the project's controllers/limits, collision-safe under the project's collision model, and
the shipped `config/moveit/` is exactly what the generator writes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from factory_ai.moveit_config import (
    LinkPairSampler,
    SetupOptions,
    generate_config,
    moveit_py_params,
    parse_srdf,
    planning_pipeline_params,
    write_config,
)
from factory_ai.robot import RobotModel
from factory_ai.robot.urdf import parse_urdf
from moveit_helpers import SEVEN_DOF_BASE, SEVEN_DOF_LIMITS_YAML, SEVEN_DOF_TIP, seven_dof_collision_urdf

REPO = Path(__file__).resolve().parents[2]
ARM_URDF = REPO / "urdf" / "factory_arm.urdf"
SHIPPED = REPO / "config" / "moveit"
EXPECTED_FILES = {
    "kinematics.yaml",
    "joint_limits.yaml",
    "moveit_controllers.yaml",
    "ompl_planning.yaml",
    "pilz_industrial_motion_planner_planning.yaml",
    "pilz_cartesian_limits.yaml",
    "moveit_py.yaml",
}
FRESH_SAMPLES = 1000
FRESH_SEED = 12345  # not the generation seed: these states were never seen by the generator


@pytest.fixture(scope="module")
def arm_config():
    """Our arm, generated with the shipped options (the command in config/moveit's header)."""
    return generate_config(SetupOptions(urdf_path=ARM_URDF, group="arm", tip_link="suction_cup"))


@pytest.fixture(scope="module")
def arm7(tmp_path_factory):
    """The 7-DOF test arm (with collision geometry) and its generated config."""
    d = tmp_path_factory.mktemp("arm7")
    urdf = d / "test_arm7.urdf"
    urdf.write_text(seven_dof_collision_urdf())
    limits = d / "limits.yaml"
    limits.write_text(SEVEN_DOF_LIMITS_YAML)
    cfg = generate_config(
        SetupOptions(urdf_path=urdf, group="arm", tip_link=SEVEN_DOF_TIP, base_link=SEVEN_DOF_BASE, joint_limits_path=limits)
    )
    return urdf, cfg


def _cases(arm_config, arm7):
    return [(ARM_URDF, arm_config, "base_link", "suction_cup"), (arm7[0], arm7[1], SEVEN_DOF_BASE, SEVEN_DOF_TIP)]


def test_config_is_complete_for_both_arms(arm_config, arm7):
    for _urdf, cfg, _base, _tip in _cases(arm_config, arm7):
        assert set(cfg.files) == EXPECTED_FILES | {f"{cfg.robot_name}.srdf"}
        for name, text in cfg.files.items():
            if name.endswith(".yaml"):
                assert isinstance(yaml.safe_load(text), dict), name


def test_srdf_matches_the_urdf(arm_config, arm7):
    for urdf, cfg, base, tip in _cases(arm_config, arm7):
        tree = parse_urdf(urdf)
        srdf = parse_srdf(cfg.files[cfg.srdf_name])
        assert srdf.robot_name == tree.name
        group = srdf.chain_group("arm")
        assert (group.base_link, group.tip_link) == (base, tip)
        # Every link the SRDF names exists in the URDF.
        named = {group.base_link, group.tip_link}
        named |= {link for g in srdf.link_groups for link in g.links}
        named |= {e.parent_link for e in srdf.end_effectors}
        named |= {link for pair in srdf.disabled_collisions for link in pair}
        assert named <= set(tree.links)
        # The group is a valid chain whose joints are the URDF's actuated joints in order
        # (the kinematics core's view of the same chain).
        chain = [j.name for j in tree.path_joints(base, tip) if j.movable]
        assert tuple(chain) == RobotModel.from_urdf(urdf, base_frame=base, tip_frame=tip).joint_names
        by_name = {j.name: j for j in tree.joints}
        for state in ("ready", "home"):
            values = srdf.group_state(state, "arm").values
            assert [j for j, _ in values] == chain
            for j, v in values:
                assert by_name[j].lower - 1e-9 <= v <= by_name[j].upper + 1e-9, (state, j, v)
        # End effector hangs off the tip and belongs to the arm group.
        (eef,) = srdf.end_effectors
        assert (eef.parent_link, eef.parent_group) == (tip, "arm")
        assert tip in next(g.links for g in srdf.link_groups if g.name == eef.group)


def test_ready_is_the_cell_ready_pose_for_our_arm(arm_config, cell):
    srdf = parse_srdf(arm_config.files[arm_config.srdf_name])
    ready = np.array([v for _, v in srdf.group_state("ready").values])
    np.testing.assert_allclose(ready, cell.arm.ready_q_rad, atol=1e-6)


def test_adjacent_links_are_disabled(arm_config, arm7):
    for urdf, cfg, _base, _tip in _cases(arm_config, arm7):
        srdf = parse_srdf(cfg.files[cfg.srdf_name])
        geometric = set(cfg.collisions.links)
        for j in parse_urdf(urdf).joints:
            if j.parent in geometric and j.child in geometric:
                pair = tuple(sorted((j.parent, j.child)))
                assert srdf.disabled_collisions.get(pair) == "Adjacent", pair
    # Through a link without geometry (tool0) the cup body is adjacent to the last wrist link.
    srdf = parse_srdf(arm_config.files[arm_config.srdf_name])
    assert srdf.disabled_collisions[("suction_cup_body", "wrist_3_link")] == "Adjacent"


def test_never_pairs_do_not_collide_on_fresh_random_states(arm_config, arm7):
    for urdf, cfg, _base, _tip in _cases(arm_config, arm7):
        never = cfg.collisions.pairs("Never")
        assert never, f"{cfg.robot_name}: no pair disabled as Never"
        sampler = LinkPairSampler(urdf)
        d = sampler.pair_distances(sampler.random_q(FRESH_SAMPLES, np.random.default_rng(FRESH_SEED)))
        cols = [sampler.pairs.index(p) for p in never]
        worst = d[:, cols].min(axis=0)
        hit = [p for p, w in zip(never, worst) if w < 0.0]
        assert not hit, f"{cfg.robot_name}: 'Never' pairs collide on fresh states: {hit}"


def test_enabled_pairs_do_collide_somewhere(arm_config):
    # The matrix is not trivially conservative: every pair left enabled was seen colliding or
    # coming within the margin (else it should have been disabled).
    cfg = arm_config
    sampler = LinkPairSampler(ARM_URDF)
    d = sampler.pair_distances(sampler.random_q(cfg.collisions.samples, np.random.default_rng(FRESH_SEED)))
    for k, pair in enumerate(sampler.pairs):
        if pair not in cfg.collisions.disabled:
            assert d[:, k].min() < cfg.collisions.never_margin_m + 0.01, pair


def test_seven_dof_reasons_cover_default_and_frozen_joints(arm7):
    _urdf, cfg = arm7
    c = cfg.collisions
    # The fingers hang off prismatic joints the sampler cannot move: never "Never" for them.
    assert set(c.unsampled_links) == {"left_finger", "right_finger"}
    for (a, b), reason in c.disabled.items():
        if a in c.unsampled_links or b in c.unsampled_links:
            assert reason in ("Adjacent", "Default"), ((a, b), reason)
    assert c.count("Default") > 0  # the test arm's spheres overlap in the default state


def test_shipped_config_equals_a_fresh_generation(arm_config):
    shipped = {p.name: p.read_text() for p in SHIPPED.iterdir() if p.is_file()}
    assert shipped == arm_config.files


def test_same_seed_same_bytes_and_cli_writes_them(tmp_path, arm_config):
    from factory_ai.cli import main

    rc = main(["moveit-setup", "--urdf", str(ARM_URDF), "--group", "arm", "--tip", "suction_cup", "--out", str(tmp_path)])
    assert rc == 0
    written = {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()}
    assert written == arm_config.files


def test_yaml_files_agree_with_each_other_and_the_project(arm_config):
    f = {n: yaml.safe_load(t) for n, t in arm_config.files.items() if n.endswith(".yaml")}
    srdf = parse_srdf(arm_config.files[arm_config.srdf_name])
    joints = [j for j, _ in srdf.group_state("ready").values]

    assert f["kinematics.yaml"]["arm"]["kinematics_solver"] == "kdl_kinematics_plugin/KDLKinematicsPlugin"

    # Limits: acceleration and jerk are the planner's (config/joint_limits.yaml), velocity the URDF's.
    source = yaml.safe_load((REPO / "config" / "joint_limits.yaml").read_text())["joint_limits"]
    limits = f["joint_limits.yaml"]["joint_limits"]
    urdf_joints = {j.name: j for j in parse_urdf(ARM_URDF).joints}
    assert list(limits) == joints
    for j in joints:
        for key in ("max_acceleration", "max_jerk"):
            assert limits[j][key] == source[j][key], (j, key)
        assert limits[j]["has_acceleration_limits"] and limits[j]["has_jerk_limits"]
        assert math.isclose(limits[j]["max_velocity"], min(urdf_joints[j].velocity, source[j]["max_velocity"]))

    # Controllers: the ros2_control joint_trajectory_controller, same joints as the group.
    ros2_control = yaml.safe_load((REPO / "config" / "controllers.yaml").read_text())
    mc = f["moveit_controllers.yaml"]["moveit_simple_controller_manager"]
    for name in mc["controller_names"]:
        assert name in ros2_control["controller_manager"]["ros__parameters"]
        assert mc[name]["type"] == "FollowJointTrajectory"
        assert mc[name]["joints"] == ros2_control[name]["ros__parameters"]["joints"] == joints

    # Pipelines: moveit_py's names each have a pipeline file; requests name known pipelines/planners.
    mp = f["moveit_py.yaml"]
    names = mp["planning_pipelines"]["pipeline_names"]
    assert all(f"{n}_planning.yaml" in f for n in names)
    ompl = f["ompl_planning.yaml"]
    assert set(ompl["arm"]["planner_configs"]) <= set(ompl["planner_configs"])
    assert ompl["arm"]["default_planner_config"] in ompl["planner_configs"]
    for ns in ("pilz_ptp", "ompl_rrtc"):
        req = mp[ns]["plan_request_params"]
        assert req["planning_pipeline"] in names
        if req["planning_pipeline"] == "ompl":
            assert req["planner_id"] in ompl["planner_configs"]
        else:
            assert req["planner_id"] == f["pilz_industrial_motion_planner_planning.yaml"]["default_planner_config"]
    assert set(f["pilz_cartesian_limits.yaml"]["cartesian_limits"]) == {
        "max_trans_vel", "max_trans_acc", "max_trans_dec", "max_rot_vel"
    }  # fmt: skip


def _ros_param_ok(value, where: str) -> None:
    """Values a ROS 2 parameter YAML can hold (no None, no empty or mixed lists)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), where
            _ros_param_ok(v, f"{where}.{k}")
    elif isinstance(value, list):
        assert value, f"{where}: empty list has no ROS parameter type"
        assert len({type(v) for v in value}) == 1, f"{where}: mixed list"
        assert not isinstance(value[0], (dict, list)), f"{where}: nested list"
    else:
        assert isinstance(value, (bool, int, float, str)), f"{where}: {type(value)}"


def test_moveit_py_and_move_group_params_are_valid_ros_parameters():
    params = moveit_py_params(SHIPPED, ARM_URDF)
    for key in ("robot_description", "robot_description_semantic", "robot_description_kinematics",
                "robot_description_planning", "planning_scene_monitor_options", "ompl",
                "pilz_industrial_motion_planner", "moveit_simple_controller_manager", "pilz_ptp"):  # fmt: skip
        assert key in params, key
    assert params["planning_pipelines"] == {"pipeline_names": ["ompl", "pilz_industrial_motion_planner"]}
    assert "cartesian_limits" in params["robot_description_planning"]
    _ros_param_ok(params, "moveit_py")
    move_group = planning_pipeline_params(SHIPPED)
    assert move_group["default_planning_pipeline"] in move_group["planning_pipelines"]
    _ros_param_ok(move_group, "move_group")


def test_write_config_replaces_files_atomically(tmp_path, arm_config):
    (tmp_path / "kinematics.yaml").write_text("stale: true\n")
    paths = write_config(arm_config, tmp_path)
    assert {p.name for p in paths} == set(arm_config.files)
    assert (tmp_path / "kinematics.yaml").read_text() == arm_config.files["kinematics.yaml"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_refuses_a_tip_that_is_not_in_the_urdf(tmp_path, caplog):
    from factory_ai.cli import main

    rc = main(["moveit-setup", "--urdf", str(ARM_URDF), "--tip", "no_such_link", "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "no_such_link" in caplog.text
    assert not (tmp_path / "out").exists()
