"""The level DeepFilterNet3 hears (`--model speech`): SI-SDR of the speech it returns against the target level.

    .venv/bin/python benchmarks/speech_level.py --data ../shared/data

For each target active level (``DeepFilterSpeech.LEVEL_DB``, dBFS): (1) the three voice recordings of
../shared/data/dry_sources (two speakers, one singer), unit RMS, in white noise at -10 dB, SI-SDR of the speech part
against the clean recording; (2) the eight measured-BRIR mixtures of benchmarks/position_real_brir.py (a voice and an
instrument at -40/+40 deg), SI-SDR improvement of the speech part against the voice's reverberant contribution.
Writes benchmarks/results/speech_level.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

VOICES = ("xmas.wav", "198-209-0000.hq.ogg", "singing.wav")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--levels", type=float, nargs="+", default=[-35, -30, -25, -20, -15, -12, -10, -7, -4])
    ap.add_argument("--json", default=str(HERE / "results" / "speech_level.json"))
    args = ap.parse_args(argv)
    from position_real_brir import real_mixtures
    from quality_real_brir import SR, load_dry

    from binauralize.metrics.separation import si_sdr
    from binauralize.models.speech import DeepFilterSpeech

    data = Path(args.data)
    sep = DeepFilterSpeech()
    rng = np.random.default_rng(0)
    noisy = []
    for src in VOICES:
        dry = load_dry(data / "dry_sources" / src)
        dry = dry / np.sqrt(np.mean(dry ** 2))
        noisy.append((src, dry, dry + 0.3 * rng.standard_normal(len(dry))))
    mixes = [(a in VOICES, img_a, img_b, mono) for a, b, _, _, img_a, img_b, _, mono, _ in real_mixtures(data)]
    rows = []
    for level in args.levels:
        sep.LEVEL_DB = level
        row = {"level_dbfs": level}
        for src, dry, m in noisy:
            row[f"si_sdr_{src}"] = float(si_sdr(sep(m, SR), dry))
        imp = []
        for voice_first, img_a, img_b, mono in mixes:
            ref = (img_a if voice_first else img_b).mean(axis=0)
            imp.append(float(si_sdr(sep(mono, SR), ref) - si_sdr(mono, ref)))
        row["real_brir_speech_si_sdri"] = float(np.mean(imp))
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    cmd = "python benchmarks/speech_level.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    Path(args.json).write_text(json.dumps({"command": cmd, "rows": rows}, indent=1))
    print(f"`{cmd}`\n\n| target level (dBFS) | " + " | ".join(f"{v} in noise, SI-SDR dB" for v in VOICES)
          + " | real-BRIR mixtures, speech SI-SDRi dB |\n|---" * 1 + "|---" * (len(VOICES) + 1) + "|")
    for r in rows:
        print(f"| {r['level_dbfs']:+.0f} | " + " | ".join(f"{r[f'si_sdr_{v}']:.1f}" for v in VOICES)
              + f" | {r['real_brir_speech_si_sdri']:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
