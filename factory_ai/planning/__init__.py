"""Planning: intercept a moving part, jerk-limited collision-free reject trajectories, scheduling."""
