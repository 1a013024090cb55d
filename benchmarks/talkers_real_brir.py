"""Two real voices talking at once, placed with measured BRIRs: `--model speech` takes them apart (docs/position.md).

Ground truth: two LibriSpeech readers (../shared/data/dry_sources, 16 kHz, two men and a woman) convolved with
BRIRs measured on a KEMAR in a seminar room (../shared/data/measured_brir_kemar_seminar), one at +40 deg (left)
and one at -40 deg, in a conversation: A alone, then B alone, then both at once (``--solo`` s each alone, then
``--overlap`` s together; every ordered pair of the three readers). Input: the (L+R)/2 mono of that real binaural
mix. Tracks: the true directions, with weights saying who talks when (what a transcript or an edited
``--save-tracks`` file gives: 1 while a talker talks, overlapping where both do).

Methods (each at the recording's 44.1 kHz): Mono-Mono; the DSP renderer along the two weighted tracks (the tool's
default given these tracks: in the overlap the mono is placed at both directions); ``--model speech`` as before
this change (talkers at once share the voice by their weights: the DSP renderer exactly, no other source is seen);
``--model speech`` with the talker split (binauralize/models/talkers.py: each voice's NMF dictionary learned from
where it is heard alone, the overlap separated). Metrics: the papers' STFT and ENV distances (gao2019) over the whole
clip and over the overlap alone, the ILD error, the width per band, and in the overlap the SI-SDR improvement of
each separated voice over the mono against that voice's own real contribution to the mono.

    .venv/bin/python benchmarks/talkers_real_brir.py --data ../shared/data            # about 5 minutes
    .venv/bin/python benchmarks/talkers_real_brir.py --data ../shared/data --speed    # its cost, medians of 3
    .venv/bin/python benchmarks/talkers_real_brir.py --data ../shared/data --wrong-turns   # turns that are wrong
Writes benchmarks/results/talkers_real_brir.json and prints the table (docs/position.md has it); ``--speed`` times
the split and the whole ``--model speech`` rendering against the DSP renderer on an 18-s conversation and on the
same repeated four times (72 s), interleaved, and prints the medians. ``--wrong-turns``: the interview video of
../shared/data/videos, with the tracks the tool finds but turns that claim the second talker speaks too while only
the first does (6-10 s): where the output's time difference puts the voice there, with the split and with the
renderer's shares.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from quality_real_brir import BRIRS, SR, load_brir  # noqa: E402

VOICES = ["198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg"]


def load_voice(path: Path) -> np.ndarray:
    """A dry recording, mono, at the BRIRs' rate, whole (quality_real_brir's loader keeps 10 s)."""
    import soundfile as sf

    from binauralize.dsp.hrtf import resample_axis

    x, sr = sf.read(path, always_2d=True)
    return resample_axis(x.mean(axis=1), sr, SR)


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    a = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    e = a * ref
    return float(10 * np.log10(np.sum(e ** 2) / (np.sum((est - e) ** 2) + 1e-12)))


def weighted(name: str, az: float, times: list[float], weights: list[float]):
    from binauralize.tracks import SourceTrack

    t = SourceTrack.static(az, name=name)
    t.weight_times, t.weight = np.asarray(times, float), np.asarray(weights, float)
    return t


def conversation(data: Path, va: str, vb: str, solo: float, overlap: float):
    """-> (binaural truth [2, T], A's and B's truth, tracks with the turns as weights): A alone, B alone, both."""
    bl, _ = load_brir(data / "measured_brir_kemar_seminar" / BRIRS[40])
    br, _ = load_brir(data / "measured_brir_kemar_seminar" / BRIRS[-40])
    xa, xb = load_voice(data / "dry_sources" / va), load_voice(data / "dry_sources" / vb)
    n1, n2 = int(solo * SR), int(overlap * SR)
    if len(xa) < n1 + n2 or len(xb) < n1 + n2:
        raise SystemExit(f"talkers_real_brir.py: {va} or {vb} is shorter than {solo} + {overlap} s")
    sa = np.concatenate([xa[:n1], np.zeros(n1), xa[n1:n1 + n2]])
    sb = np.concatenate([np.zeros(n1), xb[:n1], xb[n1:n1 + n2]])
    ga = np.stack([oaconvolve(sa, bl[0])[:len(sa)], oaconvolve(sa, bl[1])[:len(sa)]])
    gb = np.stack([oaconvolve(sb, br[0])[:len(sb)], oaconvolve(sb, br[1])[:len(sb)]])
    e = 0.05  # the weights change over 50 ms
    tracks = [weighted("voice A", 40.0, [0, solo - e, solo, 2 * solo - e, 2 * solo], [1, 1, 0, 0, 1]),
              weighted("voice B", -40.0, [0, solo - e, solo, 2 * solo], [0, 0, 1, 1])]
    return ga + gb, ga, gb, tracks


def speed(data: Path, repeats: int = 3) -> int:
    """Median seconds of the split alone, of ``--model speech`` with the split, and of the DSP renderer."""
    from binauralize.api import Binauralizer
    from binauralize.models.speech import SpeechSpatializer
    from binauralize.models.talkers import split_talkers

    gt, _, _, tracks = conversation(data, VOICES[0], VOICES[2], 5.0, 8.0)
    m18 = gt.mean(axis=0)
    t18 = m18.size / SR
    long_tracks = [weighted(t.name, float(t.azimuth[0]), np.concatenate([t.weight_times + k * t18 for k in range(4)]),
                            np.tile(t.weight, 4)) for t in tracks]
    b = Binauralizer()
    print(f"`python benchmarks/talkers_real_brir.py --data {data} --speed` (medians of {repeats}, interleaved)\n")
    print("| conversation | the split alone s | --model speech with the split s | x real time | DSP renderer s |")
    print("|---|---|---|---|---|")
    for name, m, tr in (("18 s (8 s together)", m18, tracks), ("72 s (the same four times)", np.tile(m18, 4), long_tracks)):
        ts, tm, td = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            split_talkers(m, SR, tr)
            ts.append(time.perf_counter() - t)
            t = time.perf_counter()
            SpeechSpatializer(b.renderer).render(m, SR, tr, t60=0.6)
            tm.append(time.perf_counter() - t)
            t = time.perf_counter()
            b.render(m, SR, tr)
            td.append(time.perf_counter() - t)
        print(f"| {name} | {np.median(ts):.2f} | {np.median(tm):.2f} | {m.size / SR / np.median(tm):.1f} | "
              f"{np.median(td):.2f} |")
    return 0


def wrong_turns(data: Path, span=(6.0, 10.0)) -> int:
    """The interview video, the tracks the tool finds, and the second face's weight set to 1 from ``span[0]`` s to
    the end of its own turn (where the first face alone talks until ``span[1]``): the output's ITD over that span
    with ``--model speech`` (the split) and with the default renderer (the weights' shares)."""
    import tempfile

    from binauralize.api import binauralize_file
    from binauralize.io.media import iter_audio, probe
    from binauralize.metrics.spatial import cues_over_time
    from binauralize.tracks import load_tracks

    video = data / "videos" / "visualvoice_interview.mp4"
    print(f"`python benchmarks/talkers_real_brir.py --data {data} --wrong-turns` ({video.name}, "
          f"{span[0]:g}-{span[1]:g} s: only face0 talks, the turns say face1 too)\n")
    print("| tracks | method | active 100-ms frames | median ITD us | frames with the ITD on face0's side (> +60 us) "
          "| median ILD dB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        binauralize_file(video, tmp / "found.wav", save_tracks=tmp / "found.json", notice=lambda m: None)
        tracks = load_tracks(tmp / "found.json")
        face1 = next(t for t in tracks if t.name == "face1")
        w = np.interp(np.arange(0, 20, 0.05), face1.weight_times, face1.weight)
        t = np.arange(0, 20, 0.05)
        w[(t >= span[0]) & (t < span[1])] = 1.0
        face1.weight_times, face1.weight = t, w
        runs = [("found (correct turns)", "DSP renderer (default)", "dsp", tmp / "found.json"),
                ("wrong turns", "DSP renderer (default)", "dsp", tracks),
                ("wrong turns", "--model speech (the split)", "speech", tracks)]
        for label, name, method, tr in runs:
            out = tmp / f"{method}_{label[:5]}.wav"
            notes = []
            binauralize_file(video, out, sources=tr, method=method, notice=notes.append)
            y = np.concatenate(list(iter_audio(out)), axis=-1)
            y = y if y.shape[0] == 2 else y.T
            c = cues_over_time(y, probe(out).sample_rate, 0.1)
            tt = np.arange(len(c["itd"])) * 0.1 + 0.05
            sel = (tt > span[0] + 0.3) & (tt < span[1]) & c["active"]
            itd, ild = c["itd"][sel] * 1e6, c["ild"][sel]
            print(f"| {label} | {name} | {sel.sum()} | {np.median(itd):.0f} | {np.mean(itd > 60):.0%} | "
                  f"{np.median(ild):.2f} |")
            said = [n for n in notes if "at once" in str(n)]
            if said:
                print(f"|  | ({said[-1]}) |  |  |  |  |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="../shared/data")
    ap.add_argument("--solo", type=float, nargs="+", default=[5.0, 2.5], help="seconds each voice is heard alone")
    ap.add_argument("--overlap", type=float, default=8.0, help="seconds both talk")
    ap.add_argument("--json", default=str(HERE / "results" / "talkers_real_brir.json"))
    ap.add_argument("--speed", action="store_true", help="time the split instead (no table)")
    ap.add_argument("--wrong-turns", action="store_true", help="turns claiming an overlap where one talks (no table)")
    a = ap.parse_args(argv)
    if a.speed:
        return speed(Path(a.data))
    if a.wrong_turns:
        return wrong_turns(Path(a.data))
    from binauralize import evaluate as ev
    from binauralize.api import Binauralizer
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.metrics.signal import gao2019_metrics
    from binauralize.models.speech import SpeechSpatializer

    data = Path(a.data)
    b = Binauralizer()
    methods = {
        "Mono-Mono": None,
        "DSP renderer (the tool's default), weighted tracks": "dsp",
        "speech, talkers sharing the voice (before)": SpeechSpatializer(b.renderer, split_talkers=False),
        "speech, talkers taken apart (new)": SpeechSpatializer(b.renderer),
    }
    rows, t0 = [], time.time()
    for solo in a.solo:
        for va, vb in itertools.permutations(VOICES, 2):
            gt, ga, gb, tracks = conversation(data, va, vb, solo, a.overlap)
            mono = gt.mean(axis=0)
            t60 = estimate_t60(band_envelopes(mono, SR))
            o = int(2 * solo * SR)
            for label, m in methods.items():
                tm = time.perf_counter()
                if m is None:
                    pred = np.stack([mono, mono])
                elif m == "dsp":
                    pred = b.render(mono, SR, tracks)
                else:
                    pred = m.render(mono, SR, tracks, t60=t60)
                secs = time.perf_counter() - tm
                r = ev.score_pair(pred, gt, SR, mono=mono)
                ov = gao2019_metrics(pred[:, o:], gt[:, o:], SR)
                row = {"method": label, "clip": f"{va[:4]}+40 / {vb[:4]}-40, {solo:g} s alone",
                       "solo_s": solo, "seconds": secs, "gao2019/stft": r["gao2019/stft"], "gao2019/env": r["gao2019/env"],
                       "overlap/stft": ov["stft"], "overlap/env": ov["env"], "ild_err_db": r["ild_err_db"],
                       "width_band_db": r["width_band_db"]}
                if isinstance(m, SpeechSpatializer) and m.separate_talkers:
                    voices, said = __import__("binauralize.models.talkers", fromlist=["split_talkers"]).split_talkers(
                        mono, SR, tracks, m.talker_options)
                    row["split"] = said
                    if voices is not None:
                        ra, rb = ga.mean(axis=0)[o:], gb.mean(axis=0)[o:]
                        mo = mono[o:]
                        row["si_sdri_db"] = 0.5 * (si_sdr(voices[0][o:], ra) - si_sdr(mo, ra)
                                                   + si_sdr(voices[1][o:], rb) - si_sdr(mo, rb))
                rows.append(row)
            print(f"{rows[-1]['clip']}: " + ", ".join(f"{r['method'][:22]} {r['gao2019/stft']:.3f}/{r['overlap/stft']:.3f}"
                                                      for r in rows[-len(methods):])
                  + (f", SI-SDRi {rows[-1].get('si_sdri_db', float('nan')):+.1f} dB" if rows else ""), file=sys.stderr)
    lines = ["| voices alone for | method | STFT (whole clip) | STFT (overlap) | ENV (overlap) | ILD error dB | width per "
             "band dB | SI-SDRi in the overlap dB | paired vs DSP, overlap STFT (lower on) |", "|---|---|---|---|---|---|---|---|---|"]
    for solo in a.solo:
        sub = [r for r in rows if r["solo_s"] == solo]
        dsp = {r["clip"]: r for r in sub if r["method"].startswith("DSP")}
        for label in methods:
            rs = [r for r in sub if r["method"] == label]
            d = np.array([r["overlap/stft"] - dsp[r["clip"]]["overlap/stft"] for r in rs])
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            si = [r["si_sdri_db"] for r in rs if "si_sdri_db" in r]
            lines.append(f"| {solo:g} s | {label} | {np.mean([r['gao2019/stft'] for r in rs]):.3f} | "
                         f"{np.mean([r['overlap/stft'] for r in rs]):.3f} | {np.mean([r['overlap/env'] for r in rs]):.4f} | "
                         f"{np.nanmean([r['ild_err_db'] for r in rs]):.2f} | {np.nanmean([r['width_band_db'] for r in rs]):+.1f} | "
                         + (f"{np.mean(si):+.1f} (min {np.min(si):+.1f})" if si else "") + " | "
                         + ("" if label.startswith("DSP") else f"{d.mean():+.3f} +- {se:.3f} ({np.mean(d < 0):.0%})") + " |")
    cmd = "python benchmarks/talkers_real_brir.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (f"`{cmd}` ({time.time() - t0:.0f} s; {len(VOICES) * (len(VOICES) - 1)} ordered pairs per row, "
            f"{a.overlap:g} s together)\n\n" + "\n".join(lines))
    print(text)
    out = Path(a.json)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"command": cmd, "table": text, "rows": rows}, indent=1))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
