"""A user's own model given as ``package.module:function``, and the arguments passed to it.

The module is imported as ``python -m`` would find it: from the current directory first, then
``sys.path``. The arguments (``--model-args '{"hidden": 256}'`` or ``hidden=256,act=relu``) are plain
JSON values, so that they can be stored in a surface's recipe and compared when it is resumed.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch.nn as nn

ModelArgs = dict[str, Any]


def _import_module(module_name: str, spec: str):
    """Import ``module_name``; on a missing top-level package retry with the current directory first on
    ``sys.path`` (where ``python -m`` puts it; the ``lossatlas`` script puts its own directory there)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        top = module_name.split(".")[0]
        cwd = os.getcwd()
        if e.name is None or e.name.split(".")[0] != top or cwd in sys.path or "" in sys.path:
            raise ValueError(f"cannot import model {spec!r}: {e}") from e
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as e2:
            if e2.name is None or e2.name.split(".")[0] != top:
                raise ValueError(f"cannot import model {spec!r}: {e2}") from e2
            raise ValueError(
                f"cannot import model {spec!r}: {e2}, neither from the current directory {cwd} nor from "
                f"sys.path; run lossatlas from the directory that holds {top}/ or {top}.py, or add that "
                "directory to PYTHONPATH"
            ) from e2


def user_model(spec: str, args: ModelArgs | None = None) -> nn.Module:
    """Call ``function(**args)`` of ``package.module:function`` and check it returns an ``nn.Module``."""
    module_name, _, fn_name = spec.partition(":")
    if not module_name or not fn_name:
        raise ValueError(f"model {spec!r} must look like package.module:function")
    module = _import_module(module_name, spec)
    fn: Callable[..., Any] | None = getattr(module, fn_name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"cannot import model {spec!r}: module {module_name!r} has no function {fn_name!r}")
    model = call_with_args(fn, spec, args)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model function {spec!r} returned {type(model).__name__}, not an nn.Module")
    return model


def call_with_args(fn: Callable[..., Any], name: str, args: ModelArgs | None) -> Any:
    """``fn(**args)``; arguments that ``fn``'s signature does not take are refused in one line."""
    args = args or {}
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as e:
        raise ValueError(f"model {name!r} does not take the arguments {json.dumps(args)}: {e}") from None
    except ValueError:  # no signature (some builtins): let the call tell
        pass
    return fn(**args)


_PAIRS = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")  # a comma that starts the next key=, not one inside [1,2]


def _value(text: str) -> Any:
    """A JSON literal (256, 0.5, true, null, "x", [1, 2]) or, failing that, the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_model_args(items: Iterable[str]) -> ModelArgs | None:
    """Merge ``--model-args`` values: JSON objects or comma-separated ``key=value`` pairs (values are JSON
    literals where they parse, strings otherwise). None when nothing was given."""
    out: ModelArgs = {}
    for item in items:
        text = item.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"--model-args {item!r} is not a JSON object: {e}") from None
            if not isinstance(obj, dict):
                raise ValueError(f"--model-args {item!r} is not a JSON object")
            out.update(obj)
            continue
        for pair in filter(None, (p.strip() for p in _PAIRS.split(text))):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip().isidentifier():
                raise ValueError(f"--model-args {pair!r}: give key=value pairs (hidden=256,act=relu) or a JSON object")
            out[key.strip()] = _value(value.strip())
    return out or None
