"""Errors the user can act on. The CLI prints their message as one line and exits non-zero."""


class BinauralizeError(Exception):
    """A problem with the user's input or environment, with a message fit for one line on a terminal."""


class InputError(BinauralizeError):
    """The input media or file cannot be used (missing, corrupt, no audio, unsupported...)."""


class TracksError(BinauralizeError):
    """The tracks (sources) file is malformed."""


class OptionsError(BinauralizeError, ValueError):
    """A renderer or tool option out of its range or of the wrong type (also a ValueError, as before)."""


class OutputError(BinauralizeError):
    """The output cannot be written (exists without --overwrite, bad extension, unwritable folder...)."""


class LossNotice(str):
    """A notice that part of the input will not be in the output (a stream or track left out). Unlike other
    notices it is shown even with ``--quiet``: losing something the user had is never silent."""
