"""What every factory_ai lifecycle node shares: parameters, diagnostics, entity bookkeeping, main().

Written to the ROS 2 Jazzy rclpy API (7.1): `rclpy.lifecycle.Node`, lifecycle publishers
(they drop messages until the node is active), `rclpy.try_shutdown()`.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import Node, State, TransitionCallbackReturn

from factory_ai.nodes import convert
from factory_ai.nodes.params import Param, descriptor_msg

DIAGNOSTICS_TOPIC = "/diagnostics"  # absolute: the diagnostics aggregator listens there
DEPTH = 10  # history depth of reliable topics


class CellNode(Node):
    """A managed node of the cell: declares its `PARAMS` table and tracks what it creates.

    Subclasses create their publishers/subscriptions/timers/clients in `on_configure` through
    `self.track(...)`; `on_cleanup` and `on_shutdown` destroy them. Subscription callbacks check
    `self.active` (only publishers are managed by rclpy's lifecycle).
    """

    def __init__(self, node_name: str, params: dict[str, Param], **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.msgs = convert.rclpy_types()
        self.params_table = params
        self.active = False
        self._entities: list[Any] = []
        self._diag_pub = None
        for name, param in params.items():
            self.declare_parameter(name, param.default, descriptor_msg(self.msgs, name, param))

    # -- parameters -----------------------------------------------------------------------

    def read_parameters(self) -> dict[str, Any]:
        """Current value of every parameter of the table."""
        return {name: self.get_parameter(name).value for name in self.params_table}

    # -- time -----------------------------------------------------------------------------

    def now_s(self) -> float:
        """Node clock (ROS time; sim time under use_sim_time) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # -- entities -------------------------------------------------------------------------

    def track(self, entity: Any) -> Any:
        """Remember an entity made in on_configure so on_cleanup destroys it; returns it."""
        self._entities.append(entity)
        return entity

    def destroy_tracked(self) -> None:
        """Destroy every tracked entity (reverse creation order)."""
        from rclpy.action import ActionClient, ActionServer
        from rclpy.client import Client
        from rclpy.lifecycle import Publisher as LifecyclePublisher
        from rclpy.service import Service
        from rclpy.subscription import Subscription
        from rclpy.timer import Timer

        for e in reversed(self._entities):
            if isinstance(e, LifecyclePublisher):
                self.destroy_lifecycle_publisher(e)
            elif isinstance(e, Subscription):
                self.destroy_subscription(e)
            elif isinstance(e, Timer):
                self.destroy_timer(e)
            elif isinstance(e, Client):
                self.destroy_client(e)
            elif isinstance(e, Service):
                self.destroy_service(e)
            elif isinstance(e, (ActionClient, ActionServer)):
                e.destroy()
            elif hasattr(e, "destroy"):
                e.destroy()
        self._entities.clear()
        self._diag_pub = None

    # -- diagnostics ----------------------------------------------------------------------

    def create_diagnostics_publisher(self) -> None:
        """Lifecycle publisher on /diagnostics (call in on_configure)."""
        self._diag_pub = self.track(
            self.create_lifecycle_publisher(self.msgs.DiagnosticArray.cls, DIAGNOSTICS_TOPIC, DEPTH)
        )

    def publish_statuses(self, statuses: list[Any]) -> None:
        """Publish DiagnosticStatus messages on /diagnostics (dropped while inactive)."""
        if self._diag_pub is not None and statuses:
            self._diag_pub.publish(convert.diagnostics_msg(self.msgs, statuses, self.now_s()))

    def publish_status(self, level: str, message: str, values: dict[str, Any] | None = None) -> None:
        """One status named after this node ('ok', 'warn', 'error')."""
        name = self.get_fully_qualified_name()
        self.publish_statuses([convert.status_msg(self.msgs, name, level, message, values, hardware_id="factory_ai")])

    # -- lifecycle defaults -----------------------------------------------------------------

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start processing; the base class enables the lifecycle publishers."""
        self.active = True
        self.get_logger().info("active")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop processing; the base class disables the lifecycle publishers."""
        self.active = False
        self.get_logger().info("inactive")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Destroy what on_configure made and drop the core objects."""
        self.destroy_tracked()
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Like cleanup, from any state."""
        self.active = False
        self.destroy_tracked()
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def release(self) -> None:
        """Drop heavy core objects (override)."""

    def configure_failed(self, what: str, exc: BaseException) -> TransitionCallbackReturn:
        """Log why on_configure failed, undo what it made, and stay unconfigured."""
        self.get_logger().error(f"configure failed: {what}: {exc}")
        self.get_logger().debug(traceback.format_exc())
        self.destroy_tracked()
        self.release()
        return TransitionCallbackReturn.FAILURE


def guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for callbacks: skip while inactive; log an exception instead of dying.

    An exception escaping a callback ends `rclpy.spin`, i.e. the node; a malformed message must
    cost one log line (throttled), never the process.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(self: CellNode, *args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return None
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - keep the node alive, say what failed
                self.get_logger().error(f"{what}: {type(exc).__name__}: {exc}", throttle_duration_sec=2.0)
                return None

        return inner

    return wrap


def run(node_factory: Callable[[], Node], args: list[str] | None = None) -> None:
    """Body of every node's `main(args=None)` (Jazzy: no `with rclpy.init()`)."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
