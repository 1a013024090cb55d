"""How well `--model speech` takes a voice apart on the generator's clips: SI-SDR improvement against the dry stems.

For every clip of a set made with speech among its sources (`binauralize dataset sources --classes voice ...`,
then `binauralize dataset synth --sources-dir ...`) whose sounding sources include a voice: the speech part against
the voice's dry stem and the rest against the sum of the other sounding stems (each stem aligned to the mono
within 50 ms), minus the unseparated mono's SI-SDR against the same reference; by number of sounding sources and input
(the real-mono track or (L+R)/2). DeepFilterNet3 was not trained on this set, so every clip is a test clip.

    .venv/bin/python benchmarks/speech_separation.py --data data/synth_talk --json benchmarks/results/speech_separation_talk.json
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
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--splits", nargs="+", default=["scene_train", "scene_val", "scene_test"])
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    from tqdm import tqdm

    from binauralize import evaluate as ev
    from binauralize.metrics.separation import align_reference, si_sdr
    from binauralize.models.speech import DeepFilterSpeech

    data = Path(a.data)
    sep = DeepFilterSpeech()
    clips = [c for s in a.splits for c in ev.discover_dataset(data, s)]
    rows, t0 = [], time.time()
    for c in tqdm(clips, desc="clips"):
        meta = json.loads((data / "meta" / f"{c.name}.json").read_text())
        snd = [s for s in meta["sources"] if s.get("sounding") and s.get("stem")]
        if not any(s["class"] == "voice" for s in snd):
            continue
        gt, sr = ev.load_audio(c.gt)
        for inp in ("real", "mix"):
            mono = ev.load_audio(c.mono)[0].mean(axis=0) if (inp == "real" and c.mono) else gt.mean(axis=0)
            n = len(mono)

            def aligned(s):  # each stem delayed as it reaches the microphone, then summed per group
                x = ev.load_audio(data / s["stem"])[0].mean(axis=0)
                return align_reference(np.pad(x, (0, max(0, n - len(x))))[:n], mono, int(0.05 * sr))

            voice = sum((aligned(s) for s in snd if s["class"] == "voice"), np.zeros(n))
            other = sum((aligned(s) for s in snd if s["class"] != "voice"), np.zeros(n))
            speech = sep(mono, sr)
            r = {"clip": c.name, "input": inp, "sources": len(snd)}
            for name, part, ref in (("speech", speech, voice), ("rest", mono - speech, other)):
                r[f"si_sdri_{name}_db"] = (float(si_sdr(part, ref) - si_sdr(mono, ref)) if np.std(ref) > 0
                                           else float("nan"))
            rows.append(r)
    lines = ["| input | sources | clips | SI-SDRi speech vs voice stem dB | SI-SDRi rest vs other stems dB |",
             "|---|---|---|---|---|"]
    for inp in ("real", "mix"):
        for k in sorted({r["sources"] for r in rows}):
            sub = [r for r in rows if r["input"] == inp and r["sources"] == k]
            cells = []
            for key in ("si_sdri_speech_db", "si_sdri_rest_db"):
                v = np.array([r[key] for r in sub], float)
                v = v[np.isfinite(v)]
                cells.append(f"{v.mean():+.1f} +- {v.std(ddof=1) / np.sqrt(len(v)):.1f}" if len(v) > 1 else "")
            lines.append(f"| {'real mono' if inp == 'real' else '(L+R)/2'} | {k} | {len(sub)} | " + " | ".join(cells) + " |")
    cmd = "python benchmarks/speech_separation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = f"`{cmd}` ({(time.time() - t0) / 60:.1f} min)\n\n" + "\n".join(lines)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
