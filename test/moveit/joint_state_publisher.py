"""Publishes a fixed sensor_msgs/JointState on /joint_states at 50 Hz until SIGTERM.

MoveItPy only finishes starting with a live /joint_states publisher in ANOTHER process (its
constructor holds the interpreter), so the MoveIt tests start this script as a subprocess.

    python joint_state_publisher.py '["j1", "j2"]' '[0.1, 0.2]'
"""

from __future__ import annotations

import json
import signal
import sys


def main() -> None:
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import JointState

    names = [str(n) for n in json.loads(sys.argv[1])]
    positions = [float(v) for v in json.loads(sys.argv[2])]
    rclpy.init()
    node = rclpy.create_node("factory_ai_test_joint_states")
    pub = node.create_publisher(JointState, "/joint_states", 10)

    def tick() -> None:
        msg = JointState(name=names, position=positions, velocity=[0.0] * len(names), effort=[])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(0.02, tick)
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
