"""Inspection: the torch defect classifier (supervised + good-only anomaly score, calibrated)."""
