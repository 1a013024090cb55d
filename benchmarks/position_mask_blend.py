"""How far the STFT distance moves with mask quality: the position pipeline with masks
``a * oracle + (1 - a) * network`` for a few ``a`` (oracle: ideal ratio masks of the dry stems, or of each source
through its own room, ``wet``), oracle tracks, on the multi-source clips of one test split, per clip.

    .venv/bin/python benchmarks/position_mask_blend.py --data data/synth_near --split scene_test --sources 2 \\
        --clips 8 --json benchmarks/results/position_mask_blend_scene2.json

Tells whether better masks would show in the table (and how much of a subset's mean one clip carries).
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
from position_table import OracleMasks, sounding  # noqa: E402


class Blend:
    """Stands in for the mask network: ``a`` x the oracle's masks + (1 - a) x the network's."""

    def __init__(self, model, oracle: OracleMasks, a: float):
        self.model, self.oracle, self.a = model, oracle, float(a)
        self.n_freq, self.extra_dim, self.use_visual = model.n_freq, model.extra_dim, model.use_visual
        self.receptive_frames, self.init_args = 10 ** 6, {}  # the oracle masks cover the whole clip: one piece

    def eval(self):
        return self

    def __call__(self, logmag, tokens, presence):
        m = self.model(logmag, tokens, presence) if self.a < 1 else 0.0
        o = self.oracle(logmag, tokens, presence) if self.a > 0 else 0.0
        return self.a * o + (1 - self.a) * m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="scene_test")
    ap.add_argument("--sources", type=int, default=2)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--checkpoint",
                    default=str(HERE.parent / "binauralize" / "models" / "weights" / "position.safetensors"))
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--oracles", nargs="+", choices=["dry", "wet"], default=["dry", "wet"])
    ap.add_argument("--json")
    a = ap.parse_args(argv)

    import soxr

    from binauralize import evaluate as ev
    from binauralize.api import Binauralizer
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.models.position import SR, PositionSpatializer
    from binauralize.models.spatializer import open_spatializer
    from binauralize.tracks import block_directions
    from binauralize.train.sources import wet_stems

    data = Path(a.data)
    t0 = time.time()
    clips = [c for c in ev.discover_dataset(data, a.split) if sounding(data, c.name) == a.sources][: a.clips]
    net = open_spatializer(a.checkpoint)
    dsp = Binauralizer()
    variants = [(f"{kind} a={x:g}", kind, x) for kind in a.oracles for x in a.alphas if x > 0]
    variants = [("network (a=0)", "dry", 0.0)] + variants
    per = {}
    for c in clips:
        gt, sr = ev.load_audio(c.gt)
        mono = ev.load_audio(c.mono)[0].mean(axis=0) if (a.input == "real" and c.mono) else gt.mean(axis=0)
        meta = json.loads((data / "meta" / f"{c.name}.json").read_text())
        stems = [ev.load_audio(data / s["stem"]) for s in meta["sources"] if s.get("sounding") and s.get("stem")]
        dry = [soxr.resample(x.mean(axis=0), r, SR) if r != SR else x.mean(axis=0) for x, r in stems]
        n = max(len(s) for s in dry)
        oracle = {"dry": OracleMasks([np.pad(s, (0, n - len(s))) for s in dry])}
        if "wet" in a.oracles:
            oracle["wet"] = OracleMasks(wet_stems(data, c.name))
        feats = ev._clip_features(net, data, c, False) if net.uses_visual else None
        t60 = estimate_t60(band_envelopes(mono, sr))
        t = np.arange(0, gt.shape[-1] / sr, 0.1) + 0.05
        az, _, _, w = block_directions(c.tracks, t)
        per[c.name] = {}
        for label, kind, x in variants:
            sp = PositionSpatializer(Blend(net.model, oracle[kind], x), dsp.renderer)
            pred = sp.render(mono, sr, c.tracks or [], t60=t60, feature_at=feats)
            per[c.name][label] = ev.score_pair(pred, gt, sr, mono=mono, azimuth=(az * w).sum(axis=0))["gao2019/stft"]
        print(c.name, {k: round(v, 3) for k, v in per[c.name].items()}, flush=True)
    labels = [v[0] for v in variants]
    means = {k: float(np.mean([per[c][k] for c in per])) for k in labels}
    top = max(per, key=lambda c: per[c][labels[0]] - per[c][labels[-1]])
    cmd = "python benchmarks/position_mask_blend.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [f"`{cmd}` ({time.time() - t0:.0f} s)", "",
             f"**{a.split}, {a.sources} sources, {a.input} input, {len(per)} clips**, mean STFT distance: "
             + ", ".join(f"{k} {v:.3f}" for k, v in means.items()),
             f"clip with the largest network - oracle gap: {top} ({per[top][labels[0]]:.3f} vs "
             f"{per[top][labels[-1]]:.3f}; {(per[top][labels[0]] - per[top][labels[-1]]) / len(per):.3f} of the "
             f"subset mean's gap of {means[labels[0]] - means[labels[-1]]:.3f})"]
    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": "\n".join(lines), "means": means,
                                            "per_clip": per}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
