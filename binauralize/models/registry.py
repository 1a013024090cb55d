"""Registry of learned spatializers: a name -> network class, so checkpoints can rebuild their model by name.

Every network registered here takes only JSON-serialisable keyword arguments, which the checkpoint stores
(``binauralize.models.checkpoint``), so ``load(path)`` rebuilds the exact network without pickle.
"""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a network constructible by ``build(name, **kwargs)``."""
    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls
    return deco


def build(name: str, **kwargs):
    """A new (untrained) network of model family ``name``."""
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}: registered are {', '.join(sorted(_REGISTRY))}")
    import inspect

    allowed = set(inspect.signature(_REGISTRY[name].__init__).parameters) - {"self", "kw", "kwargs"}
    if _REGISTRY[name].__init__.__code__.co_flags & inspect.CO_VARKEYWORDS:  # subclasses pass **kw to the base
        for base in _REGISTRY[name].__mro__[1:]:
            if "__init__" in base.__dict__:
                allowed |= set(inspect.signature(base.__init__).parameters) - {"self", "kw", "kwargs", "args"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        from ..errors import InputError

        raise InputError(f"model {name!r} has no argument {', '.join(unknown)} (it takes {', '.join(sorted(allowed))})")
    return _REGISTRY[name](**kwargs)


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    from . import flow, mono2binaural, output_stage, position  # noqa: F401  (registers mono2binaural, geometry, position, flow, output-stage)
