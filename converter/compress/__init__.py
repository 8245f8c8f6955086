"""Compression of a model beyond int8 (``budget``: mixed precision under a flash budget)."""
