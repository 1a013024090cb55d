"""Binaural quality metrics: signal distances matching the papers' code, and interaural cue measures."""
