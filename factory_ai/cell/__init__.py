"""Cell: the pick-and-reject pipeline, written once, driven by the twin or by ROS topics."""
