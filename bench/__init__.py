"""Benchmarks of the local stack (``make bench``): figures, never pass/fail timings."""
