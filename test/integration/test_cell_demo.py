"""The closed loop on the twin: `factory-ai demo` end to end, and its MCAP log read back."""

from __future__ import annotations

import json

import pytest

from factory_ai.cli import main

EXPECTED_TOPICS = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "/parts": "vision_msgs/msg/Detection2DArray",
    "/verdicts": "vision_msgs/msg/Detection2DArray",
    "/planned_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "/joint_states": "sensor_msgs/msg/JointState",
}


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    rc = main(["demo", "--inspection", "truth", "--parts", "8", "--defect-rate", "0.5", "--seed", "3",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def test_defective_parts_end_in_the_bin_or_as_alarms_never_escape(truth_run):
    m = json.loads((truth_run / "metrics.json").read_text())
    for key in ("parts", "defective", "rejected", "escaped", "alarms", "false_rejects", "pick_success_rate",
                "rejects_per_min", "sim_speed_x_realtime", "pick_error_mm_first_20", "pick_error_mm_last_20"):
        assert key in m, key
    assert m["parts"] >= 8 and m["defective"] >= 1
    assert m["escaped"] == 0
    assert m["rejected"] >= 1 and m["false_rejects"] == 0
    assert m["pick_error_mm_first_20"] < 3.0


def test_report_is_self_contained_html(truth_run):
    html = (truth_run / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html


def test_mcap_log_reads_back_with_an_independent_reader(truth_run):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(truth_run / "run.mcap", "rb") as fh:
        reader = make_reader(fh, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        channels = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        for topic, typename in EXPECTED_TOPICS.items():
            assert channels.get(topic) == typename
        counts: dict[str, int] = {}
        for _schema, channel, _message, decoded in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic == "/planned_trajectory":
                assert len(decoded.joint_names) == 6 and len(decoded.points) > 2
            if channel.topic == "/camera/image_raw":
                assert decoded.encoding == "rgb8" and len(decoded.data) == decoded.height * decoded.step
    for topic in ("/camera/image_raw", "/parts", "/planned_trajectory", "/joint_states"):
        assert counts.get(topic, 0) > 0, topic
