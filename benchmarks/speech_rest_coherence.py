"""Does the rest of a voice (what DeepFilterNet3 does not keep) follow the voice's envelope more than another
source does? A probe for a rule that would keep a sung voice's leftovers with the voice (docs/position.md, the
`--model speech` card: "A talker beside a quiet object").

For each clip, the speech and the rest after the separation and the voice's reverberation split
(``SpeechSpatializer``'s steps, before the residue gate), the correlation of their 50-ms RMS envelopes (linear and
log) over the frames within 40 dB of the loudest, and the rest's share of the mono. Clips: each voice alone at -40
and +40 degrees (measured BRIRs; the "silent object" clips of speech_real_brir.py), and the 24 mixtures of every
voice with each instrument (speech_real_brir.py --pairs all).

    .venv/bin/python benchmarks/speech_rest_coherence.py --data ../shared/data    # 1 min
Writes benchmarks/results/speech_rest_coherence.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from position_real_brir import real_mixtures  # noqa: E402
from quality_real_brir import BRIRS, SR, load_brir, load_dry  # noqa: E402
from speech_real_brir import ALL_VOICES, INSTRUMENTS, VOICES  # noqa: E402


def envelope(x: np.ndarray, frame_s: float = 0.05) -> np.ndarray:
    n = int(frame_s * SR)
    k = len(x) // n
    return np.sqrt(np.mean(x[:k * n].reshape(k, n) ** 2, axis=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default=str(HERE / "results" / "speech_rest_coherence.json"))
    args = ap.parse_args(argv)
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.models.speech import DeepFilterSpeech, voice_reverb_split

    data = Path(args.data)
    sep = DeepFilterSpeech()

    def probe(mono: np.ndarray, t60: float) -> dict:
        s = sep(mono, SR)
        s, r = voice_reverb_split(s, mono - s, SR, t60 or 0.4)
        es, er, em = envelope(s), envelope(r), envelope(mono)
        act = em > em.max() * 0.01
        return {"corr_linear": float(np.corrcoef(es[act], er[act])[0, 1]),
                "corr_log": float(np.corrcoef(np.log(es[act] + 1e-9), np.log(er[act] + 1e-9))[0, 1]),
                "rest_share_db": float(10 * np.log10(np.sum(r ** 2) / np.sum(mono ** 2)))}

    rows = []
    for fname in BRIRS.values():
        brir, az = load_brir(data / "measured_brir_kemar_seminar" / fname)
        if abs(az) < 1:
            continue
        for src in sorted(VOICES):
            dry = load_dry(data / "dry_sources" / src)
            mono = np.stack([oaconvolve(dry, brir[c]) for c in range(2)])[:, :len(dry) + SR // 2].mean(axis=0)
            rows.append({"kind": "voice alone", "clip": f"{src}@{az:+.0f}",
                         **probe(mono, estimate_t60(band_envelopes(mono, SR)))})
    pairs = [(v, i) for v in sorted(ALL_VOICES) for i in INSTRUMENTS]
    for a, b, az_a, _, _, _, _, mono, t60 in real_mixtures(data, pairs):
        rows.append({"kind": "voice + instrument", "clip": f"{a}@{az_a:+d} + {b}", **probe(mono, t60)})
    for r in rows:
        print(f"{r['kind']:20s} {r['clip']:60s} linear {r['corr_linear']:+.2f} log {r['corr_log']:+.2f} "
              f"rest {r['rest_share_db']:.1f} dB")
    summary = {k: {m: [float(np.min(v)), float(np.max(v))] for m in ("corr_linear", "corr_log")
                   for v in [[r[m] for r in rows if r["kind"] == k]]} for k in ("voice alone", "voice + instrument")}
    print(json.dumps(summary))
    cmd = "python benchmarks/speech_rest_coherence.py " + " ".join(sys.argv[1:] if argv is None else argv)
    Path(args.json).write_text(json.dumps({"command": cmd, "ranges": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
