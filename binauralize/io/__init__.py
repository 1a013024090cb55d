"""Media and audio input/output."""
