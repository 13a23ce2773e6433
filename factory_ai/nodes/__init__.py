"""ROS 2 nodes: thin lifecycle nodes that convert messages and call the core. The only place rclpy is imported."""
