"""ITD of SOFA sets by the two methods: threshold onsets (what binauralize/dsp/hrtf.py uses) against the
cross-correlation of the 3-kHz-low-passed, upsampled responses (Katz & Noisternig 2014), at 48 kHz.

    .venv/bin/python benchmarks/itd_methods.py binauralize/data/hrtf/*.sofa ../shared/data/hrtf/*.sofa

Prints, for azimuths -90..90 at elevations 0 and 40, the nearest measured direction and both ITDs (us, left
arrival minus right: negative = left ear first).
"""
import numpy as np, sys
from scipy import signal
from binauralize.dsp.hrtf import HRTF, _onset_seconds

def xcorr_itd(irs, sr, up=8, max_s=1.0e-3, fc=3000.0):
    """left onset minus right onset (s) from the peak of the cross-correlation of the low-passed, upsampled IRs."""
    sos = signal.butter(4, min(fc, 0.45 * sr), fs=sr, output="sos")
    low = signal.sosfiltfilt(sos, irs, axis=-1)
    fine = signal.resample_poly(low, up, 1, axis=-1)
    n = fine.shape[-1]
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    out = np.empty(len(irs))
    maxlag = int(round(max_s * sr * up))
    for i in range(0, len(irs), 256):
        L = np.fft.rfft(fine[i:i+256, 0], nfft); R = np.fft.rfft(fine[i:i+256, 1], nfft)
        cc = np.fft.irfft(L * np.conj(R), nfft)  # cc[k] = sum l[t+k] r[t]: peak at k = lag of left after right
        cc = np.concatenate([cc[:, -maxlag:], cc[:, :maxlag + 1]], axis=1)
        out[i:i+256] = (np.argmax(cc, axis=1) - maxlag) / (sr * up)
    return out

for path in sys.argv[1:]:
    h = HRTF.load(path, 48000.0)
    on = _onset_seconds(h.irs, h.sample_rate)
    thr = on[:, 0] - on[:, 1]
    xc = xcorr_itd(h.irs, h.sample_rate)
    print(path.split('/')[-1], h.irs.shape)
    for az in (-90, -60, -30, -15, 0, 15, 30, 60, 90):
        for el in (0, 40):
            u = h._weights(az, el)[0][0]
            print(f"  az {az:+4d} el {el:2d} (grid {h.azimuth[u]:6.1f},{h.elevation[u]:5.1f}): thr {thr[u]*1e6:7.0f} us  xcorr {xc[u]*1e6:7.0f} us")

# what the tool renders with each set (default options, white noise, 48 kHz): ITD below 1.5 kHz (GCC-PHAT,
# positive = left leads) and broadband ILD (positive = left louder) at -90..90 degrees
from binauralize import Binauralizer, SourceTrack  # noqa: E402
from binauralize.metrics.spatial import gcc_phat_itd, ild_db  # noqa: E402

lp = signal.butter(4, 1500, fs=48000, output="sos")
x = np.random.default_rng(0).standard_normal(48000) * 0.1
for path in sys.argv[1:]:
    b = Binauralizer(hrtf=path, notice=lambda m: None)
    row = []
    for az in (-90, -30, -15, 15, 30, 90):
        y = b.render(x, 48000, [SourceTrack.static(az)])
        itd = gcc_phat_itd(signal.sosfiltfilt(lp, y[0]), signal.sosfiltfilt(lp, y[1]), 48000)
        row.append(f"{az:+d}: {itd * 1e6:5.0f} us {ild_db(y[0], y[1], 48000):+5.1f} dB")
    print("rendered", path.split("/")[-1][:34], " | ".join(row), flush=True)
