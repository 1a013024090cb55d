"""A blind direct-to-reverberant ratio (DRR) from sound offsets: does it tell the near set's close sources from the
measured seminar room, and would a split rule built on it give the (L+R)/2 subsets their width back?

The renderer splits a reverberant input into direct and reverberant parts when the blind T60 is at least
``RenderOptions.dry_below_t60``. On the near set's (L+R)/2 input (sources 0.7-2 m away, T60 0.15-0.4 s) the split
costs position-nmf 1-2 dB of width per band; in the measured seminar room (6.3 m, DRR -8.7 dB) it is what keeps the
renderer below Mono-Mono. :func:`estimate_drr` (below) reads the step at each sound offset (direct
sound gone, reverberant field decaying from its steady level). This script prints, for the near set's
multi-source test clips ((L+R)/2 of the binaural recording) and for the dry recordings placed with the measured
BRIRs: the blind DRR and T60 against the true DRR (direct: 1 ms before to 2.5 ms after the BRIR's peak, of
(L + R) / 2 of each source's BRIR; a clip's truth is its sources' mean in dB). Then, from the per-clip results of
two position_ab.py runs (with and without the split), each subset's mean STFT distance and width per band under
the rule "no split when the blind DRR is at least THRESHOLD dB".

    .venv/bin/python benchmarks/drr_blind.py --data ../data/synth_near --shared ../shared/data \\
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def free_decays(envelopes_db: np.ndarray, frame_s: float = 0.01, drop_db: float = 10.0, skip_s: float = 0.03,
                tail_s: float = 0.25, rise_db: float = 3.0) -> list[tuple[float, float, float]]:
    """Sound offsets and the decays after them, per band: ``(level before the offset dB, the tail's line at the
    offset dB, the tail's decay rate dB/s)``.

    An offset is a frame after which the 50-ms smoothed level falls by ``drop_db`` within 100 ms; the level before
    it is the median of the three raw frames before; the tail is the raw level from ``skip_s`` after it (past the
    direct sound and the analysis window) for up to ``tail_s``, cut where it rises ``rise_db`` above its running
    minimum (a new sound) or comes within 10 dB of the band's floor; a line is fitted to it by least squares."""
    out = []
    skip, tail_n = int(round(skip_s / frame_s)), int(round(tail_s / frame_s))
    for env in np.atleast_2d(envelopes_db):
        n = env.size
        if n < skip + 20:
            continue
        sm = np.convolve(env, np.ones(5) / 5, mode="same")
        floor = np.percentile(env, 5)
        i = 5
        while i < n - 10:
            if not (sm[i] - sm[i + 10] >= drop_db and sm[i] >= sm[i - 5:i + 1].max()):
                i += 1
                continue
            o = i + int(np.argmin(np.diff(env[i:i + 11])))   # the steepest frame-to-frame fall: the offset
            before = float(np.median(env[max(0, o - 3):o + 1]))
            k, lo = o + 1 + skip, np.inf
            tail = []
            while k < min(n, o + 1 + skip + tail_n):
                if env[k] > lo + rise_db or env[k] < floor + 10:
                    break
                lo = min(lo, env[k])
                tail.append(k)
                k += 1
            if len(tail) >= 8:
                t = (np.array(tail) - (o + 1)) * frame_s
                slope, icpt = np.polyfit(t, env[tail], 1)
                if slope < 0:
                    out.append((before, float(icpt), float(-slope)))
            i = max(i + 1, tail[-1] if tail else o + 1)
    return out


def estimate_drr(envelopes_db: np.ndarray, t60: float | None = None, frame_s: float = 0.01,
                 rate_tolerance: float = 0.3) -> tuple[float | None, float | None]:
    """Blind direct-to-reverberant ratio (dB) and reverberation time (s) from the steps at sound offsets (tried here;
    not in the package: on the near set's clips it does not follow the true DRR).

    When a steady source stops, the direct sound ends at once and the reverberant field, until then at its steady
    level R, decays at the room's rate (60 / T60 dB/s). Just before the offset the level is D + R, so the step
    between it and the decay line extrapolated back to the offset is 10 log10((D + R) / R), and DRR =
    10 log10(D / R) = 10 log10(10^(step / 10) - 1) (the decay model of Lebart et al. 2001 / Habets 2009 read
    backwards). The room's rate is the median tail rate of the :func:`free_decays` (or 60 / ``t60`` when given);
    decays whose tail falls at it (within ``rate_tolerance``) give their steps, and the median step is the DRR.
    A tail fitted after the direct sound is not steepened by it, so this T60 does not shrink with a strong direct
    sound as :func:`estimate_t60`'s does. A source that stops before the reverberant field has built up reads high
    (the field is below its steady level at the offset). Returns (None, None) with fewer than three decays.

    Args: envelopes_db ``[bands, L]`` from :func:`band_envelopes` (dB per ``frame_s`` frame).
    """
    decays = free_decays(envelopes_db, frame_s)
    if len(decays) < 3:
        return None, None
    rates = np.array([d[2] for d in decays])
    room = 60.0 / t60 if t60 else float(np.median(rates))
    keep = np.abs(rates - room) <= rate_tolerance * room
    if keep.sum() < 3:
        return None, float(60.0 / room)
    steps = np.array([b - r for (b, r, _) in decays])[keep]
    step = float(np.median(steps))
    return float(10.0 * np.log10(max(10.0 ** (step / 10.0) - 1.0, 1e-3))), float(60.0 / room)


def true_drr(h: np.ndarray, sr: float) -> float:
    """DRR (dB) of an impulse response ``[T]``: 1 ms before to 2.5 ms after its peak against the rest."""
    p = int(np.argmax(np.abs(h)))
    a, b = max(0, p - int(0.001 * sr)), p + int(0.0025 * sr)
    e = h.astype(np.float64) ** 2
    return float(10 * np.log10(e[a:b].sum() / max(e[b:].sum() + e[:a].sum(), 1e-20)))


def blind(x: np.ndarray, sr: float) -> tuple[float | None, float | None, float | None]:
    """(blind DRR dB, its T60 s, the renderer's blind T60 s) of a mono ``x``."""
    from binauralize.dsp.reverb import band_envelopes, estimate_t60

    env = band_envelopes(x, sr)
    drr, t60 = estimate_drr(env)
    return drr, t60, estimate_t60(env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--shared", required=True, help="folder with dry_sources/ and measured_brir_kemar_seminar/")
    ap.add_argument("--split-ab", required=True)
    ap.add_argument("--nosplit-ab", required=True)
    ap.add_argument("--thresholds", type=float, nargs="*", default=[3.0, 5.0, 8.0])
    ap.add_argument("--json", default=str(HERE / "results" / "drr_blind.json"))
    a = ap.parse_args(argv)
    from binauralize.dsp.render import RenderOptions
    from binauralize.evaluate import load_audio
    from quality_real_brir import BRIRS, SOURCES, SR, load_brir, load_dry

    dry_below = RenderOptions().dry_below_t60
    per = {}
    for f in (a.split_ab, a.nosplit_ab):
        for r in json.load(open(f))["per_clip"]:
            per.setdefault(r["clip"], []).append(r)
    near = {}
    for cid in sorted(per):
        gt, sr = load_audio(Path(a.data) / "binaural_audios" / f"{cid}.wav")
        rirs = np.load(Path(a.data) / "rirs" / f"{cid}.npz")
        truth = float(np.mean([true_drr(rirs[k].astype(np.float64).mean(axis=0), sr)
                               for k in rirs.files if k.startswith("brir_")]))
        drr, t60, t60_renderer = blind(gt.mean(axis=0), sr)
        near[cid] = {"true_drr_db": truth, "blind_drr_db": drr, "blind_t60_s": t60, "renderer_t60_s": t60_renderer,
                     "rt60_s": float(rirs["rt60"])}
    room = []
    for az, fname in BRIRS.items():
        brir, _ = load_brir(Path(a.shared) / "measured_brir_kemar_seminar" / fname)
        truth = true_drr(brir.mean(axis=0), SR)
        for src in SOURCES:
            dry = load_dry(Path(a.shared) / "dry_sources" / src)
            gt = np.stack([oaconvolve(dry, brir[0]), oaconvolve(dry, brir[1])])[:, : len(dry) + SR // 2]
            drr, t60, t60_renderer = blind(gt.mean(axis=0), SR)
            room.append({"az": az, "source": src, "true_drr_db": truth, "blind_drr_db": drr, "blind_t60_s": t60,
                         "renderer_t60_s": t60_renderer})

    def fmt(v):
        return "none" if v is None else f"{v:+.1f}"

    tr = np.array([v["true_drr_db"] for v in near.values()])
    bl = np.array([np.nan if v["blind_drr_db"] is None else v["blind_drr_db"] for v in near.values()])
    ok = ~np.isnan(bl)
    print(f"near set, (L+R)/2, multi-source test clips: {len(near)}; true DRR 10/50/90th percentile "
          f"{np.percentile(tr, [10, 50, 90]).round(1).tolist()} dB")
    print(f"  blind DRR found on {ok.sum()}: 10/50/90th percentile {np.percentile(bl[ok], [10, 50, 90]).round(1).tolist()}"
          f" dB, correlation with the truth {np.corrcoef(tr[ok], bl[ok])[0, 1]:.2f}, median error "
          f"{np.median(bl[ok] - tr[ok]):+.1f} dB")
    split_on = [c for c, v in near.items() if v["renderer_t60_s"] is not None and v["renderer_t60_s"] >= dry_below]
    sb = [near[c]["blind_drr_db"] for c in split_on]
    print(f"  where the renderer splits (blind T60 >= {dry_below} s): {len(split_on)} clips, blind DRR "
          f"{', '.join(fmt(v) for v in sorted(sb, key=lambda v: -1e9 if v is None else v))}")
    print("seminar room: true DRR " + ", ".join(f"{az:+d} deg {t:+.1f} dB" for az, t in
                                               sorted({(r['az'], r['true_drr_db']) for r in room})))
    for r in room:
        print(f"  {r['source']:<36} {r['az']:+3d} deg: blind DRR {fmt(r['blind_drr_db'])} dB, blind T60 "
              f"{'none' if r['blind_t60_s'] is None else round(r['blind_t60_s'], 2)} s, renderer's T60 "
              f"{'none' if r['renderer_t60_s'] is None else round(r['renderer_t60_s'], 2)} s")
    rule = {}
    for th in [None, *a.thresholds]:
        rows = {}
        for cid, rs in per.items():
            d = near[cid]["blind_drr_db"]
            nosplit = th is not None and d is not None and d >= th
            for r in rs:
                m = r["method"].replace(", no split", "")
                m = "DSP, oracle tracks" if m == "DSP" else m
                if (", no split" in r["method"] or r["method"] == "DSP, no split") != nosplit:
                    continue
                rows.setdefault((r["split"], r["sources"], m), []).append(r)
        label = "the default (split by T60)" if th is None else f"no split when blind DRR >= {th:g} dB"
        print(label)
        for key in sorted(rows):
            if key[2] not in ("position-nmf", "DSP, oracle tracks"):
                continue
            v = rows[key]
            print(f"  {key[0]:<11} {key[1]} sources {key[2]:<20} clips {len(v):3d}  STFT "
                  f"{np.mean([r['gao2019/stft'] for r in v]):.3f}  width per band "
                  f"{np.mean([r['width_band_db'] for r in v]):+.2f} dB")
            rule.setdefault(label, {})[" / ".join(map(str, key))] = {
                "clips": len(v), "stft": float(np.mean([r["gao2019/stft"] for r in v])),
                "width_band_db": float(np.mean([r["width_band_db"] for r in v]))}
    Path(a.json).write_text(json.dumps({"command": "python benchmarks/drr_blind.py " + " ".join(sys.argv[1:]),
                                        "near": near, "room": room, "rule": rule}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
