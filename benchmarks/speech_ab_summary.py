"""Summary of `--model speech` against the DSP renderer on a synthetic set with speech (position_ab.py's JSONs).

Neither method is trained on the set, so every clip with a sounding voice is a test clip: the scene splits are
pooled (scene_train + scene_val + scene_test = every clip), and the held-out-HRTF clips (hrtf_test, a subset) are
shown apart. Per input and number of sounding sources: mean STFT distance (papers' protocol), its L+R and L-R parts,
the STFT distance at the best output level, ENV, ILD side agreement and ITD error, and the paired difference of
speech minus DSP on STFT and ENV (mean +- standard error, share of clips where speech is lower).

    python benchmarks/speech_ab_summary.py benchmarks/results/speech_ab_talk_real.json benchmarks/results/speech_ab_talk_mix.json
"""
from __future__ import annotations

import json
import sys

import numpy as np

SPEECH, DSP, MONO = "speech, oracle tracks", "DSP, oracle tracks", "Mono-Mono"
COLS = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/stft_sum", "L+R part", "{:.3f}"),
        ("gao2019/stft_diff", "L-R part", "{:.3f}"), ("gao2019/stft_best_level", "STFT at best level", "{:.3f}"),
        ("gao2019/env", "ENV", "{:.4f}"), ("ild_side_agreement", "ILD side agr", "{:.0%}"),
        ("itd_err_us", "ITD err us", "{:.0f}")]


def paired(a: dict, b: dict, key: str, fmt: str) -> str:
    d = np.array([a[c][key] - b[c][key] for c in a if c in b])
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{fmt.format(d.mean())} +- {fmt.format(se).lstrip('+')} ({np.mean(d < 0):.0%})"


def main(paths: list[str]) -> int:
    lines = ["| clips | input | sources | n | method | " + " | ".join(c[1] for c in COLS) + " | STFT vs DSP | ENV vs DSP |",
             "|---" * (len(COLS) + 7) + "|"]
    for path in paths:
        rows = json.loads(open(path).read())["per_clip"]
        inp = rows[0]["input"]
        for scope in ("all", "hrtf_test"):
            for n in sorted({r["sources"] for r in rows}):
                per: dict = {}
                for r in rows:
                    if r["sources"] == n and ((r["split"] == "hrtf_test") == (scope == "hrtf_test")):
                        per.setdefault(r["method"], {})[r["clip"]] = r
                for m in (MONO, DSP, SPEECH):
                    v = per[m]
                    cells = [fmt.format(np.nanmean([x.get(k, np.nan) for x in v.values()])) for k, _, fmt in COLS]
                    vs = ([paired(v, per[DSP], "gao2019/stft", "{:+.3f}"), paired(v, per[DSP], "gao2019/env", "{:+.4f}")]
                          if m == SPEECH else ["", ""])
                    lines.append(f"| {'every clip' if scope == 'all' else 'held-out head'} | "
                                 f"{'real mono' if inp == 'real' else '(L+R)/2'} | {n} | {len(v)} | {m} | "
                                 + " | ".join(cells + vs) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
