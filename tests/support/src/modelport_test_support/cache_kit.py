"""Shared parts of the response-cache tests: a provider that counts its calls, a settable clock,
a cache folder per test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from modelport import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    Registry,
    ResponseSchema,
    ToolChoice,
    ToolInfo,
    get_model,
)
from modelport.cache import CacheRecord
from modelport.errors import BadRequestError

PROVIDER = "cachecounter"


class Counter(ModelAPI):
    """Answers `<reply> #<n>` for its n-th call, after `delay` seconds; `outcome` (a model arg)
    makes calls fail or return an error, a content-filter stop or no choices."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        reply: str = "ok",
        outcome: str | None = None,
        delay: float = 0,
        **extra: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, ["CACHECOUNTER_API_KEY"], config)
        self.reply = reply
        self.outcome = outcome
        self.delay = delay
        self.extra = extra
        self.calls = 0

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        self.calls += 1
        text = f"{self.reply} #{self.calls}"
        await asyncio.sleep(self.delay)
        if self.outcome == "raise":
            raise BadRequestError("refused", provider=PROVIDER, model=self.model_name, status=400)
        if self.outcome == "error":
            return ModelOutput.from_content(self.model_name, text, error="context overflow")
        if self.outcome == "content_filter":
            return ModelOutput.from_content(self.model_name, text, stop_reason="content_filter")
        if self.outcome == "filter_second_choice":
            out = ModelOutput.from_content(self.model_name, text)
            out.choices.append(
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content="no"), stop_reason="content_filter"
                )
            )
            return out
        if self.outcome == "empty":
            return ModelOutput(model=self.model_name, choices=[])
        return ModelOutput.from_content(self.model_name, text)


REGISTRY = Registry()
"""The registry of the cache tests' provider and stores (the process's default one is left
alone)."""
REGISTRY.register(
    PROVIDER, Counter, env_vars=["CACHECOUNTER_API_KEY"], description="counts calls (cache tests)"
)


def counter(name: str = "m", **kw: Any) -> Model:
    """A fresh (not memoized) model of the counting provider."""
    return get_model(f"{PROVIDER}/{name}", memoize=False, registry=REGISTRY, **kw)


def calls(model: Model) -> int:
    assert isinstance(model.api, Counter)
    return model.api.calls


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Clock:
    """A clock the test moves by hand (seconds since the Unix epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def use_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make an empty folder the cache (through MODELPORT_CACHE_DIR), with the file store."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(root))
    monkeypatch.delenv("MODELPORT_CACHE_STORE", raising=False)
    return root


def entry_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def record(key: str, text: str = "cached", model: str = "p/m", **kw: Any) -> CacheRecord:
    from datetime import UTC, datetime

    kw.setdefault("created", datetime(2027, 1, 1, tzinfo=UTC))
    return CacheRecord(key=key, model=model, output=ModelOutput.from_content("m", text), **kw)


# one value per config field in KEY_FIELDS, different from the default
CONFIG_VALUES: dict[str, Any] = {
    "system_message": "s",
    "max_tokens": 10,
    "top_p": 0.5,
    "temperature": 0.5,
    "stop_seqs": ["END"],
    "best_of": 2,
    "frequency_penalty": 0.5,
    "presence_penalty": 0.5,
    "logit_bias": {1: 5.0},
    "seed": 1,
    "top_k": 5,
    "num_choices": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "parallel_tool_calls": False,
    "internal_tools": False,
    "max_tool_output": 100,
    "cache_prompt": True,
    "reasoning_effort": "low",
    "reasoning_tokens": 100,
    "reasoning_history": True,
    "response_schema": ResponseSchema(name="s", json_schema={"type": "object"}),
    "response_format": "json",
    "extra_body": {"x": 1},
}
