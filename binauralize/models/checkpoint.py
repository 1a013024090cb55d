"""Self-describing checkpoints: safetensors weights + metadata (model name, arguments, config, version, SHA-256).

No pickle anywhere: ``load`` reads the JSON header, checks the SHA-256 of the tensor data against the one stored in
the metadata, rebuilds the network by name from the registry and loads the weights. Weights may be stored in
float16 to halve the size of shipped files; they are cast back to float32 on load.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import InputError

FORMAT = "binauralize-checkpoint/1"


def _tensor_digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save(path: str | Path, model, config: dict | None = None, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``model`` (a registered network with ``init_args``) to ``path`` atomically.

    ``extra`` (JSON-serialisable) may hold training state such as the epoch, step and best validation score.
    """
    import torch
    from safetensors.torch import save_file

    from .. import __version__

    keep = tuple(getattr(model, "full_precision", ()))  # e.g. position-nmf's NMF dictionaries: tiny values, kept
    state = {k: (v.half() if half and v.is_floating_point() and not k.startswith(keep) else v).detach().cpu()
             .contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "model": model.registry_name, "args": json.dumps(model.init_args),
            "config": json.dumps(config or {}), "version": __version__, "extra": json.dumps(extra or {}),
            "torch": torch.__version__, "sha256": _tensor_digest(state)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    save_file(state, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict:
    """The metadata of a checkpoint, JSON fields decoded."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:  # the metadata alone: no PyTorch import
            meta = dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for non-safetensors files
        raise InputError(f"{path.name} is not a safetensors checkpoint ({exc})") from None
    if meta.get("format") != FORMAT and "binauralize" in meta:  # the object detector's head (vision/objects.py)
        raise InputError(f"{path.name} is an object detector, not a spatializer: the tool takes it "
                         "with --objects-weights FILE")
    if meta.get("format") != FORMAT:
        raise InputError(f"{path.name} is not a binauralize checkpoint (format {meta.get('format')!r})")
    for k in ("args", "config", "extra"):
        meta[k] = json.loads(meta.get(k) or "{}")
    return meta


def load(path: str | Path, map_location: str = "cpu", verify: bool = True):
    """Rebuild the network stored in ``path`` -> (model in eval mode, metadata)."""
    from safetensors.torch import load_file

    from .registry import build

    meta = read_metadata(path)
    state = load_file(str(path), device="cpu")
    if verify and _tensor_digest(state) != meta.get("sha256"):
        raise InputError(f"{Path(path).name}: SHA-256 of the weights does not match its metadata (corrupted file?)")
    model = build(meta["model"], **meta["args"])
    ref = model.state_dict()
    state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
    model.load_state_dict(state)
    return model.to(map_location).eval(), meta
