"""Shared fixtures: nothing is downloaded.

The tiny model is built once per session in a temp folder (random weights, a tokenizer
trained on a few sentences) and loaded from there with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path
from typing import Any

import pytest
from modelport_hf.testing import make_tiny_model

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.testing import block_internet, run


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama and its tokenizer, saved locally."""
    with block_internet():
        return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight GPT-2 (learned absolute positions) and its tokenizer."""
    with block_internet():
        return make_tiny_model(
            tmp_path_factory.mktemp("tiny") / "tiny-gpt2", architecture="gpt2", seed=1
        )


@pytest.fixture(params=["llama", "gpt2"])
def any_dir(request: pytest.FixtureRequest, tiny_dir: Path, gpt2_dir: Path) -> Path:
    """Each tiny model folder in turn: rotary (Llama) and absolute (GPT-2) positions."""
    return tiny_dir if request.param == "llama" else gpt2_dir


@pytest.fixture
def model(tiny_dir: Path) -> Model:
    """A fresh `hf` model of the tiny folder (not memoized)."""
    return get_model(f"hf/{tiny_dir}", memoize=False)


class Generate:
    """Calls `generate` on a model in a fresh event loop: `gen(model, input, **config)`."""

    def __call__(self, model: Model, input: Any = "Hello world", **config: Any) -> ModelOutput:
        return run(model.generate(input, config=GenerateConfig(**config)))


@pytest.fixture
def gen() -> Generate:
    """See `Generate`."""
    return Generate()
