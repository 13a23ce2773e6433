"""The ROS layer's pure helpers: stamp pairing (image + parts), parameter tables, params files."""

from __future__ import annotations

import pytest

from factory_ai.nodes import convert
from factory_ai.nodes.launch_utils import is_true, node_parameters
from factory_ai.nodes.params import Param, check_overrides, descriptor_msg
from factory_ai.nodes.sync import StampPairer


def test_pairer_matches_by_stamp_whichever_arrives_first():
    pairer = StampPairer(tolerance_s=0.002, max_items=5)
    assert pairer.add_a(1.000, "img1") is None
    assert pairer.add_a(1.033, "img2") is None
    assert pairer.add_b(1.0331, "parts2") == ("img2", "parts2")  # nearest image, not the oldest
    assert pairer.add_b(2.0, "parts3") is None  # its image has not arrived yet
    assert pairer.add_a(2.001, "img3") == ("img3", "parts3")
    assert pairer.add_b(1.0331, "again") is None  # an image is used once
    assert len(pairer) == 2  # img1 and the unmatched "again"


def test_pairer_is_bounded_and_counts_what_it_drops():
    pairer = StampPairer(tolerance_s=0.0, max_items=3)
    for i in range(10):
        pairer.add_a(float(i), i)
    assert len(pairer) == 3 and pairer.dropped == 7
    assert pairer.add_b(9.0, "p") == (9, "p")
    assert pairer.add_b(0.0, "p0") is None  # dropped long ago
    with pytest.raises(ValueError, match="tolerance_s"):
        StampPairer(tolerance_s=-1.0)


def test_param_table_entries_validate_defaults_and_overrides():
    p = Param(0.5, "threshold", "probability", 0.0, 1.0)
    p.check("threshold", 0.7)
    p.check("threshold", 1.0)
    with pytest.raises(ValueError, match="outside"):
        p.check("threshold", 1.5)
    with pytest.raises(ValueError, match="must be float"):
        p.check("threshold", 1)  # rclpy refuses an integer for a double parameter
    with pytest.raises(ValueError, match="outside its range"):
        Param(2.0, "x", "", 0.0, 1.0)
    with pytest.raises(ValueError, match="empty list"):
        Param([], "x")
    with pytest.raises(ValueError, match="unknown parameter 'treshold'"):
        check_overrides({"threshold": p}, {"treshold": 0.5}, "defect_classifier_node")


def test_descriptor_carries_description_unit_and_range():
    msgs = convert.rosbags_types()
    d = descriptor_msg(msgs, "latency_s", Param(0.05, "planned latency", "s", 0.0, 2.0))
    d = msgs.typestore.deserialize_cdr(msgs.typestore.serialize_cdr(d, d.__msgtype__), d.__msgtype__)
    assert d.description == "planned latency [s]" and d.type == msgs.ParameterType.PARAMETER_DOUBLE
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (0.0, 2.0)
    i = descriptor_msg(msgs, "n", Param(3, "views", "frames", 1, 10))
    assert (i.integer_range[0].from_value, i.integer_range[0].to_value, len(i.floating_point_range)) == (1, 10, 0)
    s = descriptor_msg(msgs, "path", Param("", "file"))
    assert s.type == msgs.ParameterType.PARAMETER_STRING and len(s.integer_range) == 0


def test_node_parameters_from_a_params_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    cell_file: /tmp/cell.yaml\n"
        "vision_node:\n  ros__parameters:\n    use_tf: false\n"
        "/cell1/trajectory_planner_node:\n  ros__parameters:\n    latency_s: 0.1\n"
    )
    assert node_parameters(f, "vision_node") == {"cell_file": "/tmp/cell.yaml", "use_tf": False}
    assert node_parameters(f, "trajectory_planner_node") == {"cell_file": "/tmp/cell.yaml", "latency_s": 0.1}
    assert node_parameters(f, "twin_node") == {"cell_file": "/tmp/cell.yaml"}
    f.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must map node names"):
        node_parameters(f, "vision_node")
    assert is_true("True") and is_true("1") and not is_true("false")
