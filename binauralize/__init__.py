"""binauralize: mono soundtrack of a video -> binaural audio placed where the sources are seen."""
__version__ = "0.1.0"
