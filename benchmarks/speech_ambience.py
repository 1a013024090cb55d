"""A talker in an unseen ambience, against real ground truth: where should the rest of the sound go?

With only a talker seen, ``--model speech`` renders the rest of the sound (what DeepFilterNet3 does not keep as
speech) with the voice, as the DSP renderer does. For a talker in a noisy place (a restaurant, a street) the rest is
an ambience around the listener, not a sound at the mouth. This benchmark asks whether rendering it diffusely (or in
front) is closer to a real recording.

Truth: each voice recording (three LibriSpeech readers and a male voice from ../shared/data/dry_sources) at +40 or
-40 degrees, and an ambience of four different recorded sounds (Debian's sonic-pi-samples: drones, hums, a choir, a
drum loop; CC0), one at each of the other four measured directions (0, the mirrored 40 and both 80), all through the
KEMAR BRIRs measured in a seminar room (6.3 m), at -6 or 0 dB against the voice; input (L+R)/2 of the sum. Only the
talker is given (oracle azimuth, as the tool's face track would be). Rows: Mono-Mono; the DSP renderer with
everything at the talker (what the tool and ``--model speech`` output today); the voice (``SpeechSpatializer``'s
separation, reverberation and residue gate included) at the talker and the rest (a) as a diffuse field (the
renderer's own decorrelating side filter at width 0.5, its default for reverberation, and 1, a diffuse field), or
(b) in front.

    .venv/bin/python benchmarks/speech_ambience.py --data ../shared/data      # 1.5 min
Writes benchmarks/results/speech_ambience.json and prints a markdown table (docs/position.md, the speech card).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import oaconvolve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from position_real_brir import COLS, scores  # noqa: E402
from quality_real_brir import SR, load_brir, load_dry  # noqa: E402

BRIRS = {-80: "brir_sweep+80.mat", -40: "brir_sweep+40.mat", 0: "brir_sweep.mat", 40: "brir_sweep-40.mat",
         80: "brir_sweep-80.mat"}  # apparent azimuth = -head azimuth
AMBIENCE = ["ambi_drone", "ambi_haunted_hum", "ambi_glass_hum", "ambi_lunar_land", "ambi_sauna", "loop_amen",
            "ambi_choir", "ambi_dark_woosh"]
VOICES = ["198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg", "xmas.wav"]
SAMPLES = Path("/usr/share/sonic-pi/samples")


def ambience_source(name: str, n: int) -> np.ndarray:
    """A sonic-pi sample, mono at SR, looped to ``n`` samples, unit RMS."""
    from binauralize.dsp.hrtf import resample_axis

    x, sr = sf.read(SAMPLES / f"{name}.flac", always_2d=True)
    x = resample_axis(x.mean(axis=1), sr, SR)
    x = np.tile(x, n // len(x) + 1)[:n]
    return x / np.std(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default=str(HERE / "results" / "speech_ambience.json"))
    args = ap.parse_args(argv)
    if not SAMPLES.is_dir():
        print("speech_ambience.py: needs Debian's sonic-pi-samples (bash scripts/setup.sh --dataset)", file=sys.stderr)
        return 2
    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import Renderer, RenderOptions
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.evaluate import summarize, summary_table_lines
    from binauralize.models.spatializer import open_spatializer
    from binauralize.tracks import SourceTrack

    t0 = time.time()
    data = Path(args.data)
    brirs = {az: load_brir(data / "measured_brir_kemar_seminar" / f)[0] for az, f in BRIRS.items()}
    renderer = Renderer(HRTF.default(SR), RenderOptions())
    speech = open_spatializer("speech", renderer_factory=lambda sr: renderer)
    rows, shares, k = [], [], 0
    for voice in VOICES:
        dv = load_dry(data / "dry_sources" / voice)
        dv = dv / np.std(dv)
        n = len(dv)
        for az in (40, -40):
            for level_db in (-6.0, 0.0):
                others = [a for a in BRIRS if a != az]
                names = [AMBIENCE[(k + i) % len(AMBIENCE)] for i in range(len(others))]
                k += 1
                g = 10 ** (level_db / 20) / np.sqrt(len(others))  # the ambience's total RMS against the voice's
                gt = np.stack([oaconvolve(dv, brirs[az][c]) for c in range(2)])[:, :n + SR // 2]
                for a, name in zip(others, names):
                    src = g * ambience_source(name, n)
                    gt = gt + np.stack([oaconvolve(src, brirs[a][c]) for c in range(2)])[:, :n + SR // 2]
                mono = gt.mean(axis=0)
                t60 = estimate_t60(band_envelopes(mono, SR))
                talker = [SourceTrack.static(float(az), name="face0")]
                preds = {"Mono-Mono": np.stack([mono, mono]),
                         "DSP, all at the talker (the tool today)": renderer.render(mono, talker, t60=t60)}
                voice_part, rest = speech.separate(mono, SR, t60=t60)
                at_talker = renderer.render(voice_part, talker, t60=t60)
                for width in (0.5, 1.0):  # the renderer's diffuse side: aligned output, no delay to add
                    side = renderer.with_options(diffuse=width).diffuse(rest)
                    preds[f"voice at the talker, rest diffuse (width {width:g})"] = at_talker + np.stack(
                        [rest + side, rest - side])
                preds["voice at the talker, rest in front"] = at_talker + renderer.render(
                    rest, [SourceTrack.static(0.0)], t60=t60)
                clip = f"{voice}@{az:+d}, ambience {level_db:+.0f} dB ({', '.join(names)})"
                shares.append({"clip": clip, "rest_share_db": float(10 * np.log10(np.sum(rest ** 2) / np.sum(mono ** 2))),
                               "t60_s": float(t60)})
                for m, p in preds.items():
                    rows.append({"method": m, "clip": clip, **scores(p[:, :gt.shape[1]], gt)})
                print(f"{clip}: rest {shares[-1]['rest_share_db']:.1f} dB; " + ", ".join(
                    f"{r['method']} {r['gao2019/stft']:.3f}" for r in rows[-len(preds):]), file=sys.stderr)
    cmd = "python benchmarks/speech_ambience.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    summary = summarize(rows)
    lines = [f"`{cmd}` ({(time.time() - t0) / 60:.1f} min), {len(shares)} clips; rest of the sound after the "
             f"separation and the residue gate: {np.median([s['rest_share_db'] for s in shares]):.1f} dB of the mono "
             "(median)", ""]
    lines += summary_table_lines(summary, [c for c in COLS if c[0] != "si_sdri_db"], clips=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"command": cmd, "summary": summary, "rows": rows, "clips": shares}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
