"""Datasets: the synthetic binaural generator (synth.py)."""
