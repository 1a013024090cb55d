"""A SimBinaural-style generator (Garg et al., BMVC 2021): simulated rooms, real dry recordings as sources, binaural
ground truth through a measured HRTF, a separate real-mono (omnidirectional microphone) track, and a video in which
every on-screen source is drawn where it is.

Layout written under ``--out`` (FAIR-Play-like; documented in docs/dataset.md):

    binaural_audios/<id>.wav   ground-truth binaural [2, T] (float32)
    mono_audios/<id>.wav       real-mono track: omni microphone at the camera, own room response, colour, noise
    mono_mix/<id>.wav          (L + R) / 2 of the ground truth
    stems/<id>_<k>.wav         dry source stems as played (before the room)
    rirs/<id>.npz              per source: binaural room impulse response (direct + reflections) at the start, RT60
    videos/<id>.mp4            H.264 video (glyphs over a photo background)
    meta/<id>.json             everything else: room, camera, HRTF, sources, per-frame directions, tracks, seeds
    splits/*.txt               scene / position / HRTF splits (written by :func:`write_splits`)

Every clip is a pure function of (seed, index, config): same seed -> identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..dsp.geometry import cart_to_sph, direction_to_pixel, sph_to_cart
from ..dsp.hrtf import HRTF, resample_axis
from ..dsp.render import PLAIN, Renderer
from ..dsp.room import RoomOptions, reflections_brir
from ..tracks import SourceTrack, tracks_to_json

SONIC_PI_DIR = "/usr/share/sonic-pi/samples"
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
CLASS_GLYPH = {"drum": "\U0001F941", "tabla": "\U0001FA98", "guitar": "\U0001F3B8", "bass": "\U0001F3BB",
               "synth": "\U0001F3B9", "bell": "\U0001F514", "voice": "\U0001F5E3", "ambient": "\U0001F3B5",
               "percussion": "\U0001FA87", "other": "\U0001F50A", "trumpet": "\U0001F3BA", "sax": "\U0001F3B7",
               "flute": "\U0001FA88", "accordion": "\U0001FA97"}
PREFIX_CLASS = {"drum": "drum", "bd": "drum", "sn": "drum", "tabla": "tabla", "guit": "guitar", "bass": "bass",
                "elec": "synth", "mehackit": "synth", "glitch": "synth", "ambi": "ambient", "perc": "percussion",
                "loop": "drum", "vinyl": "other", "misc": "other"}
OCCLUDERS = {"plant": "\U0001FAB4", "chair": "\U0001FA91", "box": "\U0001F4E6", "lamp": "\U0001FA94"}  # scene objects
BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "camera")  # bundled in scikit-image


@dataclass(frozen=True)
class SynthConfig:
    """Generator settings (defaults: 10-s clips at 24 kHz, 320x180 video at 10 fps, 1-3 sources)."""

    seconds: float = 10.0
    sample_rate: int = 24000
    fps: int = 10
    width: int = 320
    height: int = 180
    max_sources: int = 3
    p_moving: float = 0.4
    p_offscreen: float = 0.15
    p_silent_distractor: float = 0.15
    sources_dir: str | list | None = None  # one folder or several, pooled
    hrtf: str | None = None
    heldout_hrtf: str | None = None
    p_heldout: float = 0.1
    max_order: int = 3
    p_pan: float = 0.3
    max_pan_deg_per_s: float = 6.0
    p_dolly: float = 0.25          # camera translation (a dolly along a straight line at constant speed)
    max_dolly_m_per_s: float = 0.3
    p_occluder: float = 0.3        # per on-screen source: a scene object drawn in front of it
    rt60_range: tuple = (0.2, 0.9)        # s, uniform
    distance_range: tuple = (1.2, 4.5)    # m, sounding sources' distance from the camera, uniform


def dry_pool(sources_dir) -> list[tuple[str, str]]:
    """(path, class) of the dry recordings: ``sources_dir`` (a folder or a list of folders, pooled; class =
    file-name prefix before '_' when known, else the sub-folder) or Debian's sonic-pi-samples (CC0 freesound
    recordings)."""
    if isinstance(sources_dir, (list, tuple)):
        if len(sources_dir) > 1:
            return [x for d in sources_dir for x in dry_pool(d)]
        sources_dir = sources_dir[0] if sources_dir else None
    root = Path(sources_dir or SONIC_PI_DIR)
    if not root.is_dir():
        from ..errors import InputError

        raise InputError(f"no dry sources: {root} missing (install Debian's sonic-pi-samples or pass --sources-dir)")
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in (".wav", ".flac", ".ogg"):
            continue
        prefix = p.stem.split("_")[0].lower()
        cls = PREFIX_CLASS.get(prefix, p.parent.name if p.parent != root else prefix)
        out.append((str(p), cls))
    if not out:
        from ..errors import InputError

        raise InputError(f"no .wav/.flac/.ogg files in {root}")
    return out


def _load_dry(path: str, sr: int) -> np.ndarray:
    import soundfile as sf

    x, fs = sf.read(path, always_2d=True, dtype="float64")
    x = resample_axis(x.mean(axis=1), fs, sr)
    return x / (np.sqrt(np.mean(x**2)) + 1e-9)


def _phrase(rng, files: list[str], n: int, sr: int) -> np.ndarray:
    """Fill ``n`` samples with random pieces of the class's recordings separated by short pauses."""
    out = np.zeros(n)
    i = int(rng.integers(0, sr // 2))
    while i < n:
        x = _load_dry(files[int(rng.integers(len(files)))], sr)
        seg = min(len(x), int(rng.uniform(0.5, 3.0) * sr), n - i)
        s0 = int(rng.integers(0, max(1, len(x) - seg)))
        out[i:i + seg] += x[s0:s0 + seg] * rng.uniform(0.5, 1.0)
        i += seg + int(rng.uniform(0.05, 0.8) * sr)
    return out


@dataclass
class SourceSpec:
    cls: str
    files: list
    start_xyz: list
    end_xyz: list
    sounding: bool
    moving: bool
    onscreen: bool = True
    info: dict = field(default_factory=dict)


def _scene(rng, cfg: SynthConfig, pool) -> dict:
    size = np.array([rng.uniform(4.5, 10.0), rng.uniform(3.5, 8.0), rng.uniform(2.6, 4.0)])
    rt60 = float(rng.uniform(*cfg.rt60_range))
    # Sabine: a room this large cannot be this dry (wall absorption would exceed 0.95); keep the driest it can be
    surface = 2 * (size[0] * size[1] + size[0] * size[2] + size[1] * size[2])
    rt60 = max(rt60, 24 * np.log(10) / 343.0 * float(np.prod(size)) / (0.95 * surface))
    cam = np.array([rng.uniform(0.15, 0.3) * size[0], size[1] / 2 + rng.uniform(-0.5, 0.5), 1.5])
    fov = float(rng.uniform(55.0, 85.0))
    by_class: dict = {}
    for p, c in pool:
        by_class.setdefault(c, []).append(p)
    classes = sorted(by_class)
    n = int(rng.choice(np.arange(1, cfg.max_sources + 1), p=_count_probs(cfg.max_sources)))
    sources = []
    chosen = rng.choice(len(classes), size=min(n, len(classes)), replace=False)
    for k, ci in enumerate(chosen):
        off = rng.random() < cfg.p_offscreen and n > 1
        half = fov / 2 - 4
        az = rng.uniform(half + 10, 80) * rng.choice([-1, 1]) if off else rng.uniform(-half, half)
        dist = rng.uniform(*cfg.distance_range)
        el = rng.uniform(-8, 8)
        start = _inside(cam + sph_to_cart(az, el, dist), size)
        moving = rng.random() < cfg.p_moving
        if moving:
            az2 = np.clip(az + rng.uniform(-30, 30), -80, 80)
            end = _inside(cam + sph_to_cart(az2, el, rng.uniform(*cfg.distance_range)), size)
        else:
            end = start
        sources.append(SourceSpec(classes[ci], by_class[classes[ci]], start.tolist(), end.tolist(), True, bool(moving),
                                  not off))
    if rng.random() < cfg.p_silent_distractor:  # seen but silent
        cls = classes[int(rng.integers(len(classes)))]
        az = rng.uniform(-fov / 2 + 5, fov / 2 - 5)
        pos = _inside(cam + sph_to_cart(az, 0, rng.uniform(1.5, 4)), size)
        sources.append(SourceSpec(cls, by_class[cls], pos.tolist(), pos.tolist(), False, False, True))
    pan = float(rng.uniform(-cfg.max_pan_deg_per_s, cfg.max_pan_deg_per_s)) if rng.random() < cfg.p_pan else 0.0
    return {"size": size.tolist(), "rt60": rt60, "camera": cam.tolist(), "fov": fov, "sources": sources,
            "background": BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], "pan_deg_per_s": pan}


def _count_probs(m: int) -> np.ndarray:
    p = np.array([0.45, 0.35, 0.2][:m])
    return p / p.sum()


def _inside(p: np.ndarray, size: np.ndarray) -> np.ndarray:
    return np.clip(p, 0.3, size - 0.3)


def _direction(cam: np.ndarray, pos: np.ndarray) -> tuple[float, float, float]:
    a, e, r = cart_to_sph(np.asarray(pos) - cam)
    return float(a), float(e), float(r)


def _positions(spec: SourceSpec, times: np.ndarray, seconds: float) -> np.ndarray:
    a = np.asarray(spec.start_xyz)
    b = np.asarray(spec.end_xyz)
    u = np.clip(times / seconds, 0, 1)[:, None]
    return a[None] + u * (b - a)[None]


def generate_clip(out: Path, index: int, seed: int, cfg: SynthConfig, pool=None) -> dict:
    """Generate clip ``index`` of the set with ``seed`` into ``out``; returns its metadata."""
    import pyroomacoustics as pra
    import soundfile as sf

    pool = pool or dry_pool(cfg.sources_dir)
    rng = np.random.default_rng([seed, index])
    cid = f"{index:06d}"
    sr, n = cfg.sample_rate, int(round(cfg.seconds * cfg.sample_rate))
    scene = _scene(rng, cfg, pool)
    rng_x = np.random.default_rng([seed, index, 1])  # camera translation and occluders (newer features)
    scene["dolly"] = _dolly(rng_x, cfg, np.array(scene["camera"]), np.array(scene["size"]))
    heldout = bool(cfg.heldout_hrtf and rng.random() < cfg.p_heldout)
    hrtf_path = cfg.heldout_hrtf if heldout else cfg.hrtf
    hrtf = HRTF.load(hrtf_path, float(sr))
    renderer = Renderer(hrtf, PLAIN)
    cam = np.array(scene["camera"])
    size = np.array(scene["size"])
    room_opts = RoomOptions(size=tuple(size), rt60=scene["rt60"], listener=tuple(cam), max_order=cfg.max_order,
                            seed=int(rng.integers(1 << 30)))
    frame_t = np.arange(int(round(cfg.seconds * cfg.fps))) / cfg.fps
    binaural = np.zeros((2, n))
    mic = np.zeros(n)
    tracks, src_meta, stems, rirs = [], [], [], {}
    absorption, _ = pra.inverse_sabine(scene["rt60"], size)
    cam_f = cam[None] + np.asarray(scene["dolly"])[None] * frame_t[:, None]  # [F, 3] camera (= head) positions
    for k, spec in enumerate(scene["sources"]):
        pos_f = _positions(spec, frame_t, cfg.seconds)
        dirs = np.array([_direction(c, p) for c, p in zip(cam_f, pos_f)])  # [F, 3] world az, el, dist
        # the camera (= the listener's head) turns at pan_deg_per_s: directions relative to it rotate the other way
        dirs[:, 0] = (dirs[:, 0] - scene["pan_deg_per_s"] * frame_t + 180.0) % 360.0 - 180.0
        meta = {"class": spec.cls, "sounding": spec.sounding, "moving": spec.moving, "onscreen": spec.onscreen,
                "start_xyz": spec.start_xyz, "end_xyz": spec.end_xyz,
                "azimuth": dirs[:, 0].round(3).tolist(), "elevation": dirs[:, 1].round(3).tolist(),
                "distance": dirs[:, 2].round(3).tolist()}
        if spec.sounding:
            dry = _phrase(rng, spec.files, n, sr) * 0.05
            stems.append(dry)
            track = SourceTrack(f"{spec.cls}{k}", frame_t, dirs[:, 0], dirs[:, 1], dirs[:, 2], info={"class": spec.cls})
            direct = renderer.render(dry, [track])
            gain = 1.0 / np.interp(np.arange(n) / sr, frame_t, dirs[:, 2])
            refl = reflections_brir(hrtf, dirs[0, 0], dirs[0, 1], dirs[0, 2], room_opts, equalized=False)
            from scipy.signal import oaconvolve

            if spec.moving or scene["pan_deg_per_s"] or any(scene["dolly"]):
                wet = _moving_reflections(dry, hrtf, room_opts, frame_t, dirs, scene["pan_deg_per_s"], sr,
                                          dolly=scene["dolly"])
            else:
                wet = np.stack([oaconvolve(dry, refl[c])[:n] for c in range(2)]) / dirs[0, 2]
            binaural += direct * gain[None] + wet
            # omni microphone at the camera: its own room response (image sources + ray-free Sabine tail by pra)
            room = pra.ShoeBox(size, fs=sr, materials=pra.Material(absorption), max_order=cfg.max_order + 3)
            room.add_source(np.asarray(spec.start_xyz))
            mic_xyz = cam + np.array([0.02, 0.01, 0.03])
            room.add_microphone(mic_xyz)
            room.compute_rir()
            rir = _align_mic_rir(np.asarray(room.rir[0][0]), np.linalg.norm(np.asarray(spec.start_xyz) - mic_xyz),
                                 renderer.hrtf.ear_delays(dirs[0, 0], dirs[0, 1]).mean(), sr)
            mic += oaconvolve(dry, rir)[:n]
            tracks.append(track)
            hrir_direct = renderer.hrtf.hrir(dirs[0, 0], dirs[0, 1], refl.shape[1] if refl.shape[1] < 4096 else 4096)
            brir = refl.copy()
            brir[:, : hrir_direct.shape[1]] += hrir_direct
            rirs[f"brir_{k}"] = (brir / dirs[0, 2]).astype(np.float16)
            meta["stem"] = f"stems/{cid}_{k}.wav"
        src_meta.append(meta)
    # real mono: colouration (random tilt), noise, level (Okano et al.: models must face real microphones)
    mono_real = _colour(mic, sr, rng) + _noise(n, sr, rng) * np.sqrt(np.mean(mic**2) + 1e-12) * 10 ** (-rng.uniform(25, 45) / 20)
    mono_real *= 10 ** (rng.uniform(-6, 3) / 20)
    peak = max(np.abs(binaural).max(), 1e-9)
    scale = 0.9 / peak
    binaural *= scale
    mono_real *= 0.9 / max(np.abs(mono_real).max(), 1e-9)
    for d in ("binaural_audios", "mono_audios", "mono_mix", "stems", "rirs", "videos", "meta"):
        (out / d).mkdir(parents=True, exist_ok=True)
    sf.write(out / "binaural_audios" / f"{cid}.wav", binaural.T.astype(np.float32), sr, subtype="FLOAT")
    sf.write(out / "mono_audios" / f"{cid}.wav", mono_real.astype(np.float32), sr, subtype="FLOAT")
    sf.write(out / "mono_mix" / f"{cid}.wav", binaural.mean(axis=0).astype(np.float32), sr, subtype="FLOAT")
    for k, s in enumerate(stems):
        sf.write(out / "stems" / f"{cid}_{k}.wav", (s * scale).astype(np.float32), sr, subtype="FLOAT")
    rirs["rt60"] = np.array(scene["rt60"], dtype=np.float32)
    np.savez_compressed(out / "rirs" / f"{cid}.npz", **rirs)
    scene["occluders"] = _occluders(rng_x, cfg, src_meta)
    pixels = _write_video(out / "videos" / f"{cid}.mp4", scene, src_meta, cfg, rng)
    for m, px in zip(src_meta, pixels):
        m["pixel_xy"] = px
    meta = {
        "id": cid, "seed": seed, "index": index, "config": asdict(cfg), "sample_rate": sr, "fps": cfg.fps,
        "room": {"size": scene["size"], "rt60": scene["rt60"], "absorption": float(absorption)},
        "camera": {"position": scene["camera"], "fov_deg": scene["fov"], "width": cfg.width, "height": cfg.height,
                   "facing": "+x (azimuth 0) at t = 0", "pan_deg_per_s": scene["pan_deg_per_s"],
                   "yaw_deg": (scene["pan_deg_per_s"] * frame_t).round(3).tolist(),
                   "dolly_m_per_s": [round(float(v), 4) for v in scene["dolly"]],
                   "end_position": (cam + np.asarray(scene["dolly"]) * cfg.seconds).round(4).tolist()},
        "occluders": scene["occluders"],
        "background": scene["background"], "hrtf": hrtf_path or "bundled MIT KEMAR", "hrtf_heldout": heldout,
        "binaural_scale": scale, "sources": src_meta, "tracks": tracks_to_json(tracks),
        "scene_id": hashlib.sha1(f"{scene['background']}|{np.round(size, 1).tolist()}".encode()).hexdigest()[:10],
    }
    tmp = out / "meta" / f".{cid}.json.partial"  # written last and whole: a clip with its meta is complete
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta" / f"{cid}.json")
    return meta


def _dolly(rng, cfg: SynthConfig, cam: np.ndarray, size: np.ndarray) -> list:
    """Camera translation velocity [3] m/s (zero for most clips): horizontal, kept inside the room."""
    if rng.random() >= cfg.p_dolly:
        return [0.0, 0.0, 0.0]
    ang = rng.uniform(0, 2 * np.pi)
    v = np.array([np.cos(ang), np.sin(ang), 0.0]) * rng.uniform(0.1, cfg.max_dolly_m_per_s)
    end = _inside(cam + v * cfg.seconds, size)
    return ((end - cam) / cfg.seconds).round(5).tolist()


def _occluders(rng, cfg: SynthConfig, src_meta: list) -> list:
    """Scene objects drawn in front of some on-screen sources (covering 25-60% of the glyph's width at the start,
    holding their place in the picture); each source's meta gets ``occluded_by``."""
    occ = []
    for j, m in enumerate(src_meta):
        m["occluded_by"] = None
        if not m["onscreen"] or rng.random() >= cfg.p_occluder:
            continue
        name = str(rng.choice(sorted(OCCLUDERS)))
        cover = float(rng.uniform(0.25, 0.6))
        side = float(rng.choice([-1.0, 1.0]))
        occ.append({"object": name, "source": j, "cover": round(cover, 3), "side": side,
                    "scale": round(float(rng.uniform(0.8, 1.3)), 3)})
        m["occluded_by"] = name
    return occ


def _moving_reflections(dry: np.ndarray, hrtf: HRTF, room_opts: RoomOptions, frame_t: np.ndarray, dirs: np.ndarray,
                        pan: float, sr: int, hop_s: float = 0.5, dolly=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Reflections of a moving source, a turning head or a moving camera (``dolly`` m/s): the room response at key
    positions every ``hop_s``,
    applied to Hann-windowed overlapping pieces of the signal (overlap-add; the windows sum to one), so the
    reflections follow the source -> ``[2, n]``."""
    from scipy.signal import oaconvolve

    n = len(dry)
    hop = int(hop_s * sr)
    win = np.hanning(2 * hop + 1)[:-1]  # periodic Hann: shifted copies at hop sum to one
    out = np.zeros((2, n))
    for c0 in range(-hop, n, hop):
        a, b = max(0, c0), min(n, c0 + 2 * hop)
        if a >= b:
            continue
        piece = dry[a:b] * win[a - c0:b - c0]
        tc = (c0 + hop) / sr
        az, el, dist = (float(np.interp(tc, frame_t, dirs[:, j])) for j in range(3))
        opts = room_opts
        if any(dolly):
            from dataclasses import replace

            opts = replace(room_opts, listener=tuple(np.asarray(room_opts.listener) + np.asarray(dolly) * tc))
        refl = reflections_brir(hrtf, az, el, dist, opts, yaw_deg=pan * tc, equalized=False) / dist
        for ch in range(2):
            y = oaconvolve(piece, refl[ch])
            m = min(len(y), n - a)
            out[ch, a:a + m] += y[:m]
    return out


def _align_mic_rir(rir: np.ndarray, distance: float, head_delay_s: float, sr: int) -> np.ndarray:
    """The microphone's RIR ``[L]`` shifted so that its direct sound arrives when the binaural ground truth's does.

    A microphone beside the listener's head hears each source with the same propagation delay as the ears. The
    binaural rendering drops that delay (the HRTF's common onset is removed; reflections are placed relative to the
    direct sound), while pyroomacoustics' RIR keeps it, plus half its fractional-delay filter. Unaligned, the real
    mono lagged the ground truth by distance / c + 0.9 ms (2.9-6.7 ms in the near set, a different lag for each
    source): a mask on the mono cannot undo an unknown delay, so L - R was unpredictable from it above ~100 Hz.
    ``head_delay_s``: the mean of the renderer's two ear delays for the source's direction."""
    import pyroomacoustics as pra

    arrival = distance / pra.constants.get("c") * sr + pra.constants.get("frac_delay_length") // 2
    shift = int(round(arrival - head_delay_s * sr))
    return rir[shift:] if shift >= 0 else np.pad(rir, (-shift, 0))


def _colour(x: np.ndarray, sr: int, rng) -> np.ndarray:
    """A random spectral tilt (+-6 dB across the band) and a gentle high cut, as different microphones have."""
    from scipy.signal import butter, sosfilt

    tilt = rng.uniform(-6, 6)
    lo = sosfilt(butter(1, 1000, fs=sr, output="sos"), x)
    y = x + (10 ** (tilt / 20) - 1) * (x - lo)
    cut = min(rng.uniform(6000, 11000), 0.45 * sr)
    return sosfilt(butter(2, cut, fs=sr, output="sos"), y)


def _noise(n: int, sr: int, rng) -> np.ndarray:
    """Pink-ish background noise, unit RMS."""
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    w /= np.sqrt(np.maximum(f, 20.0))
    x = np.fft.irfft(w, n=n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _glyph(cls: str, size: int) -> np.ndarray:
    """RGBA glyph of a class: its Noto colour emoji when the font is installed, else a coloured disc."""
    from PIL import Image, ImageDraw

    g = _glyph_char(CLASS_GLYPH.get(cls, CLASS_GLYPH["other"]), size)
    if g is not None:
        return g
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    hue = int(hashlib.md5(cls.encode()).hexdigest()[:6], 16)
    ImageDraw.Draw(img).ellipse((0, 0, size - 1, size - 1), fill=((hue >> 16) & 255, (hue >> 8) & 255, hue & 255, 255))
    return np.asarray(img)


def _glyph_char(char: str, size: int) -> np.ndarray | None:
    """RGBA ``[size, size, 4]`` of an emoji character in Noto Color Emoji; None without the font."""
    from PIL import Image, ImageDraw, ImageFont

    if os.path.exists(EMOJI_FONT):
        try:
            font = ImageFont.truetype(EMOJI_FONT, 109)
            img = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
            ImageDraw.Draw(img).text((0, 0), char, font=font, embedded_color=True)
            img = img.crop(img.getbbox() or (0, 0, 136, 128))
            return np.asarray(img.resize((size, size)))
        except Exception:
            pass
    return None


def _blend(img: np.ndarray, g: np.ndarray, x0: int, y0: int) -> None:
    """Alpha-blend RGBA ``g`` into ``img`` in place with its top-left corner at (x0, y0), clipped to the image."""
    h, w = img.shape[:2]
    s_h, s_w = g.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + s_w), min(h, y0 + s_h)
    if xa >= xb or ya >= yb:
        return
    patch = g[ya - y0: yb - y0, xa - x0: xb - x0]
    alpha = patch[..., 3:4] / 255.0
    img[ya:yb, xa:xb] = (img[ya:yb, xa:xb] * (1 - alpha) + patch[..., :3] * alpha).astype(np.uint8)


def _background(name: str, w: int, h: int, rng, extra_w: int = 0) -> np.ndarray:
    import cv2

    try:
        from skimage import data

        img = getattr(data, name)()
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
    except Exception:
        img = (rng.random((h, w, 3)) * 80 + 60).astype(np.uint8)
    ih, iw = img.shape[:2]
    ww = w + extra_w
    scale = max(ww / iw, h / ih)
    img = cv2.resize(img, (int(np.ceil(iw * scale)), int(np.ceil(ih * scale))), interpolation=cv2.INTER_AREA)
    y0 = int(rng.integers(0, img.shape[0] - h + 1))
    x0 = int(rng.integers(0, img.shape[1] - ww + 1))
    return (img[y0:y0 + h, x0:x0 + ww] * 0.7).astype(np.uint8)  # dimmed so glyphs stand out


def _write_video(path: Path, scene: dict, src_meta: list, cfg: SynthConfig, rng) -> list:
    """Draw each on-screen source's glyph where it projects, scaled by distance; returns first-frame pixel centres."""
    from ..testing.clips import make_clip

    px_per_deg = cfg.width / scene["fov"]
    travel = int(np.ceil(abs(scene["pan_deg_per_s"]) * cfg.seconds * px_per_deg)) + 2
    bg = _background(scene["background"], cfg.width, cfg.height, rng, extra_w=travel)
    start_x = travel if scene["pan_deg_per_s"] > 0 else 0  # turning left: the world slides right in the picture
    glyphs = {}
    frames = int(round(cfg.seconds * cfg.fps))
    pixels = []
    for m in src_meta:
        try:
            x, y = direction_to_pixel(m["azimuth"][0], m["elevation"][0], cfg.width, cfg.height, scene["fov"])
            pixels.append([round(float(x), 1), round(float(y), 1)])
        except ValueError:
            pixels.append(None)

    def draw(i, w, h):
        shift = int(round(scene["pan_deg_per_s"] * i / cfg.fps * px_per_deg))
        x0 = int(np.clip(start_x - shift, 0, bg.shape[1] - w))
        img = bg[:, x0:x0 + w].copy()
        order = np.argsort([-m["distance"][i] for m in src_meta])  # far ones first (occlusion)
        for j in order:
            m = src_meta[j]
            try:
                x, y = direction_to_pixel(m["azimuth"][i], m["elevation"][i], w, h, scene["fov"])
            except ValueError:
                continue
            s = int(np.clip(0.9 * h / max(m["distance"][i], 0.5), 12, h // 2))
            g = glyphs.setdefault((m["class"], s), _glyph(m["class"], s))
            _blend(img, g, int(round(x - s / 2)), int(round(y - s / 2)))
        for o in scene.get("occluders", []):  # scene objects in front of their source, fixed where they started
            if id(o) in occ_glyphs:
                _blend(img, occ_glyphs[id(o)], int(round(o["xy"][0] - o["size"] / 2)), int(round(o["xy"][1] - o["size"] / 2)))
        return img

    occ_glyphs = {}
    for o in scene.get("occluders", []):
        m = src_meta[o["source"]]
        try:
            x, y = direction_to_pixel(m["azimuth"][0], m["elevation"][0], cfg.width, cfg.height, scene["fov"])
        except ValueError:
            continue
        s = int(np.clip(0.9 * cfg.height / max(m["distance"][0], 0.5), 12, cfg.height // 2))
        so = max(8, int(s * o["scale"]))
        # its edge covers `cover` of the source glyph's width from one side
        cx = x + o["side"] * (s / 2 - o["cover"] * s + so / 2)
        o["xy"] = [round(float(cx), 1), round(float(y + s * 0.15), 1)]
        o["size"] = so
        g = _glyph_char(OCCLUDERS[o["object"]], so)
        occ_glyphs[id(o)] = g if g is not None else np.concatenate(  # a grey block without the font
            [np.full((so, so, 3), 90, np.uint8), np.full((so, so, 1), 255, np.uint8)], axis=2)

    make_clip(path, seconds=cfg.seconds, sr=8000, audio=np.zeros((1, int(cfg.seconds * 8000)), np.float32),
              width=cfg.width, height=cfg.height, fps=cfg.fps, draw=draw, with_audio=False)
    return pixels


def write_splits(out: Path, seed: int = 0) -> dict:
    """Scene split (80/10/10 by scene id: rooms+backgrounds unseen), position split (test: first source's azimuth
    in [10, 25] deg on either side, a band unseen in training), HRTF split (test: clips made with the held-out HRTF)."""
    metas = [json.loads(p.read_text()) for p in sorted((out / "meta").glob("*.json"))]
    splits: dict = {}

    def bucket(key: str) -> float:
        return int(hashlib.sha1(f"{seed}|{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    for m in metas:
        b = bucket(m["scene_id"])
        name = "scene_train" if b < 0.8 else ("scene_val" if b < 0.9 else "scene_test")
        splits.setdefault(name, []).append(m["id"])
        az0 = abs(next((s["azimuth"][0] for s in m["sources"] if s["sounding"]), 0.0))
        splits.setdefault("position_test" if 10 <= az0 <= 25 else "position_train", []).append(m["id"])
        splits.setdefault("hrtf_test" if m["hrtf_heldout"] else "hrtf_train", []).append(m["id"])
    (out / "splits").mkdir(exist_ok=True)
    # every generated name is rewritten: a split with no clip this time loses its file (an old scene_val.txt whose
    # clips are now in scene_train would leak them); each file is written whole (temporary file, then renamed)
    for name in GENERATED_SPLITS:
        f = out / "splits" / f"{name}.txt"
        ids = splits.get(name, [])
        if not ids:
            f.unlink(missing_ok=True)
            continue
        tmp = out / "splits" / f".{name}.txt.partial"
        tmp.write_text("\n".join(ids) + "\n")
        tmp.replace(f)
    return {k: len(splits.get(k, [])) for k in GENERATED_SPLITS}


GENERATED_SPLITS = ("scene_train", "scene_val", "scene_test", "position_train", "position_test", "hrtf_train",
                    "hrtf_test")


def scene_matches(meta: dict, min_sounding: int = 0, max_sounding: int = 0, static: bool = False,
                  onscreen: bool = False, max_rt60: float = 0.0, min_rt60: float = 0.0) -> bool:
    """Whether a synthetic clip's meta matches the criteria (0 / False: no constraint). ``static``: no sounding
    source moves and the camera neither pans nor dollies; ``onscreen``: every sounding source is in the picture."""
    snd = [s for s in meta["sources"] if s.get("sounding")]
    if len(snd) < min_sounding or (max_sounding and len(snd) > max_sounding):
        return False
    cam = meta.get("camera", {})
    if static and (any(s.get("moving") for s in snd) or float(cam.get("pan_deg_per_s", 0.0)) != 0.0
                   or any(cam.get("dolly_m_per_s") or [])):
        return False
    if onscreen and not all(s.get("onscreen") for s in snd):
        return False
    rt = float(meta["room"]["rt60"])
    return not ((max_rt60 and rt > max_rt60) or (min_rt60 and rt < min_rt60))


def write_subset(out: Path, source_split: str, name: str, **criteria) -> int:
    """Write ``splits/<name>.txt``: the clips of ``source_split`` whose meta matches ``criteria`` (see
    :func:`scene_matches`), e.g. single static on-screen sources in dry rooms for a curriculum or a stratified
    test. Returns the number of clips written; raises ``InputError`` when the split is missing or nothing matches."""
    from ..errors import InputError

    f = out / "splits" / f"{source_split}.txt"
    if not f.is_file():
        raise InputError(f"no split file {f}")
    if name in GENERATED_SPLITS:
        raise InputError(f"refusing to overwrite the generated split {name}: choose another --name")
    ids = [c for c in f.read_text().split()
           if scene_matches(json.loads((out / "meta" / f"{c}.json").read_text()), **criteria)]
    if not ids:
        raise InputError(f"no clip of {source_split} matches {criteria}")
    tmp = out / "splits" / f".{name}.txt.tmp"
    tmp.write_text("\n".join(ids) + "\n")
    tmp.replace(out / "splits" / f"{name}.txt")
    return len(ids)


def _worker(args) -> str:
    out, index, seed, cfg = args
    try:
        generate_clip(Path(out), index, seed, cfg)
    except (ValueError, RuntimeError, OSError, MemoryError) as exc:  # one clear line for the CLI, not a traceback
        from ..errors import BinauralizeError

        raise BinauralizeError(f"clip {index:06d} (seed {seed}) failed: {type(exc).__name__}: {exc}") from None
    return f"{index:06d}"


RECIPE = "synth_recipe.json"
SET_LAYOUT = {"binaural_audios", "mono_audios", "mono_mix", "meta", "videos", "stems", "rirs", "splits", "cache"}
"""The folders a generated set holds."""
GENERATOR_VERSION = 2
"""Bumped when the same settings make different clips. 2 (2026-12-01): an HRTF resampled to the set's rate keeps
its gain (the direct sound was 20 log10(rate / HRTF rate) dB too low against the room: -5.3 dB for the bundled
KEMAR at the default 24 kHz), the room's reflections and tail are heard through the raw HRTF like the direct
sound (they were diffuse-field equalised: flat, and for KEMAR 3.4 dB weaker on average than a head hears them), and
ITDs where an ear's onset was misread are taken from the cross-correlation (about 100 of KEMAR's 710 directions,
behind the ear and 40-50 degrees up)."""


def _recipe(num_clips: int, seed: int, cfg: SynthConfig) -> dict:
    """The settings clip ``i`` depends on, JSON-normalised (paths resolved, tuples as lists)."""
    def absolute(v):
        if v is None:
            return None
        if isinstance(v, (list, tuple)):
            return [absolute(x) for x in v]
        return str(Path(v).resolve())

    d = asdict(cfg)
    for k in ("sources_dir", "hrtf", "heldout_hrtf"):
        d[k] = absolute(d[k])
    return json.loads(json.dumps({"generator_version": GENERATOR_VERSION, "num_clips": num_clips, "seed": seed, **d}))


def claim_folder(out: Path, num_clips: int, seed: int, cfg: SynthConfig) -> None:
    """Write ``out/synth_recipe.json`` (the settings that make the set: clip ``i`` depends only on them), or check
    that a folder already holding one was made with the same settings, so that shards and reruns add to one set
    and a different recipe cannot mix its clips into it. InputError for a folder holding anything but a set.
    Safe for shards that start together: the recipe appears whole or not at all (a hard link of a written file)."""
    from ..errors import InputError

    recipe = _recipe(num_clips, seed, cfg)
    path = out / RECIPE
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder: choose a new folder for the set")
    if out.is_dir() and not path.is_file():
        names = [p.name for p in out.iterdir() if not p.name.startswith(".") and p.name != RECIPE]
        foreign = sorted(n for n in names if n not in SET_LAYOUT)
        if foreign:
            raise InputError(f"{out} holds other files ({', '.join(foreign[:3])}): choose a new folder for the set")
        if (out / "meta").is_dir() and any((out / "meta").iterdir()):
            raise InputError(f"{out} holds a set made before 2026-12-01 (no {RECIPE}), by a generator that makes "
                             "different clips since: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    import uuid

    tmp = out / f".{RECIPE}.partial-{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(recipe, indent=1))
    try:
        os.link(tmp, path)  # fails if another run (or an earlier one) wrote the recipe first
        return
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: exclusive creation (a racing reader may see it half-written)
        try:
            with open(path, "x") as f:
                f.write(tmp.read_text())
            return
        except FileExistsError:
            pass
    finally:
        tmp.unlink()
    old = json.loads(path.read_text())
    diff = [f"{k} {old.get(k)!r} there, {recipe[k]!r} now" for k in recipe if old.get(k) != recipe[k]]
    if diff:
        raise InputError(f"{out} holds a set made with other settings ({'; '.join(diff[:3])}): choose a new "
                         "folder (or delete that one)")


def _ignore_sigint() -> None:
    """In a generator worker: Ctrl-C is the parent's to handle (it stops the workers)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def generate_set(out: Path, num_clips: int, seed: int, cfg: SynthConfig, workers: int = 0, shard: tuple = (0, 1),
                 progress=None) -> list[str]:
    """Generate clips ``shard[0]::shard[1]`` of ``range(num_clips)`` in parallel; splits are written when the set
    is complete (a single shard, or run ``binauralize dataset splits`` after all shards)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    dry_pool(cfg.sources_dir)  # fail early
    from ..errors import BinauralizeError, InputError

    for what, f in (("--hrtf", cfg.hrtf), ("--heldout-hrtf", cfg.heldout_hrtf)):
        if f and not Path(f).is_file():
            raise InputError(f"{what}: no SOFA file {f}")
        if f:  # opened before the folder is claimed, so that a wrong file leaves no recipe behind
            from ..dsp.hrtf import HRTF

            try:
                HRTF.load(f)
            except BinauralizeError:
                raise
            except Exception as exc:
                raise InputError(f"{what}: cannot read {f} as a SOFA HRIR set ({type(exc).__name__})") from None
    claim_folder(out, num_clips, seed, cfg)
    idx = [i for i in range(num_clips) if i % shard[1] == shard[0]]
    made = {i for i in idx if (out / "meta" / f"{i:06d}.json").is_file()}  # same recipe: these are done
    done, idx = [f"{i:06d}" for i in sorted(made)], [i for i in idx if i not in made]
    if progress:
        for _ in done:
            progress()
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for i in idx:
            done.append(_worker((str(out), i, seed, cfg)))
            if progress:
                progress()
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)
        try:
            for cid in ex.map(_worker, [(str(out), i, seed, cfg) for i in idx], chunksize=1):
                done.append(cid)
                if progress:
                    progress()
        except BaseException:  # Ctrl-C or a failed clip: drop the queue; the workers finish the clip in hand
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown()
    if shard[1] == 1:
        write_splits(out, seed)
    return done


def dataset_card(root: Path, out_png: Path | None = None) -> dict:
    """Distributions of a generated set (classes, sources per clip, azimuths, RT60, on/off-screen, moving) -> dict,
    and a PNG of them when ``out_png`` is given."""
    metas = [json.loads(p.read_text()) for p in sorted((Path(root) / "meta").glob("*.json"))]
    if not metas:
        from ..errors import InputError

        raise InputError(f"no meta/*.json in {root}")
    classes: dict = {}
    az, rt, counts = [], [], []
    flags = {"moving": 0, "offscreen": 0, "silent_distractor": 0, "sounding": 0, "heldout_hrtf": 0}
    for m in metas:
        rt.append(m["room"]["rt60"])
        sounding = [s for s in m["sources"] if s["sounding"]]
        counts.append(len(sounding))
        flags["heldout_hrtf"] += int(m["hrtf_heldout"])
        for s in m["sources"]:
            if s["sounding"]:
                classes[s["class"]] = classes.get(s["class"], 0) + 1
                az.append(s["azimuth"][0])
                flags["sounding"] += 1
                flags["moving"] += int(s["moving"])
                flags["offscreen"] += int(not s["onscreen"])
            else:
                flags["silent_distractor"] += 1
    card = {"clips": len(metas), "classes": dict(sorted(classes.items())),
            "sources_per_clip": {str(k): counts.count(k) for k in sorted(set(counts))},
            "rt60_s": {"min": float(np.min(rt)), "median": float(np.median(rt)), "max": float(np.max(rt))},
            "azimuth_deg": {"min": float(np.min(az)), "median": float(np.median(az)), "max": float(np.max(az))},
            **flags}
    if out_png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 4, figsize=(16, 3.2))
        ax[0].bar(list(card["classes"]), list(card["classes"].values()))  # in the JSON's (sorted) order
        ax[0].tick_params(axis="x", rotation=45, labelsize=7)
        ax[0].set_title("sounding sources per class")
        ax[1].bar([str(k) for k in sorted(set(counts))], [counts.count(k) for k in sorted(set(counts))])
        ax[1].set_title("sounding sources per clip")
        ax[2].hist(az, bins=36, range=(-90, 90))
        ax[2].set_title("azimuth at start (deg, + = left)")
        ax[3].hist(rt, bins=20)
        ax[3].set_title("RT60 (s)")
        fig.suptitle(f"{len(metas)} clips")
        fig.tight_layout()
        fig.savefig(out_png, dpi=80)
        plt.close(fig)
    return card
