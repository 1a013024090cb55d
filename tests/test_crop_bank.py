"""The crop bank: a visual model treats pictures unlike its training pictures as not seen (models/crop_bank.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from binauralize.dsp.hrtf import HRTF
from binauralize.dsp.render import Renderer
from binauralize.errors import InputError
from binauralize.models.crop_bank import CropBank, fit_crop_bank
from binauralize.models.position import PositionMasker, PositionSpatializer, source_tokens
from binauralize.tracks import SourceTrack


def _clusters(rng, centres: np.ndarray, n: int, noise: float = 0.15) -> np.ndarray:
    pick = rng.integers(0, len(centres), n)
    return centres[pick] + noise * rng.standard_normal((n, centres.shape[1]))


def test_bank_knows_its_clusters_and_nothing_else(tmp_path):
    """Fitted on eight clusters, it accepts about (1 - quantile) of held-out members, rejects directions far from
    every cluster and the all-zero (not seen) embedding, and survives a save/load round trip."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 64))
    bank = fit_crop_bank(_clusters(rng, centres, 2000), _clusters(rng, centres, 500), prototypes=8, quantile=0.02)
    members = _clusters(rng, centres, 1000)
    assert np.mean([bank.known(e) for e in members]) > 0.95
    # directions orthogonal to every centre: unlike all training crops
    q, _ = np.linalg.qr(np.concatenate([centres.T, rng.standard_normal((64, 20))], axis=1))
    strangers = q[:, 8:28].T * 10.0
    assert not any(bank.known(e) for e in strangers)
    assert not bank.known(np.zeros(64))
    assert bank.similarity(members).shape == (1000,)
    path = bank.save(tmp_path / "bank.safetensors")
    back = CropBank.load(path)
    assert back.threshold == pytest.approx(bank.threshold)
    np.testing.assert_allclose(back.prototypes, bank.prototypes)
    assert back.meta["prototypes"] == 8 and back.meta["quantile"] == 0.02
    with pytest.raises(InputError, match="rebuild it"):  # a model whose trunk gives other channels: one line
        bank.known(np.zeros(65))
    (tmp_path / "bad.safetensors").write_bytes(b"not a bank")
    with pytest.raises(InputError, match="not a readable crop bank"):
        CropBank.load(tmp_path / "bad.safetensors")
    # a checkpoint finds its own bank beside it; elsewhere (not shipped) it has none
    ck = tmp_path / "run.safetensors"
    assert CropBank.for_checkpoint(ck) is None
    bank.save(tmp_path / "run.crops.safetensors")
    assert CropBank.for_checkpoint(ck).threshold == pytest.approx(bank.threshold)


def test_a_bank_made_for_another_trunk_is_refused(tmp_path):
    ck = tmp_path / "run.safetensors"
    CropBank(np.eye(4), 0.5, {"trunk": "resnet18"}).save(tmp_path / "run.crops.safetensors")
    model = PositionMasker(hidden=8, extra_dim=5)
    with pytest.raises(InputError, match="rebuild it"):
        PositionSpatializer(model, lambda sr: Renderer(HRTF.default(sr)), path=ck)
    CropBank(np.eye(6), 0.5, {"trunk": model.trunk}).save(tmp_path / "run.crops.safetensors")
    with pytest.raises(InputError, match="rebuild it"):  # the right trunk name, but 6 channels against the model's 4
        PositionSpatializer(model, lambda sr: Renderer(HRTF.default(sr)), path=ck)
    CropBank(np.eye(4), 0.5, {"trunk": model.trunk}).save(tmp_path / "run.crops.safetensors")
    assert PositionSpatializer(model, lambda sr: Renderer(HRTF.default(sr)), path=ck).crop_bank is not None


def _scene(c: int = 6):
    """Two static sources on screen and a constant feature map ``[c, 5, 10]`` (every crop the same vector)."""
    rng = np.random.default_rng(1)
    fmap = rng.standard_normal((c, 5, 10)).astype(np.float32)
    vec = fmap[:, 0, 0]
    fmap[:] = vec[:, None, None]
    tracks = [SourceTrack.static(20.0, name="a"), SourceTrack.static(-25.0, name="b")]
    return fmap, vec, tracks


def test_a_rejected_crop_is_given_as_not_seen():
    fmap, _, tracks = _scene()
    times = np.arange(0.0, 2.0, 0.1)
    plain, pres = source_tokens(tracks, times, 4, lambda t: fmap, 70.0, 7)
    unseen, _ = source_tokens(tracks, times, 4, None, 70.0, 7)
    rejected, pres2 = source_tokens(tracks, times, 4, lambda t: fmap, 70.0, 7, known=lambda e: False)
    accepted, _ = source_tokens(tracks, times, 4, lambda t: fmap, 70.0, 7, known=lambda e: True)
    assert plain[..., -1].min() == 1.0  # both on screen: the flag is set
    np.testing.assert_array_equal(rejected, unseen)
    np.testing.assert_array_equal(accepted, plain)
    np.testing.assert_array_equal(pres, pres2)


def test_position_model_shown_unfamiliar_pictures_renders_as_with_no_picture():
    """With a bank that rejects what it sees, the output is the no-picture output exactly; with a bank that knows
    the picture, the picture changes the output (so the comparison can fail), and the user is told which sources
    were separated by position only."""
    fmap, vec, tracks = _scene()
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = PositionMasker(hidden=8, extra_dim=7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # an untrained net's masks barely depend on its input
    sp = PositionSpatializer(model, lambda sr: Renderer(HRTF.default(sr)), fov_deg=70.0)
    sr = 16000
    x = np.random.default_rng(2).standard_normal(sr * 2) * 0.1
    none = sp.render(x, sr, tracks, feature_at=None)
    pictured = sp.render(x, sr, tracks, feature_at=lambda t: fmap)
    assert np.abs(pictured - none).max() > 1e-4 * np.abs(none).max()
    orth = np.linalg.qr(np.stack([vec, *np.random.default_rng(3).standard_normal((3, 6))], axis=1))[0][:, 1:].T
    sp.crop_bank = CropBank(orth, 0.5)  # prototypes orthogonal to the picture: unlike it
    np.testing.assert_array_equal(sp.render(x, sr, tracks, feature_at=lambda t: fmap), none)
    msg = sp.tell(tracks, lambda t: fmap)
    assert msg and "a, b" in msg and "position only" in msg
    # judged over the whole clip: static tracks, a picture unlike the training ones only after the first 2 s of 60
    familiar = CropBank(vec[None], 0.5)
    late = lambda t: fmap if t > 2.0 else np.zeros_like(fmap)  # noqa: E731 (zeros: a crop the bank knows)
    familiar.known = lambda e: not np.allclose(e, vec)  # the picture is the unfamiliar one here
    sp.crop_bank = familiar
    assert "a, b" in sp.tell(tracks, late, duration_s=60.0)
    assert sp.tell(tracks, lambda t: fmap if t < 2.0 else np.zeros_like(fmap), duration_s=60.0) is None
    sp.crop_bank = CropBank(vec[None], 0.5)  # the picture is a training picture
    np.testing.assert_array_equal(sp.render(x, sr, tracks, feature_at=lambda t: fmap), pictured)
    assert sp.tell(tracks, lambda t: fmap) is None


def test_shipped_models_carry_the_shipped_bank():
    from binauralize.models.spatializer import open_spatializer

    for name in ("position", "position-nmf", "class-nmf"):
        sp = open_spatializer(name)
        assert sp.crop_bank is not None and 0.0 < sp.crop_bank.threshold < 1.0, name
    assert open_spatializer("position").crop_bank.dim == 320


@pytest.mark.skipif(not os.path.exists("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
                    reason="the synthetic set's glyphs need the Noto colour emoji font (setup.sh --dataset)")
def test_shipped_bank_knows_the_glyphs_and_not_photographs():
    """The generator's glyphs of all eight classes, drawn over one of its background photos at a training size, are
    known; a face photograph and a cat photograph at the same place on a plain wall (the real-recording benchmark's
    frame, where the position model swapped the sources) are not. (The bank knows the generator's background
    photos too: a photograph pasted over one of them can pass, docs/position.md.)"""
    import cv2
    from skimage import data

    from binauralize.data.synth import _background, _blend, _glyph
    from binauralize.dsp.geometry import direction_to_pixel
    from binauralize.models.position import crop_embedding
    from binauralize.models.spatializer import open_spatializer
    from binauralize.testing.faces import face_image

    w, h, fov, az = 320, 180, 70.0, -20.0
    sp = open_spatializer("position", fov_deg=fov)
    x, y = direction_to_pixel(az, 0.0, w, h, fov)

    def similarity(patch: np.ndarray, background: str = "chelsea") -> float:
        img = (_background(background, w, h, np.random.default_rng(0)).copy() if background != "wall"
               else np.full((h, w, 3), (60, 75, 60), np.uint8))
        if patch.shape[2] == 3:
            patch = np.concatenate([patch, np.full(patch.shape[:2] + (1,), 255, np.uint8)], axis=2)
        _blend(img, patch, int(round(x - 32)), int(round(y - 32)))
        fmap = sp.features_from_frames(np.array([0.0]), img[None])(0.0)
        return float(sp.crop_bank.similarity(crop_embedding(fmap, az, 0.0, fov, w, h)[:-1]))

    classes = ["ambient", "bass", "drum", "guitar", "other", "percussion", "synth", "tabla"]
    glyphs = {c: similarity(_glyph(c, 64)) for c in classes}
    assert min(glyphs.values()) >= sp.crop_bank.threshold, glyphs
    photos = {"face": similarity(face_image(64)[0], "wall"),
              "cat": similarity(cv2.resize(data.chelsea(), (64, 64)), "wall")}
    assert max(photos.values()) < sp.crop_bank.threshold, photos
