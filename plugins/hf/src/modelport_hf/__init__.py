"""The `hf` provider: causal language models run in-process with HuggingFace transformers.

`get_model("hf/<model id or local folder>", device=..., torch_dtype=...)` loads the model;
concurrent `generate` calls on it are batched on a worker thread. Importing this module is
light: torch and transformers are imported when a model is created.
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_WAIT, DEFAULT_MAX_TOKENS, HuggingFaceAPI

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BATCH_WAIT",
    "DEFAULT_MAX_TOKENS",
    "HuggingFaceAPI",
    "register_models",
]

__version__ = "0.1.0"


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `hf` provider."""
    register(
        "hf",
        HuggingFaceAPI,
        env_vars=["HF_TOKEN", "HF_HUB_OFFLINE"],
        description="Local HuggingFace transformers models (torch), batched",
    )
