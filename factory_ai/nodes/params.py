"""Parameter declarations shared by the nodes: one `PARAMS` table per node, one way to declare it.

Each node module holds a literal table ``PARAMS: dict[str, Param] = {...}`` (name -> default,
description, unit, range). The node declares every entry with a `ParameterDescriptor` in its
constructor, so `ros2 param describe` shows the description, unit and range, and the static tests
compare the tables with `config/nodes.yaml` by parsing the node files. Pure Python: the
descriptor is built through a message namespace (`convert.rclpy_types()` in a node,
`convert.rosbags_types()` in the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ParamValue = bool | int | float | str | list


@dataclass(frozen=True)
class Param:
    """One node parameter: default (its type is the parameter's type), description, unit, range."""

    default: ParamValue
    description: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    read_only: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.default, list) and not self.default:
            msg = "Param.default must not be an empty list: ROS cannot infer its type"
            raise ValueError(msg)
        if (self.min is None) != (self.max is None):
            msg = f"Param range needs both min and max, got min={self.min} max={self.max}"
            raise ValueError(msg)
        if self.min is None:
            return
        if isinstance(self.default, bool) or not isinstance(self.default, (int, float)):
            msg = f"Param range only applies to int/float parameters, default is {self.default!r}"
            raise ValueError(msg)
        if not (self.min <= self.default <= self.max):  # type: ignore[operator]
            msg = f"Param default {self.default!r} is outside its range [{self.min}, {self.max}]"
            raise ValueError(msg)

    def check(self, name: str, value: Any) -> None:
        """Raise ValueError if `value` would be refused by rclpy for this parameter (type, range)."""
        want = type(self.default)
        ok_type = type(value) is want or (want is list and isinstance(value, list))
        if not ok_type:
            msg = f"parameter {name!r} must be {want.__name__} (its default is {self.default!r}), got {value!r}"
            raise ValueError(msg)
        if self.min is not None and not (self.min <= value <= self.max) and not any(
            math.isclose(value, edge) for edge in (self.min, self.max)
        ):
            msg = f"parameter {name!r} = {value!r} is outside [{self.min}, {self.max}] {self.unit}".rstrip()
            raise ValueError(msg)


_PARAMETER_TYPES = {bool: 1, int: 2, float: 3, str: 4}
_ARRAY_TYPES = {bool: 6, int: 7, float: 8, str: 9}


def parameter_type(value: ParamValue) -> int:
    """rcl_interfaces/ParameterType constant of a default value."""
    if isinstance(value, list):
        return _ARRAY_TYPES[type(value[0])]
    return _PARAMETER_TYPES[type(value)]


def descriptor_msg(msgs: Any, name: str, param: Param) -> Any:
    """rcl_interfaces/ParameterDescriptor (description with unit, range, read-only)."""
    description = f"{param.description} [{param.unit}]" if param.unit else param.description
    fields: dict[str, Any] = {
        "name": name,
        "type": parameter_type(param.default),
        "description": description,
        "read_only": param.read_only,
    }
    if param.min is not None and isinstance(param.default, float):
        fields["floating_point_range"] = [
            msgs.FloatingPointRange(from_value=float(param.min), to_value=float(param.max), step=0.0)
        ]
    elif param.min is not None and isinstance(param.default, int):
        fields["integer_range"] = [msgs.IntegerRange(from_value=int(param.min), to_value=int(param.max), step=0)]
    return msgs.ParameterDescriptor(**fields)


def check_overrides(params: dict[str, Param], values: dict[str, Any], node_name: str) -> None:
    """Raise ValueError naming the first key in `values` that `params` lacks or would refuse."""
    for key, value in values.items():
        if key not in params:
            msg = f"{node_name}: unknown parameter {key!r}; known: {sorted(params)}"
            raise ValueError(msg)
        params[key].check(f"{node_name}.{key}", value)
