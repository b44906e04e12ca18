"""Benchmarks of the sticker pipeline (run with ``python -m bench``)."""
