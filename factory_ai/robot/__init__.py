"""Robot model: URDF loading, forward kinematics, Jacobians (single and batched torch) and IK."""
