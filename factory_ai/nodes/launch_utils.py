"""Helpers shared by the launch files in `launch/`: params-file blocks and lifecycle autostart.

`node_parameters` and `is_true` are plain Python (unit-tested without ROS); `lifecycle_node`
imports launch / launch_ros when called, i.e. only inside `ros2 launch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PACKAGE = "factory_ai"


def is_true(value: str) -> bool:
    """A launch argument string as a bool ('true', '1', 'yes', 'on', any case)."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def node_parameters(params_file: str | Path, node_name: str) -> dict[str, Any]:
    """The `ros__parameters` of one node in a ROS 2 params file; the `/**` block applies first.

    Blocks may be keyed by the plain node name (`vision_node:`) or a full name
    (`/cell1/vision_node:`); handing each node its own dict keeps plain-name blocks valid in any
    namespace, which a whole `--params-file` would not.

    Raises:
        ValueError: the file is not a mapping of node blocks.
    """
    path = Path(params_file)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        msg = f"{path}: a params file must map node names to 'ros__parameters' blocks"
        raise ValueError(msg)
    params: dict[str, Any] = {}
    for key in sorted(data, key=lambda k: str(k) not in ("/**", "**")):  # wildcard block first
        block = data[key] or {}
        name = str(key).rstrip("/").split("/")[-1]
        if str(key) in ("/**", "**") or name == node_name:
            if not isinstance(block, dict) or not isinstance(block.get("ros__parameters", {}), dict):
                msg = f"{path}: block {key!r} must hold a 'ros__parameters' mapping"
                raise ValueError(msg)
            params.update(block.get("ros__parameters", {}))
    return params


def camera_remappings(camera: str) -> list[tuple[str, str]]:
    """Remap the nodes' `camera/...` topics to another camera namespace (e.g. `/cam/color`)."""
    camera = camera.rstrip("/")
    if camera in ("", "camera"):
        return []
    return [("camera/image_raw", f"{camera}/image_raw"), ("camera/camera_info", f"{camera}/camera_info")]


def lifecycle_node(
    name: str, namespace: str, params: dict[str, Any], autostart: bool, remappings: list[tuple[str, str]] | None = None
) -> list[Any]:
    """Launch actions for one factory_ai LifecycleNode and, with autostart, configure + activate.

    The node is configured at once (a ChangeState event) and activated when it reaches
    'inactive' from 'configuring' (an OnStateTransition handler): the Jazzy launch_ros way.
    """
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import matches_action
    from launch_ros.actions import LifecycleNode
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    node = LifecycleNode(
        package=PACKAGE,
        executable=name,
        name=name,
        namespace=namespace,  # Jazzy's LifecycleNode needs it explicitly
        parameters=[params],
        remappings=remappings or [],
        output="screen",
        emulate_tty=True,
    )
    if not autostart:
        return [node]
    activate = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node),
                        transition_id=Transition.TRANSITION_ACTIVATE,
                    )
                )
            ],
        )
    )
    configure = EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_CONFIGURE)
    )
    return [activate, node, configure]
