"""Seeing the sources: detectors with registry-installed weights, sounding-object choice, tracking."""
