"""binauralize: mono soundtrack of a video -> binaural audio placed where the sources are seen."""
__version__ = "0.1.0"

import os as _os

# PyTorch's OpenMP threads sleep instead of spinning while they wait: on a machine whose cores are busy with anything
# else, spinning made the object detector 2.7x and the learned models 1.2x slower; idle, passive costs 0-5%
# (benchmarks/omp_contention.py, docs/benchmarks.md). Read when PyTorch loads; an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .api import Binauralizer, binauralize_file  # noqa: E402
from .dsp.render import RenderOptions  # noqa: E402
from .tracks import SourceTrack, load_tracks  # noqa: E402

__all__ = ["Binauralizer", "binauralize_file", "RenderOptions", "SourceTrack", "load_tracks", "__version__"]
