"""Sim: the MuJoCo digital twin of the cell (physics, camera, suction, controller). Imports no other concern."""
