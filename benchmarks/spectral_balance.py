"""Does a model keep the soundtrack's timbre? The output's mid channel (L+R)/2 against the input mono, per octave band,
on real videos, for each model the tool offers: the "audio at full quality" check a listener would make first.

    .venv/bin/python benchmarks/spectral_balance.py --videos ../shared/data/videos \
        --models dsp position class-nmf position-nmf speech --json benchmarks/results/spectral_balance.json

Per video and model: the tool is run as a user runs it (sources localized from the frames), both soundtracks are
decoded at the input's rate, and the energy in each octave band (63 Hz-16 kHz centres) of the output's mid channel
is compared with the input's, in dB, after removing the broadband level difference (the median over bands), so the
numbers are spectral tilt only: 0 dB everywhere = the timbre kept. A renderer through an HRTF colours the sum a
little (the head's own response); a stage that shrinks what it cannot predict shows as a fall toward high bands.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CENTRES = [63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000]


def octave_levels(x: np.ndarray, sr: int) -> np.ndarray:
    """Energy (dB) of ``x`` ``[T]`` in each octave band around ``CENTRES`` (NaN above Nyquist)."""
    X = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    out = []
    for c in CENTRES:
        lo, hi = c / np.sqrt(2), c * np.sqrt(2)
        band = (f >= lo) & (f < min(hi, sr / 2))
        out.append(10 * np.log10(X[band].sum() + 1e-20) if c < sr / 2 and band.any() else np.nan)
    return np.array(out)


def decode(path: Path) -> tuple[np.ndarray, int]:
    from binauralize.io.media import iter_audio, probe

    sr = probe(path).sample_rate
    x = np.concatenate(list(iter_audio(path)), axis=-1)
    return np.atleast_2d(x), sr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", default=str(ROOT.parent / "shared" / "data" / "videos"))
    ap.add_argument("--models", nargs="+", default=["dsp", "position", "class-nmf", "position-nmf", "speech"])
    ap.add_argument("--json", default=str(HERE / "results" / "spectral_balance.json"))
    a = ap.parse_args()
    videos = sorted(Path(a.videos).glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no .mp4 in {a.videos}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in videos:
            x, sr = decode(v)
            ref = octave_levels(x.mean(0), sr)
            for m in a.models:
                label = Path(m).stem if m.endswith(".safetensors") else m
                out = Path(tmp) / f"{v.stem}_{label}.mp4"
                cmd = [str(ROOT / ".venv/bin/binauralize"), str(v), "-o", str(out), "-q", "--overwrite"] + \
                    ([] if m == "dsp" else ["--model", m])
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    print(f"{v.name} {label}: {r.stderr.strip()}", file=sys.stderr)
                    continue
                y, _ = decode(out)
                d = octave_levels(y.mean(0), sr) - ref
                d -= np.nanmedian(d)
                rows.append({"video": v.name, "model": label, "sample_rate": sr,
                             "tilt_db": [None if np.isnan(e) else round(float(e), 2) for e in d]})
                print(f"{v.name} {label}: " + " ".join(f"{e:+.1f}" for e in d), flush=True)
    lines = ["| video | model | " + " | ".join(f"{c if c < 1000 else str(c // 1000) + 'k'} Hz" for c in CENTRES) + " |",
             "|---|---|" + "---|" * len(CENTRES)]
    for r in rows:
        lines.append(f"| {r['video']} | {r['model']} | " +
                     " | ".join("" if e is None else f"{e:+.1f}" for e in r["tilt_db"]) + " |")
    cmd = "python benchmarks/spectral_balance.py " + shlex.join(sys.argv[1:])
    text = f"`{cmd}`: the output's (L+R)/2 against the input, dB per octave band, broadband level removed.\n\n" + \
        "\n".join(lines)
    print(text)
    Path(a.json).parent.mkdir(exist_ok=True)
    Path(a.json).write_text(json.dumps({"command": cmd, "centres_hz": CENTRES, "rows": rows, "table": text}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
