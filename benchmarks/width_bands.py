"""Where the renderer is narrower than the synthetic truth: width (side-to-mid energy ratio over the truth's) per
octave band, on the single-source clips of a synthetic split, for both inputs and a few renderer settings.

    .venv/bin/python benchmarks/width_bands.py --data data/synth_near --split scene_test --count 45 \\
        --json benchmarks/results/width_bands_scene_test.json
    .venv/bin/python benchmarks/width_bands.py --data x --real-brir ../shared/data \\
        --json benchmarks/results/width_bands_real_brir.json       # the measured room instead

Rows: the DSP renderer's default (mono-referenced "mid" timbre), the same without the direct/reverberant split,
the plain HRTF convolution (the ears' own tone, no split), and the truth's mid spectrum against the input's
(how far the input's tone is from the ears'). Width per band: ``binauralize.evaluate.width_bands_db`` (the output's
side-to-mid ratio over the truth's, frequency by frequency, averaged in dB over the band), means over clips; then
their mean over bands (``width_band_db`` of the evaluation rows) and the broadband ``width_db``, which weighs each
frequency by the output's own mid energy and so also reads its tone.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from binauralize.evaluate import WIDTH_BANDS_HZ as BANDS
from binauralize.evaluate import mean_width_db, width_bands_db, width_db

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from position_table import sounding  # noqa: E402

BAND_NAMES = [f"{int(b)} Hz" if b < 1000 else f"{b / 1000:g} kHz" for b in BANDS]


def band_energies(x: np.ndarray, sr: float, n_fft: int = 2048) -> np.ndarray:
    """Energy per octave band of ``x`` ``[T]`` -> ``[len(BANDS)]`` (Welch power spectrum summed over each band)."""
    from scipy.signal import welch

    f, p = welch(x, fs=sr, nperseg=n_fft)
    return np.array([p[(f >= fc / np.sqrt(2)) & (f < fc * np.sqrt(2))].sum() for fc in BANDS])


def side_mid(y: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """Band energies of L-R and L+R of a binaural ``[2, T]``."""
    return band_energies(y[0] - y[1], sr), band_energies(y[0] + y[1], sr)


def own_ratio_db(pairs: list) -> np.ndarray:
    """The truth's own side-to-mid ratio per band in dB, energies summed over clips (``pairs`` of side_mid)."""
    return 10 * np.log10(np.sum([t[0] for t in pairs], axis=0) / np.sum([t[1] for t in pairs], axis=0))


def width_cells(rows: list) -> tuple[list, float, float]:
    """(per band, mean of bands, broadband) means over ``rows`` of (width_bands_db result, width_db)."""
    per = [float(np.nanmean([r[0].get(int(b), np.nan) for r in rows])) for b in BANDS]
    return per, float(np.nanmean([mean_width_db(r[0]) for r in rows])), float(np.mean([r[1] for r in rows]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="scene_test")
    ap.add_argument("--count", type=int, default=45, help="single-source clips")
    ap.add_argument("--json")
    ap.add_argument("--real-brir", metavar="SHARED_DATA",
                    help="instead: the real room (dry_sources/ through the KEMAR BRIRs of measured_brir_kemar_seminar/ "
                         "at -40, 0 and +40 degrees, as benchmarks/quality_real_brir.py), (L+R)/2 input, true azimuth")
    a = ap.parse_args(argv)
    if a.real_brir:
        return real_room(Path(a.real_brir), a.json, argv)
    from binauralize.api import Binauralizer
    from binauralize.dsp.render import PLAIN, RenderOptions
    from binauralize.evaluate import discover_dataset, load_audio

    data = Path(a.data)
    clips = [c for c in discover_dataset(data, a.split) if sounding(data, c.name) == 1][: a.count]
    settings = {"DSP default": RenderOptions(), "DSP, no split": RenderOptions(reverb="off"), "plain HRTF": PLAIN}
    tools = {k: Binauralizer(options=o) for k, o in settings.items()}
    own, tone, res = [], {}, {}
    t0 = time.time()
    for i, c in enumerate(clips):
        gt, sr = load_audio(c.gt)
        gs, gm = side_mid(gt, sr)
        own.append((gs, gm))
        inputs = {"(L+R)/2": gt.mean(axis=0)}
        if c.mono is not None:
            m, _ = load_audio(c.mono)
            inputs["real mono"] = m.mean(axis=0)
        for inp, x in inputs.items():
            tone.setdefault(inp, []).append((band_energies(x, sr), gm))
            for name, tool in tools.items():
                y = tool.render(x, sr, c.tracks or [])
                n = min(y.shape[-1], gt.shape[-1])
                res.setdefault((inp, name), []).append((width_bands_db(y[:, :n], gt[:, :n], sr), width_db(y[:, :n], gt[:, :n])))
        print(f"\r{i + 1}/{len(clips)} clips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    lines = ["| input | output | " + " | ".join(BAND_NAMES) + " | mean of bands | broadband |", "|---" * (len(BANDS) + 4) + "|"]
    o = own_ratio_db(own)
    lines.append("| | the truth's own side-to-mid ratio (dB, energies over clips) | "
                 + " | ".join(f"{v:+.1f}" for v in o) + " | | |")
    table: dict = {"truth_side_to_mid_db": o.tolist()}
    for inp, pairs in tone.items():
        x = np.sum([t[0] for t in pairs], axis=0)
        g = np.sum([t[1] for t in pairs], axis=0)
        rel = 10 * np.log10((x / x.sum()) / (g / g.sum()))
        lines.append(f"| {inp} | the input's tone against the ears' (dB, same total) | "
                     + " | ".join(f"{v:+.1f}" for v in rel) + " | | |")
        table[f"{inp} / tone"] = rel.tolist()
        for name in tools:
            per, mb, wb = width_cells(res[(inp, name)])
            lines.append(f"| {inp} | {name}: width, dB | " + " | ".join(f"{v:+.1f}" for v in per)
                         + f" | {mb:+.1f} | {wb:+.1f} |")
            table[f"{inp} / {name}"] = {"bands_db": per, "mean_of_bands_db": mb, "broadband_db": wb}
    cmd = "python benchmarks/width_bands.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (f"`{cmd}` ({(time.time() - t0) / 60:.0f} min; {len(clips)} single-source clips of {a.split}, oracle "
            "tracks)\n\n" + "\n".join(lines))
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "bands_hz": list(BANDS), **table}, indent=1))
    return 0


def real_room(shared: Path, json_path: str | None, argv) -> int:
    """Width per band in the measured seminar room (T60 ~0.58 s, sources at 6.3 m), renderer settings as above plus
    ``--reverb itd``; prints the table and writes ``json_path``."""
    from scipy.signal import oaconvolve

    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import PLAIN, Renderer, RenderOptions
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.tracks import SourceTrack
    from quality_real_brir import BRIRS, SOURCES, SR, load_brir, load_dry

    hrtf = HRTF.default(SR)
    settings = {"DSP default": RenderOptions(), "DSP, no split": RenderOptions(reverb="off"),
                "DSP, --reverb itd": RenderOptions(reverb_itd=True, diffuse=1.0),
                "DSP, diffuse width 1.0": RenderOptions(diffuse=1.0), "plain HRTF": PLAIN}
    renderers = {k: Renderer(hrtf, o) for k, o in settings.items()}
    t0 = time.time()
    res: dict = {k: [] for k in settings}
    own = []
    for az_true, fname in BRIRS.items():
        brir, az = load_brir(shared / "measured_brir_kemar_seminar" / fname)
        for src in SOURCES:
            dry = load_dry(shared / "dry_sources" / src)
            gt = np.stack([oaconvolve(dry, brir[0]), oaconvolve(dry, brir[1])])[:, : len(dry) + SR // 2]
            own.append(side_mid(gt, SR))
            mono = gt.mean(axis=0)
            t60 = estimate_t60(band_envelopes(mono, SR))
            for name, r in renderers.items():
                y = r.render(mono, [SourceTrack.static(az)], t60=t60)
                res[name].append((width_bands_db(y, gt, SR), width_db(y, gt), az_true))
    lines = ["| output | sources | " + " | ".join(BAND_NAMES) + " | mean of bands | broadband |", "|---" * (len(BANDS) + 4) + "|"]
    o = own_ratio_db(own)
    lines.append("| the truth's own side-to-mid ratio (dB) | all | " + " | ".join(f"{v:+.1f}" for v in o) + " | | |")
    table: dict = {"truth_side_to_mid_db": o.tolist()}
    for name, rs in res.items():
        for label, sel in (("lateral (+-40 deg)", lambda z: z != 0), ("frontal", lambda z: z == 0)):
            per, mb, wb = width_cells([r for r in rs if sel(r[2])])
            lines.append(f"| {name} | {label} | " + " | ".join(f"{v:+.1f}" for v in per) + f" | {mb:+.1f} | {wb:+.1f} |")
            table[f"{name} / {label}"] = {"bands_db": per, "mean_of_bands_db": mb, "broadband_db": wb}
    cmd = "python benchmarks/width_bands.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (f"`{cmd}` ({(time.time() - t0) / 60:.1f} min; {len(SOURCES)} dry recordings x {len(BRIRS)} measured BRIRs, "
            "seminar room, (L+R)/2 input, true azimuth)\n\n" + "\n".join(lines))
    print(text)
    if json_path:
        Path(json_path).write_text(json.dumps({"command": cmd, "table": text, "bands_hz": list(BANDS), **table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
