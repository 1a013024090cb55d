"""Helpers that make small media files for tests and benchmarks (no external data needed)."""
