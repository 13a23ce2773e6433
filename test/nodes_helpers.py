"""Stand-ins for rclpy's generated message classes, for testing `convert` without ROS.

`strict_rclpy_classes()` builds, from rosbags' Jazzy field definitions, classes that behave like
rosidl_generator_py's output where it bites: keyword-only construction with defaults,
`get_fields_and_field_types()` with rosidl type strings, and setters that assert exact Python
types (float for float64, int for integers, 1-byte `bytes` for `byte`, `array.array` or a list of
Python scalars for `sequence<...>`, numpy arrays of the right dtype and size for fixed arrays,
nested messages of the right class). Byte constants are `bytes`, as in rclpy.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import Any

import numpy as np

_RCLPY_NAMES = {"float64": "double", "float32": "float", "bool": "boolean", "byte": "octet", "char": "uint8"}
_TYPECODES = {
    "int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
    "int64": "q", "uint64": "Q", "float": "f", "double": "d",
}  # fmt: skip
_DTYPES = {"double": np.float64, "float": np.float32, "boolean": np.bool_, "octet": np.uint8}


def _kind(desc: tuple) -> int:
    return desc[0].value if hasattr(desc[0], "value") else desc[0]


def _short(full: str) -> str:
    pkg, _, name = full.split("/")
    return f"{pkg}/{name}"


def _scalar_ok(t: str, v: Any) -> bool:
    if t in ("double", "float"):
        return isinstance(v, float)
    if t in _TYPECODES:
        return isinstance(v, int)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "octet":
        return isinstance(v, bytes) and len(v) == 1
    if t == "string":
        return isinstance(v, str)
    return False


def strict_rclpy_classes(store: Any, typenames: list[str]) -> dict[str, type]:
    """Full type name -> strict rclpy-like class, for `typenames` and every type they nest."""
    classes: dict[str, type] = {}

    def make(full: str) -> type:
        if full in classes:
            return classes[full]
        consts, fields = store.fielddefs[full]
        types: dict[str, str] = {}
        checks: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for name, desc in fields:
            kind = _kind(desc)
            if kind == 1:
                t = _RCLPY_NAMES.get(desc[1][0], desc[1][0])
                types[name] = t
                checks[name] = ("scalar", t)
                defaults[name] = (
                    "" if t == "string" else False if t == "boolean" else b"\x00" if t == "octet"
                    else 0.0 if t in ("double", "float") else 0
                )  # fmt: skip
            elif kind == 2:
                sub = make(desc[1])
                types[name] = _short(desc[1])
                checks[name] = ("msg", sub)
                defaults[name] = sub
            else:
                (sub_desc, size) = desc[1]
                sub_kind = sub_desc[0].value if hasattr(sub_desc[0], "value") else sub_desc[0]
                if sub_kind == 1:
                    t = _RCLPY_NAMES.get(sub_desc[1][0], sub_desc[1][0])
                    elem = ("scalar", t)
                else:
                    t = _short(sub_desc[1])
                    elem = ("msg", make(sub_desc[1]))
                if kind == 3:
                    types[name] = f"{t}[{size}]"
                    checks[name] = ("array", elem, size)
                    defaults[name] = ("array", elem, size)
                else:
                    types[name] = f"sequence<{t}>"
                    checks[name] = ("sequence", elem)
                    defaults[name] = ("sequence", elem)

        def init(self: Any, **kwargs: Any) -> None:
            unknown = set(kwargs) - set(types)
            assert not unknown, f"Invalid arguments passed to constructor: {sorted(unknown)}"
            for name in types:
                if name in kwargs:
                    setattr(self, name, kwargs[name])
                else:
                    object.__setattr__(self, name, _default(defaults[name]))

        def setattr_(self: Any, name: str, value: Any) -> None:
            assert name in checks, f"{full} has no field {name}"
            object.__setattr__(self, name, _checked(full, name, checks[name], value))

        attrs = {"__init__": init, "__setattr__": setattr_, "__msgtype__": full}
        attrs["get_fields_and_field_types"] = classmethod(lambda cls: dict(types))
        for cname, ctype, cvalue in consts:
            attrs[cname] = bytes([cvalue]) if ctype == "byte" else cvalue
        cls = type(full.replace("/", "__"), (), attrs)
        classes[full] = cls
        return cls

    for name in typenames:
        make(name)
    return classes


def _default(d: Any) -> Any:
    if isinstance(d, type):
        return d()
    if isinstance(d, tuple) and d[0] == "array":
        _, (ekind, et), size = d
        if ekind == "scalar" and et in _TYPECODES or et in _DTYPES:
            return np.zeros(size, dtype=_DTYPES.get(et, np.dtype(_TYPECODES.get(et, "d"))))
        return [et() if ekind == "msg" else "" for _ in range(size)]
    if isinstance(d, tuple) and d[0] == "sequence":
        _, (ekind, et) = d
        return array.array(_TYPECODES[et]) if ekind == "scalar" and et in _TYPECODES else []
    return d


def _checked(full: str, name: str, check: tuple, value: Any) -> Any:
    where = f"{full}.{name}"
    if check[0] == "scalar":
        assert _scalar_ok(check[1], value), f"{where}: {value!r} ({type(value).__name__}) is not a {check[1]}"
        return value
    if check[0] == "msg":
        assert isinstance(value, check[1]), f"{where}: {type(value).__name__} is not {check[1].__name__}"
        return value
    if check[0] == "array":
        _, (ekind, et), size = check
        if ekind == "scalar" and (et in _TYPECODES or et in _DTYPES):
            want = np.dtype(_DTYPES.get(et, np.dtype(_TYPECODES.get(et, "d"))))
            if isinstance(value, np.ndarray):
                assert value.dtype == want and value.size == size, f"{where}: needs {want} x {size}, got {value.dtype} x {value.size}"
                return value
            assert isinstance(value, Sequence) and len(value) == size, f"{where}: needs {size} values"
            assert all(_scalar_ok(et, v) for v in value), f"{where}: values must be {et}"
            return np.array(value, dtype=want)
        assert len(value) == size
        return list(value)
    _, (ekind, et) = check
    if ekind == "scalar" and et in _TYPECODES:
        if isinstance(value, array.array):
            assert value.typecode == _TYPECODES[et], f"{where}: array.array typecode {value.typecode} != {_TYPECODES[et]}"
            return value
        assert isinstance(value, Sequence) and not isinstance(value, str), f"{where}: {type(value).__name__} is not a sequence"
        assert all(_scalar_ok(et, v) for v in value), f"{where}: every value must be a Python {et}"
        return array.array(_TYPECODES[et], value)
    assert isinstance(value, Sequence) and not isinstance(value, str), f"{where}: {type(value).__name__} is not a sequence"
    if ekind == "scalar":
        assert all(_scalar_ok(et, v) for v in value), f"{where}: every value must be a {et}"
    else:
        assert all(isinstance(v, et) for v in value), f"{where}: every element must be {et.__name__}"
    return list(value)
