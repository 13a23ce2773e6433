"""Vision: parts in the overhead camera image -> tracked poses on the belt (base frame). OpenCV + numpy."""
