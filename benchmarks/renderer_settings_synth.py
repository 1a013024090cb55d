"""Renderer settings on the synthetic set's single-source clips: what the direct/reverberant split does to the
interaural cues (ITD and azimuth from the Hann-tapered GCC-PHAT, ILD, IACC) beside the papers' STFT distance and
its best-level version. The real-room counterpart is ``quality_real_brir.py --extra``.

    .venv/bin/python benchmarks/renderer_settings_synth.py --data data/synth_near --split scene_test --input mix \\
        --count 16 --json benchmarks/results/renderer_settings_near_mix.json

Settings: the default (split, early 10 ms, diffuse width 0.5), early 20 / 40 ms with width 1.0, and no split.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from position_table import sounding  # noqa: E402

KEYS = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/stft_best_level", "STFT at best level", "{:.3f}"),
        ("itd_err_us", "ITD err us", "{:.0f}"), ("azimuth_err_deg", "az err deg", "{:.1f}"),
        ("lcr_accuracy", "L/C/R", "{:.0%}"), ("ild_err_db", "ILD err dB", "{:.2f}"), ("iacc_pred", "IACC", "{:.2f}"),
        ("iacc_gt", "IACC truth", "{:.2f}"), ("width_db", "width dB", "{:+.1f}")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="scene_test")
    ap.add_argument("--input", choices=["real", "mix"], default="mix")
    ap.add_argument("--count", type=int, default=16, help="single-source clips")
    ap.add_argument("--json")
    ap.add_argument("--more", action="store_true", help="also the settings with the split forced on")
    a = ap.parse_args(argv)
    from binauralize import evaluate as ev
    from binauralize.dsp.render import RenderOptions

    data = Path(a.data)
    clips = [c for c in ev.discover_dataset(data, a.split) if sounding(data, c.name) == 1][: a.count]
    settings = [("default (split, early 10 ms, width 0.5)", RenderOptions()),
                ("early 20 ms, width 1.0", RenderOptions(early_ms=20, diffuse=1.0)),
                ("early 40 ms, width 1.0", RenderOptions(early_ms=40, diffuse=1.0)),
                ("no split", RenderOptions(reverb="off")),
                ("reverberant part with the ITD, width 1.0", RenderOptions(reverb_itd=True, diffuse=1.0)),
                ("reverberant part with the ITD, width 0.5", RenderOptions(reverb_itd=True))]
    if a.more:  # the split forced on (a short room's blind T60 estimate is often under dry_below_t60)
        settings += [("split always, width 0.5", RenderOptions(dry_below_t60=0.0)),
                     ("split always, width 1.0", RenderOptions(dry_below_t60=0.0, diffuse=1.0)),
                     ("split always, reverberant part with the ITD, width 1.0",
                      RenderOptions(dry_below_t60=0.0, reverb_itd=True, diffuse=1.0))]
    t0 = time.time()
    rows, lines = [], ["| setting | " + " | ".join(k[1] for k in KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for label, opts in settings:
        r = ev.evaluate_model("dsp", clips, data=data, input=a.input, options=opts)
        rows += [{**x, "setting": label} for x in r]
        lines.append(f"| {label} | " + " | ".join(fmt.format(np.nanmean([x[k] for x in r])) for k, _, fmt in KEYS) + " |")
        print(lines[-1], flush=True)
    cmd = "python benchmarks/renderer_settings_synth.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (f"`{cmd}` ({(time.time() - t0) / 60:.0f} min; {len(clips)} single-source clips of {a.split}, "
            f"{'real-mono' if a.input == 'real' else '(L+R)/2'} input, oracle tracks; means)\n\n" + "\n".join(lines))
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "per_clip": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
