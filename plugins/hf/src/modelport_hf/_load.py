"""Loading a tokenizer and a causal language model with transformers, with typed errors.

Imported only when a model is created: it imports torch and transformers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import transformers

from modelport.errors import ModelInputError, NotFoundError

__all__ = [
    "best_device",
    "check_exists",
    "load_model",
    "load_tokenizer",
    "offline",
    "resolve_dtype",
]

PROVIDER = "hf"

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float64": "float64",
}
_TRUE = {"1", "on", "yes", "true"}


def offline() -> bool:
    """Whether `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) asks for no downloads."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def best_device() -> str:
    """The first available of cuda, mps and cpu."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(value: Any, device: str) -> Any:
    """A torch dtype (or "auto") from a dtype, its name, "auto" or None (the device's default:
    float32 on cpu, the checkpoint's own dtype elsewhere)."""
    if value is None:
        return torch.float32 if device == "cpu" else "auto"
    if isinstance(value, torch.dtype) or value == "auto":
        return value
    name = _DTYPES.get(str(value).removeprefix("torch.").lower())
    if name is None:
        raise ModelInputError(
            f"torch_dtype {value!r} is not one of: auto, {', '.join(sorted(set(_DTYPES)))}"
        )
    return getattr(torch, name)


def _first_lines(ex: BaseException, limit: int = 400) -> str:
    text = " ".join(str(ex).strip().splitlines()[:3])
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextmanager
def _loading(what: str, name: str, model: str, secrets: list[str]) -> Iterator[None]:
    """Turn transformers' loading errors into modelport's."""
    where = ""
    if offline() and not os.path.isdir(name):
        where = " (HF_HUB_OFFLINE is set: only local folders and the local cache are searched)"
    try:
        yield
    except OSError as ex:
        raise NotFoundError(
            f"cannot load the {what} {name!r}{where}: {_first_lines(ex)}",
            provider=PROVIDER,
            model=model,
            secrets=secrets,
        ) from None
    except (ValueError, KeyError) as ex:
        raise ModelInputError(
            f"[{PROVIDER}/{model}] cannot load the {what} {name!r}: {_first_lines(ex)}"
        ) from None


def _hub_args(name: str, token: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = dict(extra)
    if os.path.isdir(name) or offline():
        args["local_files_only"] = True
    if token is not None:
        args["token"] = token
    return args


def check_exists(name: str, model: str, *, is_model: bool) -> None:
    """Raise `NotFoundError` when `name` is written as a local path and there is no folder, or
    (for a model) the folder holds no `config.json`."""
    path = os.path.expanduser(name)
    looks_local = name.startswith(("/", "./", "../", "~", "\\")) or re.match(
        r"^[A-Za-z]:[\\/]", name
    )
    if looks_local and not os.path.isdir(path):
        raise NotFoundError(f"no model folder at {name!r}", provider=PROVIDER, model=model)
    if is_model and os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise NotFoundError(
            f"the folder {name!r} holds no config.json: it is not a transformers model",
            provider=PROVIDER,
            model=model,
        )


def load_tokenizer(
    name: str, *, model: str, token: str | None, extra: dict[str, Any], secrets: list[str]
) -> Any:
    """`AutoTokenizer.from_pretrained(name)`, offline when asked, with typed errors."""
    name = os.path.expanduser(name)
    check_exists(name, model, is_model=False)
    with _loading("tokenizer", name, model, secrets):
        return transformers.AutoTokenizer.from_pretrained(name, **_hub_args(name, token, extra))


def _dtype_arg() -> str:
    version = tuple(int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    return "dtype" if version >= (4, 56) else "torch_dtype"


def load_model(
    name: str,
    *,
    model: str,
    device: str,
    dtype: Any,
    token: str | None,
    model_args: dict[str, Any],
    secrets: list[str],
) -> Any:
    """The causal LM `name` on `device`, in eval mode, offline when asked, with typed errors.

    `dtype` comes from `resolve_dtype`. A `device_map` among `model_args` places the model
    instead of `device`.
    """
    name = os.path.expanduser(name)
    check_exists(name, model, is_model=True)
    args = _hub_args(name, token, model_args)
    args[_dtype_arg()] = dtype
    with _loading("model", name, model, secrets):
        lm = transformers.AutoModelForCausalLM.from_pretrained(name, **args)
    if "device_map" not in model_args:
        try:
            lm = lm.to(device)
        except (RuntimeError, AssertionError) as ex:
            raise ModelInputError(
                f"[{PROVIDER}/{model}] cannot move the model to device {device!r}: "
                f"{_first_lines(ex)}"
            ) from None
    lm.eval()
    return lm
