"""Worked examples (the MNIST demo); importable by tests and benchmarks from the repo root."""
