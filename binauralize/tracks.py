"""Source tracks: where each sound source is over time, and the JSON schema users write them in.

Schema (``--sources tracks.json``; the same schema the localizer writes)::

    {
      "version": 1,
      "sources": [
        {"name": "singer", "azimuth": 30, "elevation": 0, "distance": 2.0},
        {"name": "car", "track": [[0.0, 60, 0, 5.0], [4.0, -60, 0, 5.0]]},
        {"name": "dog", "track": [[0.0, -20], [2.0, -25]], "weight": [[0.0, 1.0], [2.0, 0.0]]}
      ]
    }

- A source is either static (``azimuth`` [deg], optional ``elevation`` [deg, default 0], ``distance`` [m, default
  2]) or a ``track``: a list of ``[time_s, azimuth_deg, elevation_deg?, distance_m?]`` points, times increasing.
  Between points the direction is interpolated linearly (azimuth along the shorter way round); before the
  first and after the last point it is held.
- Azimuth positive = LEFT, 0 = straight ahead (SOFA convention, see docs/conventions.md).
- ``weight`` (optional): a number, or ``[[time_s, w], ...]``, how much of the mono mix is attributed to this
  source at each time (default 1). With several sources on one mono track, weights are normalised to sum to one.
- A bare list of sources (without the ``{"version", "sources"}`` wrapper) is accepted too.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace, dataclass, field
from pathlib import Path

import numpy as np

from .errors import TracksError

SCHEMA_VERSION = 1


@dataclass
class SourceTrack:
    """One sound source over time.

    Attributes:
        times: ``[K]`` seconds, increasing.
        azimuth, elevation: ``[K]`` degrees (azimuth positive = left).
        distance: ``[K]`` metres.
        weight: ``[K]`` share of the mono attributed to this source (>= 0), sampled at ``weight_times``.
    """

    name: str
    times: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    distance: np.ndarray
    weight_times: np.ndarray = field(default_factory=lambda: np.zeros(1))
    weight: np.ndarray = field(default_factory=lambda: np.ones(1))
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        """TracksError for what the JSON schema refuses too: non-finite or non-numeric values, lengths that differ,
        times that do not increase, elevations beyond +-90 deg, distances <= 0, negative weights."""
        where = f"source '{self.name}'"
        for what in ("times", "azimuth", "elevation", "distance", "weight_times", "weight"):
            try:
                v = np.atleast_1d(np.asarray(getattr(self, what), dtype=float))
            except (TypeError, ValueError):
                raise TracksError(f"{where}: {what} must be numbers") from None
            if v.ndim != 1 or v.size == 0:
                raise TracksError(f"{where}: {what} must be a non-empty 1-D array")
            if not np.all(np.isfinite(v)):  # a NaN would silently turn the output into NaN
                raise TracksError(f"{where}: {what} must be finite numbers")
            object.__setattr__(self, what, v)
        n = len(self.times)
        if not len(self.azimuth) == len(self.elevation) == len(self.distance) == n:
            raise TracksError(f"{where}: times, azimuth, elevation and distance must have one value per time point "
                              f"(lengths {n}, {len(self.azimuth)}, {len(self.elevation)}, {len(self.distance)})")
        if len(self.weight) != len(self.weight_times):
            raise TracksError(f"{where}: weight and weight_times must have the same length")
        if np.any(np.diff(self.times) <= 0):
            raise TracksError(f"{where}: track times must be strictly increasing")
        if np.any(np.diff(self.weight_times) <= 0):
            raise TracksError(f"{where}: weight times must be strictly increasing")
        if np.any(np.abs(self.elevation) > 90):
            raise TracksError(f"{where}: elevation must be within [-90, 90] degrees")
        if np.any(self.distance <= 0):
            raise TracksError(f"{where}: distance must be positive (metres)")
        if np.any(self.weight < 0):
            raise TracksError(f"{where}: weights must be >= 0")

    @classmethod
    def static(cls, azimuth: float, elevation: float = 0.0, distance: float = 2.0, name: str = "source") -> "SourceTrack":
        """A source that does not move."""
        try:
            az, el, dist = float(azimuth), float(elevation), float(distance)
        except (TypeError, ValueError):
            raise TracksError(f"source '{name}': azimuth, elevation and distance must be numbers") from None
        return cls(name, np.zeros(1), np.array([az]), np.array([el]), np.array([dist]))

    def at(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Direction at times ``t`` [N] seconds -> (azimuth deg, elevation deg, distance m, weight), each [N]."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        unwrapped = np.rad2deg(np.unwrap(np.deg2rad(self.azimuth)))
        az = np.interp(t, self.times, unwrapped)
        az = np.mod(az + 180.0, 360.0) - 180.0
        el = np.interp(t, self.times, self.elevation)
        dist = np.interp(t, self.times, self.distance)
        w = np.interp(t, self.weight_times, self.weight)
        return az, el, dist, w

    def to_dict(self) -> dict:
        """JSON-ready dict in the documented schema."""
        d: dict = {"name": self.name}
        if len(self.times) == 1:
            d.update(azimuth=_r(self.azimuth[0]), elevation=_r(self.elevation[0]), distance=_r(self.distance[0]))
        else:
            d["track"] = [[_r(t), _r(a), _r(e), _r(r)] for t, a, e, r in
                          zip(self.times, self.azimuth, self.elevation, self.distance)]
        if not (len(self.weight) == 1 and self.weight[0] == 1.0):
            d["weight"] = [[_r(t), _r(w)] for t, w in zip(self.weight_times, self.weight)]
        if self.info:
            d["info"] = self.info
        return d


def _r(v: float) -> float:
    return round(float(v), 4)


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TracksError(f"{what} must be a finite number, got {v!r}")
    return float(v)


SOURCE_KEYS = ("name", "azimuth", "elevation", "distance", "track", "weight", "info")


def _parse_source(obj, i: int) -> SourceTrack:
    if not isinstance(obj, dict):
        raise TracksError(f"source #{i}: expected an object, got {type(obj).__name__}")
    name = str(obj.get("name", f"source{i}"))
    where = f"source '{name}'"
    for key in obj:
        if key not in SOURCE_KEYS:  # a misspelt key would otherwise be ignored silently
            import difflib

            near = difflib.get_close_matches(str(key), SOURCE_KEYS, n=1)
            raise TracksError(f"{where}: unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else
                                                                 f"; the keys are {', '.join(SOURCE_KEYS)}"))
    static = [k for k in ("azimuth", "elevation", "distance") if k in obj]
    if "track" in obj and static:  # one of the two would be ignored
        raise TracksError(f"{where}: give either 'track' (moving: [time, azimuth, elevation?, distance?] points) or "
                          f"{'/'.join(repr(k) for k in static)} (static), not both")
    if "track" in obj:
        pts = obj["track"]
        if not isinstance(pts, list) or not pts:
            raise TracksError(f"{where}: 'track' must be a non-empty list of [time, azimuth, elevation?, distance?]")
        rows = []
        for j, p in enumerate(pts):
            if not isinstance(p, (list, tuple)) or not 2 <= len(p) <= 4:
                raise TracksError(f"{where}: track point #{j} must be [time, azimuth, elevation?, distance?], got {p!r}")
            vals = [_number(v, f"{where} point #{j}") for v in p]
            vals += [0.0, 2.0][len(vals) - 2:]
            rows.append(vals)
        times, az, el, dist = np.array(rows).T
    elif "azimuth" in obj:
        times = np.zeros(1)
        az = np.array([_number(obj["azimuth"], f"{where} azimuth")])
        el = np.array([_number(obj.get("elevation", 0.0), f"{where} elevation")])
        dist = np.array([_number(obj.get("distance", 2.0), f"{where} distance")])
    else:
        raise TracksError(f"{where}: needs either 'azimuth' (static) or 'track' (moving)")
    wt, w = np.zeros(1), np.ones(1)
    if "weight" in obj:
        wv = obj["weight"]
        if isinstance(wv, list):
            try:
                warr = np.array([[_number(a, f"{where} weight"), _number(b, f"{where} weight")] for a, b in wv])
            except (TypeError, ValueError):
                raise TracksError(f"{where}: 'weight' must be a number or a list of [time, weight]")
            if len(warr) == 0:
                raise TracksError(f"{where}: 'weight' must be a number or a non-empty list of [time, weight]")
            wt, w = warr[:, 0], warr[:, 1]
        else:
            w = np.array([_number(wv, f"{where} weight")])
    info = obj.get("info", {}) if isinstance(obj.get("info", {}), dict) else {}
    return SourceTrack(name, times, az, el, dist, wt, w, info)  # checks ranges and order (__post_init__)


def parse_tracks(data) -> list[SourceTrack]:
    """Parse the JSON structure (dict with 'sources', or a list) into SourceTracks. Raises TracksError."""
    if isinstance(data, dict):
        if "sources" not in data:
            raise TracksError("tracks file: expected a 'sources' list (see the schema in docs/tracks.md)")
        extra = sorted(str(k) for k in data if k not in ("version", "sources"))
        if extra:  # e.g. a misspelt or misplaced key: it would be ignored silently
            raise TracksError(f"tracks file: unknown key {extra[0]!r} at the top (the keys are 'version' and "
                              "'sources')")
        if data.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise TracksError(f"tracks file: schema version {data['version']!r}; this binauralize reads version "
                              f"{SCHEMA_VERSION}")
        data = data["sources"]
    if not isinstance(data, list):
        raise TracksError("tracks file: 'sources' must be a list")
    return [_parse_source(s, i) for i, s in enumerate(data)]


def load_tracks(path: str | Path) -> list[SourceTrack]:
    """Read a tracks JSON file. Raises TracksError with a one-line reason on any problem."""
    path = Path(path)
    if not path.is_file():
        raise TracksError(f"tracks file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark (Windows editors) is fine
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TracksError(f"tracks file {path.name} is not valid JSON: {exc}")
    return parse_tracks(data)


def tracks_to_json(tracks: list[SourceTrack]) -> dict:
    """Tracks -> JSON-ready dict in the documented schema."""
    return {"version": SCHEMA_VERSION, "sources": [t.to_dict() for t in tracks]}


def shift_tracks(tracks: list[SourceTrack] | None, offset_s: float) -> list[SourceTrack] | None:
    """The same tracks on a clock that starts ``offset_s`` seconds later (for rendering a block of a clip)."""
    if not tracks or offset_s == 0:
        return tracks
    return [replace(t, times=t.times - offset_s, weight_times=t.weight_times - offset_s) for t in tracks]


def block_directions(tracks: list[SourceTrack], times: np.ndarray):
    """Per-time directions and normalised weights of all sources.

    Returns (az [S, N], el [S, N], dist [S, N], w [S, N]) with ``w`` summing to 1 over sources where any is > 0.
    With no sources, one frontal source is used.
    """
    if not tracks:
        tracks = [SourceTrack.static(0.0)]
    cols = [t.at(times) for t in tracks]
    az, el, dist, w = (np.stack(c) for c in zip(*cols))
    tot = w.sum(axis=0, keepdims=True)
    w = np.where(tot > 0, w / np.maximum(tot, 1e-12), 1.0 / len(tracks))
    return az, el, dist, w
