"""A tiny in-process stand-in for rclpy (and the message packages), to run the nodes' logic here.

Not ROS: one `Bus` holds topics, services, action servers and parameters; messages are delivered
when the test calls `bus.spin()`; timers fire when the test calls `bus.fire_timers()`; the clock
is the bus's `now_s`. It models what the nodes rely on from rclpy 7.1 closely enough to catch
wrong attribute names, wrong message fields (messages are the strict rosidl-like classes of
`nodes_helpers`), exceptions escaping callbacks, and broken callback chains. The real rclpy
plumbing is exercised by the launch tests in test/ros/ on a ROS machine.
"""

from __future__ import annotations

import enum
import sys
import types
from collections import defaultdict
from typing import Any

from nodes_helpers import strict_rclpy_classes


class Bus:
    """Topics, services, actions and nodes of one fake ROS graph."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.subs: dict[str, list[Any]] = defaultdict(list)
        self.queue: list[tuple[str, Any]] = []
        self.published: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Any] = {}
        self.action_servers: dict[str, Any] = {}
        self.nodes: dict[str, Any] = {}
        self.timers: list[Any] = []
        self.tasks: list[Any] = []

    @staticmethod
    def resolve(name: str) -> str:
        return name if name.startswith("/") else "/" + name

    def spin(self, rounds: int = 5) -> None:
        """Deliver queued messages and resume waiting coroutines, a few rounds deep."""
        for _ in range(rounds):
            queue, self.queue = self.queue, []
            for topic, msg in queue:
                for sub in list(self.subs.get(topic, [])):
                    if not sub.destroyed:
                        sub.callback(msg)
            for task in list(self.tasks):
                task.step()
            if not self.queue:
                break

    def fire_timers(self, owner: Any | None = None) -> None:
        for t in list(self.timers):
            if not t.destroyed and (owner is None or t.node is owner):
                t.callback()


BUS = Bus()


class Future:
    def __init__(self) -> None:
        self._done, self._result, self._callbacks = False, None, []

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        return self._result

    def set_result(self, value: Any) -> None:
        self._done, self._result = True, value
        for cb in self._callbacks:
            cb(self)

    def add_done_callback(self, cb: Any) -> None:
        if self._done:
            cb(self)
        else:
            self._callbacks.append(cb)

    def __await__(self):
        while not self._done:
            yield
        return self._result


class Task:
    def __init__(self, coro: Any, on_done: Any) -> None:
        self.coro, self.on_done = coro, on_done

    def step(self) -> None:
        try:
            self.coro.send(None)
        except StopIteration as stop:
            BUS.tasks.remove(self)
            self.on_done(stop.value)


class Entity:
    destroyed = False

    def destroy(self) -> None:
        self.destroyed = True


class Subscription(Entity):
    def __init__(self, node: Any, topic: str, callback: Any) -> None:
        self.node, self.topic, self.callback = node, topic, callback


class Publisher(Entity):
    def __init__(self, node: Any, topic: str, qos: Any = None) -> None:
        self.node, self.topic, self.enabled, self.qos = node, topic, False, qos

    def publish(self, msg: Any) -> None:
        if self.enabled:  # lifecycle publishers drop messages while inactive
            BUS.published[self.topic].append(msg)
            BUS.queue.append((self.topic, msg))


class Timer(Entity):
    def __init__(self, node: Any, period: float, callback: Any) -> None:
        self.node, self.period, self.callback = node, period, callback


class Service(Entity):
    def __init__(self, name: str, srv: Any, callback: Any) -> None:
        self.name, self.srv, self.callback = name, srv, callback


class Client(Entity):
    def __init__(self, srv: Any, name: str) -> None:
        self.srv, self.name = srv, name

    def service_is_ready(self) -> bool:
        return self.name in BUS.services

    def call_async(self, request: Any) -> Future:
        service = BUS.services[self.name]
        f = Future()
        f.set_result(service.callback(request, service.srv.Response()))
        return f


class Logger:
    def __init__(self, name: str) -> None:
        self.name, self.records = name, []

    def _log(self, level: str, msg: str, **_: Any) -> None:
        self.records.append((level, str(msg)))

    def debug(self, msg, **kw):
        self._log("debug", msg, **kw)

    def info(self, msg, **kw):
        self._log("info", msg, **kw)

    def warning(self, msg, **kw):
        self._log("warn", msg, **kw)

    warn = warning

    def error(self, msg, **kw):
        self._log("error", msg, **kw)


class _Time:
    def __init__(self, s: float) -> None:
        self.nanoseconds = round(s * 1e9)


class Clock:
    def now(self) -> _Time:
        return _Time(BUS.now_s)


class ParamValue:
    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class TransitionCallbackReturn(enum.Enum):
    SUCCESS = 1
    FAILURE = 2
    ERROR = 3


class LifecycleNode:
    def __init__(self, node_name: str, **kwargs: Any) -> None:
        self._name = node_name
        self._params: dict[str, Any] = {}
        self._descriptors: dict[str, Any] = {}
        self._post_set: list[Any] = []
        self._publishers: list[Publisher] = []
        self._logger = Logger(node_name)
        self._overrides = kwargs.get("parameter_overrides", {})
        BUS.nodes[node_name] = self

    # parameters
    def declare_parameter(self, name: str, value: Any, descriptor: Any) -> None:
        assert name not in self._params, f"parameter {name} declared twice"
        assert descriptor.description, name
        self._params[name] = self._overrides.get(name, value)
        self._descriptors[name] = descriptor

    def get_parameter(self, name: str) -> ParamValue:
        return ParamValue(name, self._params[name])

    def set_parameters(self, params: list[Any]) -> list[Any]:
        results = []
        for p in params:
            ok = p.name in self._params
            if ok:
                self._params[p.name] = p.value
            results.append(types.SimpleNamespace(successful=ok, reason="" if ok else "undeclared"))
        for cb in self._post_set:
            cb([p for p in params if p.name in self._params])
        return results

    def add_post_set_parameters_callback(self, cb: Any) -> None:
        self._post_set.append(cb)

    # entities
    def create_lifecycle_publisher(self, cls: Any, topic: str, qos: Any) -> Publisher:
        pub = Publisher(self, BUS.resolve(topic), qos)
        self._publishers.append(pub)
        return pub

    def destroy_lifecycle_publisher(self, pub: Publisher) -> None:
        pub.destroy()

    def create_subscription(self, cls: Any, topic: str, cb: Any, qos: Any) -> Subscription:
        sub = Subscription(self, BUS.resolve(topic), cb)
        BUS.subs[sub.topic].append(sub)
        return sub

    def create_timer(self, period: float, cb: Any) -> Timer:
        t = Timer(self, period, cb)
        BUS.timers.append(t)
        return t

    def create_client(self, srv: Any, name: str) -> Client:
        return Client(srv, BUS.resolve(name))

    def create_service(self, srv: Any, name: str, cb: Any) -> Service:
        s = Service(BUS.resolve(name), srv, cb)
        BUS.services[s.name] = s
        return s

    def destroy_subscription(self, e):
        e.destroy()

    def destroy_timer(self, e):
        e.destroy()

    def destroy_client(self, e):
        e.destroy()

    def destroy_service(self, e):
        e.destroy()
        BUS.services.pop(e.name, None)

    def destroy_node(self) -> None:
        BUS.nodes.pop(self._name, None)

    # misc
    def get_logger(self) -> Logger:
        return self._logger

    def get_clock(self) -> Clock:
        return Clock()

    def get_fully_qualified_name(self) -> str:
        return "/" + self._name

    # lifecycle
    def on_activate(self, state: Any) -> TransitionCallbackReturn:
        for p in self._publishers:
            p.enabled = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: Any) -> TransitionCallbackReturn:
        for p in self._publishers:
            p.enabled = False
        return TransitionCallbackReturn.SUCCESS

    def trigger_configure(self) -> TransitionCallbackReturn:
        return self.on_configure(None)

    def trigger_activate(self) -> TransitionCallbackReturn:
        return self.on_activate(None)


class GoalResponse(enum.Enum):
    REJECT = 1
    ACCEPT = 2


class CancelResponse(enum.Enum):
    REJECT = 1
    ACCEPT = 2


class ServerGoalHandle:
    def __init__(self, server: Any, request: Any) -> None:
        self.server, self.request = server, request
        self.status = 1  # ACCEPTED
        self.is_cancel_requested = False
        self.result_future = Future()

    @property
    def is_active(self) -> bool:
        return self.status in (1, 2)

    def execute(self) -> None:
        self.status = 2
        coro = self.server.execute_callback(self)
        BUS.tasks.append(Task(coro, self._finish))

    def _finish(self, result: Any) -> None:
        if self.is_active:
            self.status = 6
        self.result_future.set_result(types.SimpleNamespace(status=self.status, result=result))

    def succeed(self):
        self.status = 4

    def abort(self):
        self.status = 6

    def canceled(self):
        self.status = 5


class ActionServer(Entity):
    def __init__(self, node, action_type, name, execute_callback, *, goal_callback, handle_accepted_callback, cancel_callback, **_):
        self.execute_callback = execute_callback
        self.goal_callback, self.accepted_callback, self.cancel_callback = goal_callback, handle_accepted_callback, cancel_callback
        self.name = BUS.resolve(name)
        BUS.action_servers[self.name] = self
        self.goals: list[ServerGoalHandle] = []

    def destroy(self) -> None:
        super().destroy()
        BUS.action_servers.pop(self.name, None)


class ClientGoalHandle:
    def __init__(self, server_handle: ServerGoalHandle | None) -> None:
        self._h = server_handle
        self.accepted = server_handle is not None

    def get_result_async(self) -> Future:
        return self._h.result_future

    def cancel_goal_async(self) -> Future:
        self._h.is_cancel_requested = True
        return Future()


class ActionClient(Entity):
    def __init__(self, node, action_type, name) -> None:
        self.name = BUS.resolve(name)
        self.sent: list[Any] = []

    def server_is_ready(self) -> bool:
        return self.name in BUS.action_servers

    def send_goal_async(self, goal: Any, feedback_callback: Any = None) -> Future:
        self.sent.append(goal)
        server = BUS.action_servers[self.name]
        f = Future()
        if server.goal_callback(goal) != GoalResponse.ACCEPT:
            f.set_result(ClientGoalHandle(None))
            return f
        handle = ServerGoalHandle(server, goal)
        server.goals.append(handle)
        server.accepted_callback(handle)
        f.set_result(ClientGoalHandle(handle))
        return f


class AsyncParameterClient:
    def __init__(self, node: Any, remote_node_name: str) -> None:
        self.remote_node_name = remote_node_name

    def services_are_ready(self) -> bool:
        return self.remote_node_name in BUS.nodes

    def set_parameters(self, params: list[Any]) -> Future:
        from factory_ai.nodes.convert import parameter_value_to_python

        plain = [ParamValue(p.name, parameter_value_to_python(p.value)) for p in params]
        f = Future()
        f.set_result(types.SimpleNamespace(results=BUS.nodes[self.remote_node_name].set_parameters(plain)))
        return f


def _message_modules() -> dict[str, types.ModuleType]:
    """sensor_msgs.msg, std_srvs.srv, control_msgs.action, moveit_msgs.msg/srv, ... with strict
    rosidl-like classes."""
    from factory_ai.nodes import convert
    from factory_ai.nodes.moveit_msg_defs import MOVEIT_TYPE_NAMES, register_moveit_types

    store = register_moveit_types(convert.rosbags_types().typestore)
    full_names = sorted({*convert.TYPE_NAMES.values(), *MOVEIT_TYPE_NAMES.values()})
    classes = strict_rclpy_classes(store, full_names)
    mods: dict[str, types.ModuleType] = {}
    for full, cls in classes.items():
        pkg, kind, name = full.split("/")
        mod = mods.setdefault(f"{pkg}.{kind}", types.ModuleType(f"{pkg}.{kind}"))
        mods.setdefault(pkg, types.ModuleType(pkg))
        if kind in ("srv", "action"):
            base, _, part = name.rpartition("_")
            holder = getattr(mod, base, None) or types.SimpleNamespace()
            setattr(holder, part, cls)
            setattr(mod, base, holder)
        else:
            setattr(mod, name, cls)
    return mods


def install(monkeypatch: Any) -> Bus:
    """Put the fake rclpy, tf2_ros and message packages in sys.modules; returns a fresh bus."""
    global BUS
    BUS = Bus()
    m = types.ModuleType
    rclpy = m("rclpy")
    rclpy.init = lambda args=None: None
    rclpy.try_shutdown = lambda: None
    rclpy.spin = lambda node: None
    lifecycle = m("rclpy.lifecycle")
    lifecycle.Node, lifecycle.State, lifecycle.Publisher = LifecycleNode, object, Publisher
    lifecycle.TransitionCallbackReturn = TransitionCallbackReturn
    mods = {
        "rclpy": rclpy,
        "rclpy.lifecycle": lifecycle,
        "rclpy.executors": m("rclpy.executors"),
        "rclpy.qos": m("rclpy.qos"),
        "rclpy.time": m("rclpy.time"),
        "rclpy.task": m("rclpy.task"),
        "rclpy.action": m("rclpy.action"),
        "rclpy.client": m("rclpy.client"),
        "rclpy.service": m("rclpy.service"),
        "rclpy.subscription": m("rclpy.subscription"),
        "rclpy.timer": m("rclpy.timer"),
        "rclpy.parameter_client": m("rclpy.parameter_client"),
        "tf2_ros": m("tf2_ros"),
    }
    mods["rclpy.executors"].ExternalShutdownException = type("ExternalShutdownException", (Exception,), {})
    qos = mods["rclpy.qos"]
    qos.qos_profile_sensor_data = "sensor_data"
    qos.QoSProfile = lambda **kw: types.SimpleNamespace(**kw)
    qos.HistoryPolicy = enum.Enum("HistoryPolicy", "KEEP_LAST KEEP_ALL")
    qos.ReliabilityPolicy = enum.Enum("ReliabilityPolicy", "RELIABLE BEST_EFFORT")
    qos.DurabilityPolicy = enum.Enum("DurabilityPolicy", "TRANSIENT_LOCAL VOLATILE")
    mods["rclpy.time"].Time = lambda *a, **k: 0
    mods["rclpy.task"].Future = Future
    act = mods["rclpy.action"]
    act.ActionClient, act.ActionServer, act.GoalResponse, act.CancelResponse = ActionClient, ActionServer, GoalResponse, CancelResponse
    mods["rclpy.client"].Client = Client
    mods["rclpy.service"].Service = Service
    mods["rclpy.subscription"].Subscription = Subscription
    mods["rclpy.timer"].Timer = Timer
    mods["rclpy.parameter_client"].AsyncParameterClient = AsyncParameterClient
    tf2 = mods["tf2_ros"]
    tf2.Buffer = lambda: types.SimpleNamespace(can_transform=lambda *a: False)
    tf2.TransformListener = lambda buffer, node: object()
    tf2.StaticTransformBroadcaster = lambda node: types.SimpleNamespace(sendTransform=lambda msg: BUS.published["/tf_static"].append(msg))
    mods.update(_message_modules())
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    for name in [n for n in sys.modules if n.startswith("factory_ai.nodes.") and (n.endswith("_node") or n.endswith("common"))]:
        monkeypatch.delitem(sys.modules, name)  # re-import the nodes against the fakes
    return BUS
