"""Every method of position_ab.py runs against Mono2Binaural on the same clips: the issue-7 target (STFT distance
15% below Mono2Binaural on two- and three-source scenes, ENV lower too), per subset.

    .venv/bin/python benchmarks/versus_m2b.py benchmarks/results/m2b_ab_near_real.json \\
        benchmarks/results/position_nmf_ab_near_real.json [...mix JSONs]

Reads the ``per_clip`` rows of any number of ``benchmarks/position_ab.py --json`` files (one of them holding a
``Mono2Binaural`` method, e.g. ``m2b_ab_near_{real,mix}.json``); a method's row is scored on the clips it shares
with Mono2Binaural. Prints one markdown row per subset and method: mean STFT and ENV, the STFT difference to
Mono2Binaural in percent, the paired difference (mean +- standard error) and the share of clips where it is lower.

``--placement`` prints instead what the papers' distance does not see (docs/position.md, "The 15% target on the
corrected generator"): the median interaural time difference error over 100-ms frames (and its change against
Mono2Binaural), the share of off-centre frames whose level difference points to the truth's side, the width
(side-to-mid energy against the truth's, dB; in JSONs written since 2026-12-01), the width per octave band (the
mean over bands of ``binauralize.evaluate.width_bands_db``, which does not read the output's tone; JSONs written
since 2026-12-07, second session) and the STFT distance at the best level (each output scaled by the gain that
minimises it). The proposed placement target is checked per row: ITD error at least 15% lower than
Mono2Binaural, ILD side agreement higher, width within 3 dB of the truth's; once with the broadband width, once
with the width per band.
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def placement_cells(mine: dict, ref: dict, clips: list, is_ref: bool) -> str:
    """The ``--placement`` cells of one method on ``clips``: means over clips (NaN clips left out, as a clip
    where the truth has no off-centre frame has no side agreement)."""
    def mean(rows, key):
        v = np.array([rows[c].get(key, np.nan) for c in clips], float)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    itd, itd0 = mean(mine, "itd_err_us"), mean(ref, "itd_err_us")
    side, side0 = mean(mine, "ild_side_agreement"), mean(ref, "ild_side_agreement")
    width = mean(mine, "width_db")
    band = mean(mine, "width_band_db")
    best, best0 = mean(mine, "gao2019/stft_best_level"), mean(ref, "gao2019/stft_best_level")
    itd_pct = 100 * (itd / itd0 - 1)

    def verdict(w: float) -> str:
        if is_ref:
            return "(the peer)"
        if np.isnan(w):
            return "n/a"
        return "**met**" if itd_pct <= -15 and side > side0 and abs(w) <= 3 else "missed"

    pct = "" if is_ref else f"{itd_pct:+.0f}%"
    best_cell = f"{best:.3f}" + ("" if is_ref else f", {100 * (best / best0 - 1):+.1f}%")
    return (f"{itd:.0f} | {pct} | {side:.0%} | " + ("n/a" if np.isnan(width) else f"{width:+.1f}") + " | "
            + ("n/a" if np.isnan(band) else f"{band:+.1f}") + f" | {best_cell} | {verdict(width)} | {verdict(band)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="position_ab.py --json outputs")
    ap.add_argument("--reference", default="Mono2Binaural", help="the method to compare with (default Mono2Binaural)")
    ap.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    ap.add_argument("--placement", action="store_true",
                    help="ITD error, ILD side agreement, width and best-level distance instead of STFT and ENV")
    a = ap.parse_args(argv)
    rows: dict = {}
    for f in a.json:
        for r in json.load(open(f))["per_clip"]:
            rows[(r["split"], r["input"], r["sources"], r["method"], r["clip"])] = r
    subsets = sorted({k[:3] for k in rows}, key=lambda k: (k[1] != "real", k[0], k[2]))
    methods = list(dict.fromkeys(k[3] for k in rows if k[3] != a.reference))
    if a.methods:
        methods = [m for m in methods if m in a.methods]
    if a.placement:
        print(f"| subset | input | method | clips | ITD error us | vs {a.reference} | ILD side agreement | width dB | "
              f"width per band dB | STFT at best level, vs {a.reference} | placement target | with width per band |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print(f"| subset | input | method | clips | STFT | vs {a.reference} | paired difference (lower on) | ENV | "
              f"ENV {a.reference} |")
        print("|---|---|---|---|---|---|---|---|---|")
    for split, inp, n in subsets:
        ref = {k[4]: r for k, r in rows.items() if k[:4] == (split, inp, n, a.reference)}
        if not ref:
            continue
        label = f"| {split}, {n} sources | {'real mono' if inp == 'real' else '(L+R)/2'} |"
        for m in [a.reference] + methods if a.placement else methods:
            mine = {k[4]: r for k, r in rows.items() if k[:4] == (split, inp, n, m) and k[4] in ref}
            if not mine:
                continue
            clips = sorted(mine)
            if a.placement:
                print(f"{label} {m} | {len(clips)} | " + placement_cells(mine, ref, clips, m == a.reference) + " |")
                continue
            s = np.array([mine[c]["gao2019/stft"] for c in clips])
            s0 = np.array([ref[c]["gao2019/stft"] for c in clips])
            e = np.mean([mine[c]["gao2019/env"] for c in clips])
            e0 = np.mean([ref[c]["gao2019/env"] for c in clips])
            d = s - s0
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            pct = 100 * (s.mean() / s0.mean() - 1)
            hit = "**" if pct <= -15 else ""
            print(f"{label} {m} | {len(clips)} | "
                  f"{s.mean():.3f} | {hit}{pct:+.1f}%{hit} | {d.mean():+.3f} +- {se:.3f} ({np.mean(d < 0):.0%}) | "
                  f"{e:.4f} | {e0:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
