"""Could the renderer decide per recording whether to split off the reverberation? The split's own reverberant
share, E|reverberant|^2 / E|input|^2, on the near set's multi-source clips ((L+R)/2, where the split costs width)
and on the measured seminar room (where it keeps the renderer below Mono-Mono), with the per-clip effect of the
split on the near set (STFT distance and width per band, split minus no split, from two position_ab.py files).

    .venv/bin/python benchmarks/split_share.py --data ../data/synth_near --shared ../shared/data \\
        --split-ab benchmarks/results/placement_bands_near_mix.json \\
        --nosplit-ab benchmarks/results/placement_bands_near_mix_nosplit.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

sys.path.insert(0, str(Path(__file__).resolve().parent))


def reverberant_share(x: np.ndarray, sr: float, early_ms: float = 10.0) -> tuple[float | None, float | None]:
    """Blind T60 (s) and the split's reverberant energy share of ``x`` [T] (None, None when no T60 is found);
    ``early_ms``: the split's window (sound later than that counts as reverberant)."""
    from binauralize.dsp.reverb import band_envelopes, estimate_t60, split_direct_reverberant

    t60 = estimate_t60(band_envelopes(x, sr))
    if not t60:
        return None, None
    _, r = split_direct_reverberant(x, sr, t60, early_ms=early_ms)
    return t60, float(np.sum(r ** 2) / max(np.sum(x ** 2), 1e-20))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--shared", required=True, help="folder with dry_sources/ and measured_brir_kemar_seminar/")
    ap.add_argument("--split-ab", required=True, help="position_ab.py JSON with 'DSP, oracle tracks' (default)")
    ap.add_argument("--nosplit-ab", required=True, help="position_ab.py JSON with 'DSP, no split' (--render reverb=off)")
    ap.add_argument("--early-ms", type=float, default=10.0,
                    help="the split's window for the share (10 = the renderer's; longer counts only later sound)")
    a = ap.parse_args(argv)
    from binauralize.dsp.render import RenderOptions
    from binauralize.evaluate import load_audio
    from quality_real_brir import BRIRS, SOURCES, SR, load_brir, load_dry

    dry_below = RenderOptions().dry_below_t60
    rows: dict = {}
    for f, m in ((a.split_ab, "DSP, oracle tracks"), (a.nosplit_ab, "DSP, no split")):
        for r in json.load(open(f))["per_clip"]:
            if r["method"] == m:
                rows.setdefault(r["clip"], {})[m] = r
    near = []
    for cid, d in sorted(rows.items()):
        if len(d) < 2:
            continue
        gt, sr = load_audio(Path(a.data) / "binaural_audios" / f"{cid}.wav")
        t60, share = reverberant_share(gt.mean(axis=0), sr, a.early_ms)
        if t60 is not None and t60 >= dry_below:
            near.append((share, d["DSP, oracle tracks"]["gao2019/stft"] - d["DSP, no split"]["gao2019/stft"],
                         d["DSP, oracle tracks"]["width_band_db"] - d["DSP, no split"]["width_band_db"]))
    near_a = np.array(near)
    print(f"near set, (L+R)/2, multi-source: {len(rows)} distinct clips (the two test splits share some), split on {len(near)} (blind T60 >= {dry_below} s)")
    print(f"  reverberant share 10/50/90th percentile: {np.percentile(near_a[:, 0], [10, 50, 90]).round(2).tolist()}")
    print(f"  split minus no split, mean: STFT {near_a[:, 1].mean():+.4f}, width per band {near_a[:, 2].mean():+.2f} dB")
    room = []
    for _, fname in BRIRS.items():
        brir, _ = load_brir(Path(a.shared) / "measured_brir_kemar_seminar" / fname)
        for src in SOURCES:
            dry = load_dry(Path(a.shared) / "dry_sources" / src)
            gt = np.stack([oaconvolve(dry, brir[0]), oaconvolve(dry, brir[1])])[:, : len(dry) + SR // 2]
            room.append(reverberant_share(gt.mean(axis=0), SR, a.early_ms))
    shares = [s for t, s in room if t is not None and t >= dry_below]
    print(f"seminar room (T60 ~0.58 s, DRR ~-8.7 dB): split on {len(shares)} of {len(room)} recordings, reverberant "
          f"share {min(shares):.2f}-{max(shares):.2f} (median {np.median(shares):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
