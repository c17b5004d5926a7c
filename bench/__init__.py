"""Benchmarks: drive a real server the way clients do and report figures (not tests)."""
