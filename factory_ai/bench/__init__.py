"""Benchmarks behind `factory-ai bench NAME`: each prints figures and ratios against a peer run in the same process."""
