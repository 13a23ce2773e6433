"""Learning: the feedback learner (threshold recalibration, gated fine-tuning, precision estimates)."""
