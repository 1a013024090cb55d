"""Paired A/B of position-model checkpoints on every multi-source clip of the test splits (oracle tracks), beside
the DSP renderer: a larger sample than position_table.py's 8 clips per subset, for deciding which weights to ship.

    .venv/bin/python benchmarks/position_ab.py --data data/synth_near --input real \\
        shipped=binauralize/models/weights/position.safetensors new=runs/position_real/best.safetensors

Per split and source count: mean STFT distance and ENV (2.5D Visual Sound code) of each method, then each
checkpoint's paired difference to the DSP renderer (or the ``--refs``) and to the first checkpoint (mean +- standard error over clips,
share of clips where it is lower = better). Writes the table and the per-clip rows as JSON with ``--json``.
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


def has_class(data: Path, cid: str, cls: str) -> bool:
    """Whether clip ``cid`` has a sounding source of class ``cls``."""
    meta = json.loads((data / "meta" / f"{cid}.json").read_text())
    return any(s.get("sounding") and s.get("class") == cls for s in meta["sources"])


def paired(a: dict, b: dict, key: str) -> str:
    d = np.array([a[c][key] - b[c][key] for c in a if c in b])
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{d.mean():+.3f} +- {se:.3f} ({np.mean(d < 0):.0%})"


def render_options(pairs: list[str]):
    """``["reverb=off", "diffuse=1.0", "reverb_itd=true"]`` -> :class:`RenderOptions` (None when empty)."""
    from binauralize.dsp.render import RenderOptions

    if not pairs:
        return None
    kw = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if value.lower() in ("true", "false"):
            kw[key] = value.lower() == "true"
        else:
            try:
                kw[key] = float(value)
            except ValueError:
                kw[key] = value
    try:
        return RenderOptions(**kw)
    except TypeError as e:  # an unknown key
        raise SystemExit(f"position_ab.py: --render: {e}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--splits", nargs="+", default=["scene_test", "hrtf_test"])
    ap.add_argument("--max-clips", type=int, default=0, help="per split and source count (0 = all)")
    ap.add_argument("--counts", type=int, nargs="+", default=[2, 3], help="numbers of sounding sources (default 2 3)")
    ap.add_argument("--json")
    ap.add_argument("--with-class", metavar="CLASS", help="only clips with a sounding source of this class "
                    "(e.g. voice, for --model speech on a set made with `binauralize dataset sources`)")
    ap.add_argument("--refs", nargs="+", default=["DSP=dsp"], metavar="NAME=MODEL",
                    help="reference spatializers every checkpoint is paired with (default DSP=dsp; e.g. "
                         "\"DSP, object tracks=dsp-objects\" \"DSP, detected tracks=dsp-detected\")")
    ap.add_argument("--hrtf", metavar="SOFA", help="render every method with this HRTF instead of the bundled KEMAR "
                    "(e.g. the held-out head of hrtf_test: what a listener whose own HRTF is known gets)")
    ap.add_argument("--render", nargs="+", default=[], metavar="KEY=VALUE",
                    help="DSP renderer options for every method (binauralize.dsp.render.RenderOptions, e.g. reverb=off "
                         "or reverb_itd=true diffuse=1.0; follow it with another option, or it takes the checkpoints "
                         "too); default: the tool's")
    ap.add_argument("checkpoints", nargs="+", help="NAME=PATH of position-model checkpoints (a PATH may end in "
                    "@detected or @objects: the tracks the tool finds)")
    a = ap.parse_args(argv)
    from tqdm import tqdm

    from binauralize import evaluate as ev

    data = Path(a.data)
    options = render_options(a.render)
    cks = [c.split("=", 1) for c in a.checkpoints]
    refs = [r.rsplit("=", 1) for r in a.refs]
    methods = [(n, m) for n, m in refs] + [(n, f"Position={p}") for n, p in cks]
    rows, lines = [], []
    t0 = time.time()
    for split in a.splits:
        allc = ev.discover_dataset(data, split)
        for n in a.counts:
            clips = [c for c in allc if sounding(data, c.name) == n
                     and (not a.with_class or has_class(data, c.name, a.with_class))]
            clips = clips[: a.max_clips] if a.max_clips else clips
            per = {}
            with tqdm(total=len(clips) * len(methods), desc=f"{split}/{a.input}/{n}") as bar:
                for label, spec in methods:
                    r = ev.evaluate_model(spec, clips, hrtf=a.hrtf, data=data, input=a.input, progress=bar.update,
                                          options=options)
                    per[label] = {x["clip"]: x for x in r}
                    rows += [{**x, "split": split, "input": a.input, "sources": n, "method": label} for x in r]
            means = {m: np.mean([x["gao2019/stft"] for x in per[m].values()]) for m, _ in methods}
            envs = {m: np.mean([x["gao2019/env"] for x in per[m].values()]) for m, _ in methods}
            lines.append(f"**{split}, {n} source{'s' if n != 1 else ''}, {'real-mono' if a.input == 'real' else '(L+R)/2'} input, "
                         f"{len(clips)} clips**: " + ", ".join(f"{m} STFT {means[m]:.3f} ENV {envs[m]:.4f}" for m, _ in methods))
            lines.append("")
            lines.append("| A vs B | STFT | ENV |")
            lines.append("|---|---|---|")
            first = cks[0][0]
            for name, _ in cks:
                for ref in tuple(n for n, _ in refs) + ((first,) if name != first else ()):
                    lines.append(f"| {name} vs {ref} | {paired(per[name], per[ref], 'gao2019/stft')} | "
                                 f"{paired(per[name], per[ref], 'gao2019/env')} |")
            lines.append("")
            print("\n".join(lines[-(4 + len(cks) * (len(refs) + 1) - 1):]), flush=True)
    cmd = "python benchmarks/position_ab.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = f"`{cmd}` ({time.time() - t0:.0f} s)\n\n" + "\n".join(lines)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "per_clip": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
