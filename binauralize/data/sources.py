"""Dry source recordings made from registry packages, for the synthetic generator (issue 5).

``make_sources(out, per_class, seed)`` writes ``out/<class>/<class>_<i>.wav`` (mono, 24 kHz, peak -3 dBFS):

- **speech** (class ``voice``): random English sentences spoken by Debian's espeak-ng, in varied voices
  (accents en-us, en-gb, en-gb-scotland, en-gb-x-rp; male and female variants), rates and pitches;
- **instruments** (classes ``guitar``, ``trumpet``, ``sax``, ``flute``, ``accordion``): random phrases per General
  MIDI program (a scale, a tempo, notes and rests drawn from the seed) written with mido and rendered by Debian's
  fluidsynth with its General MIDI sound font (FluidR3_GM), reverb and chorus off, so the recordings are dry.

Every class has a glyph in :data:`binauralize.data.synth.CLASS_GLYPH`, so the picture shows what sounds.
``binauralize dataset synth --sources-dir DIR`` takes the folder (class = sub-folder), alone or beside others.
Same seed -> same text, notes and voices (the renderers themselves are deterministic).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError

SR = 24000
SOUND_FONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
INSTRUMENTS = {"guitar": 24, "trumpet": 56, "sax": 65, "flute": 73, "accordion": 21}  # GM programs (0-based)
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]
_DET = ["the", "a", "my", "your", "this", "that", "every", "one"]
_ADJ = ["small", "quiet", "bright", "old", "green", "heavy", "curious", "gentle", "busy", "distant", "warm", "late"]
_NOUN = ["river", "window", "teacher", "garden", "engine", "letter", "station", "painter", "kitchen", "morning",
         "bicycle", "concert", "mountain", "doctor", "market", "camera"]
_VERB = ["finds", "moves", "watches", "carries", "opens", "follows", "remembers", "builds", "reaches", "answers"]
_PREP = ["near", "behind", "under", "across", "beside", "after", "before", "inside"]
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "pentatonic": [0, 2, 4, 7, 9],
          "blues": [0, 3, 5, 6, 7, 10]}
RANGES = {"guitar": (52, 76), "trumpet": (58, 82), "sax": (49, 77), "flute": (64, 91), "accordion": (53, 79)}


def check_tools() -> None:
    """One clear error when a renderer is missing."""
    missing = [p for p in ("espeak-ng", "fluidsynth") if shutil.which(p) is None]
    if not os.path.exists(SOUND_FONT):
        missing.append("fluid-soundfont-gm")
    if missing:
        raise InputError(f"missing {', '.join(missing)}: install Debian's espeak-ng fluidsynth fluid-soundfont-gm "
                         "(bash scripts/setup.sh --dataset)")


def sentence(rng) -> str:
    """A random grammatical English sentence of 8-16 words."""
    def np_():
        return f"{rng.choice(_DET)} {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    s = f"{np_()} {rng.choice(_VERB)} {np_()} {rng.choice(_PREP)} {np_()}"
    if rng.random() < 0.5:
        s += f", and {np_()} {rng.choice(_VERB)} {np_()}"
    return s[0].upper() + s[1:] + "."


def _speech(path: Path, rng, seconds: float) -> None:
    text = " ".join(sentence(rng) for _ in range(max(1, int(np.ceil(seconds / 3.0)))))
    voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(130, 190))), "-p", str(int(rng.integers(30, 70))),
           "-w", str(path), text]
    subprocess.run(cmd, check=True, capture_output=True)


def _midi(path: Path, cls: str, rng, seconds: float) -> None:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    bpm = int(rng.integers(70, 150))
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    tr.append(mido.Message("program_change", program=INSTRUMENTS[cls], channel=0, time=0))
    scale = SCALES[str(rng.choice(list(SCALES)))]
    lo, hi = RANGES[cls]
    root = int(rng.integers(lo, lo + 12))
    pitches = [p for o in range(0, 48, 12) for p in (root + o + s for s in scale) if lo <= p <= hi]
    beats = seconds * bpm / 60.0
    t, idx, pending = 0.0, int(rng.integers(len(pitches))), 0
    while t < beats:
        dur = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        if rng.random() < 0.15:  # a rest
            pending += int(dur * 480)
        else:
            idx = int(np.clip(idx + rng.integers(-2, 3), 0, len(pitches) - 1))
            vel = int(rng.integers(60, 115))
            tr.append(mido.Message("note_on", note=pitches[idx], velocity=vel, channel=0, time=pending))
            tr.append(mido.Message("note_off", note=pitches[idx], velocity=0, channel=0, time=int(dur * 480)))
            pending = 0
        t += dur
    mid.save(str(path))


def _render_midi(mid: Path, wav: Path) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.8", "-r", str(SR), "-T", "wav", "-F", str(wav),
           SOUND_FONT, str(mid)]
    subprocess.run(cmd, check=True, capture_output=True)


def _finish(src: Path, dst: Path, seconds: float) -> bool:
    """Mono, 24 kHz, trimmed to ``seconds`` plus a short tail, peak -3 dBFS; False if silent."""
    import soundfile as sf

    from ..dsp.hrtf import resample_axis

    x, sr = sf.read(src, always_2d=True, dtype="float64")
    x = resample_axis(x.mean(axis=1), sr, SR) if sr != SR else x.mean(axis=1)
    x = x[: int((seconds + 0.5) * SR)]
    peak = np.abs(x).max() if len(x) else 0.0
    if peak < 1e-4:
        return False
    tmp = dst.with_name(f".{dst.stem}.partial.wav")
    sf.write(tmp, (x / peak * 10 ** (-3 / 20)).astype(np.float32), SR, subtype="PCM_16")
    os.replace(tmp, dst)
    return True


def make_sources(out: str | Path, per_class: int = 20, seed: int = 0, seconds: float = 6.0,
                 classes: list[str] | None = None, progress=None) -> dict:
    """Write the recordings; returns {class: files written}. Existing files are kept (resumable)."""
    check_tools()
    out = Path(out)
    classes = classes or ["voice", *INSTRUMENTS]
    bad = [c for c in classes if c != "voice" and c not in INSTRUMENTS]
    if bad:
        raise InputError(f"unknown source class {bad[0]!r}: choose from voice, {', '.join(INSTRUMENTS)}")
    counts = {}
    with tempfile.TemporaryDirectory(prefix="binauralize_src_") as tmpd:
        tmp = Path(tmpd)
        for ci, cls in enumerate(classes):
            (out / cls).mkdir(parents=True, exist_ok=True)
            counts[cls] = 0
            for i in range(per_class):
                dst = out / cls / f"{cls}_{i:04d}.wav"
                rng = np.random.default_rng([seed, ci, i])
                if not dst.exists():
                    raw = tmp / f"{cls}_{i}.wav"
                    if cls == "voice":
                        _speech(raw, rng, seconds)
                    else:
                        _midi(tmp / f"{cls}_{i}.mid", cls, rng, seconds)
                        _render_midi(tmp / f"{cls}_{i}.mid", raw)
                    if _finish(raw, dst, seconds):
                        counts[cls] += 1
                if progress:
                    progress()
    return counts
