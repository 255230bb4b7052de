"""The fault-injection rig: a misbehaving local server, the real provider stack pointed at it,
and the checks every case ends with.

A case scripts the server's replies (`Reply`), builds a model with `serving(...)`, calls it,
and asserts what the caller saw and how many attempts the server counted. On leaving
`serving`, the rig checks that the server holds no open connection and that the canary key
reached the server (so its absence everywhere else means something). The `leak_watch`
fixture (tests/reliability/conftest.py) checks the log records and the cache files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.cache._file import MARKER
from modelport.errors import ModelAPIError
from modelport.testing import LocalServer, Reply, no_wait_policy

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

CANARY = "sk-canary-7d3e91b04c2a4f68b5e2"
"""The API key every case uses: it must reach the server and appear nowhere else."""

MODEL = "gpt-4o"


def completion(text: str = "fine", *, usage: bool = True) -> dict[str, Any]:
    """A `chat.completion` body answering `text`."""
    body: dict[str, Any] = {
        "id": "chatcmpl-rel",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    return body


def ok(text: str = "fine", **kw: Any) -> Reply:
    """A 200 with a completion answering `text`."""
    return Reply(json=completion(text), **kw)


def error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    """An OpenAI-style error body with `status`, `message` and `code`."""
    body = {"error": {"message": message, "type": "error", "param": None, "code": code}}
    return Reply(status=status, json=body, headers=headers)


def assert_secret_free(ex: BaseException, secret: str = CANARY) -> None:
    """`secret` is in neither the message, the repr, the args, a `ModelAPIError`'s body, nor
    the formatted traceback; nor in any exception linked as `__cause__` or `__context__` (a
    `raise ... from` inside an `except` keeps the handled one as the context, unshown by the
    traceback but reachable), nor in any attribute they keep."""
    texts = ["".join(traceback.format_exception(ex))]
    todo, seen = [ex], set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        texts += [str(node), repr(node), repr(node.args), str(getattr(node, "body", None))]
        texts += [repr(vars(node))]
        todo += [e for e in (node.__cause__, node.__context__) if e is not None]
    for text in texts:
        assert secret not in text, text


@attrs.define
class Rig:
    """A local server and a model of the real provider stack pointed at it."""

    server: LocalServer
    model: Model

    @property
    def attempts(self) -> int:
        """Requests the server received."""
        return len(self.server.requests)

    @property
    def waits(self) -> list[float]:
        """Seconds the retry loop asked to sleep, in order (the sleep is injected)."""
        return self.model.retry.sleep.waits  # type: ignore[attr-defined, no-any-return]

    def run(self, main: Callable[[Model], Awaitable[T]]) -> T:
        """Run `main(model)` in a fresh event loop (the model's session of that loop is closed
        when the loop ends; `serving` closes the model itself at the end)."""
        return asyncio.run(main(self.model))  # type: ignore[arg-type]

    def generate(self, input: Any = "Hello", **kw: Any) -> ModelOutput:
        """One `generate` call."""
        return self.run(lambda m: m.generate(input, **kw))

    def fails(self, cls: type[E], input: Any = "Hello", **kw: Any) -> E:
        """One `generate` call that must raise `cls` (checked free of the canary)."""
        with pytest.raises(cls) as info:
            self.generate(input, **kw)
        assert_secret_free(info.value)
        return info.value

    def api_error(self, input: Any = "Hello", **kw: Any) -> ModelAPIError:
        """One `generate` call that must raise a `ModelAPIError`."""
        return self.fails(ModelAPIError, input, **kw)


def settle(server: LocalServer, within: float = 3.0) -> None:
    """Wait until the server holds no open connection (the client closed them all)."""
    deadline = time.monotonic() + within
    while server.open_connections():
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.open_connections()} connections left open")
        time.sleep(0.01)


def check_canary_sent(server: LocalServer) -> None:
    """Every request carried the canary key (in some header)."""
    for request in server.requests:
        assert any(CANARY in v for v in request.headers.values()), request.headers


@contextmanager
def serving(
    *replies: Reply,
    config: GenerateConfig | None = None,
    handler: Callable[[Any], Reply] | None = None,
    provider: str = "openai",
    **model_args: Any,
) -> Iterator[Rig]:
    """A fresh local server answering `replies` in order (then `handler`), and a model of
    `provider` pointed at it with the canary key and a retry policy that does not sleep."""
    with LocalServer(handler=handler) as server:
        server.enqueue(*replies)
        base_url = f"{server.url}/v1" if provider == "openai" else server.url
        name = MODEL if provider == "openai" else "claude-sonnet-4-5"
        model = get_model(
            f"{provider}/{name}",
            base_url=base_url,
            api_key=CANARY,
            config=config or GenerateConfig(),
            memoize=False,
            **model_args,
        )
        model.retry = no_wait_policy()
        yield Rig(server, model)
        asyncio.run(model.close())
        settle(server)
        check_canary_sent(server)


def request_text(server: LocalServer, index: int = -1) -> str:
    """The last (or `index`-th) user message text the server received."""
    body = server.requests[index].json
    return str(json.dumps(body["messages"][-1]["content"]))


@attrs.define
class Watch:
    """What a case left behind: its log records and its cache folder."""

    records: list[logging.LogRecord]
    cache_dir: Path

    def messages(self) -> list[str]:
        """The log messages, formatted."""
        return [r.getMessage() for r in self.records]

    def cache_files(self) -> list[Path]:
        """Every file under the cache folder but the marker (whose text is fixed)."""
        if not self.cache_dir.exists():
            return []
        return sorted(p for p in self.cache_dir.rglob("*") if p.is_file() and p.name != MARKER)
