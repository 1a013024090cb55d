"""binauralize: mono soundtrack of a video -> binaural audio placed where the sources are seen."""
__version__ = "0.1.0"

from .api import Binauralizer, binauralize_file  # noqa: E402
from .dsp.render import RenderOptions  # noqa: E402
from .tracks import SourceTrack, load_tracks  # noqa: E402

__all__ = ["Binauralizer", "binauralize_file", "RenderOptions", "SourceTrack", "load_tracks", "__version__"]
