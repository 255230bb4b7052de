"""The provider shell: defaults, keys, base URLs, model args, limits, files, exports."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from pathlib import Path
from typing import Any

import modelport_openai
import pytest
from modelport_openai import OPENAI, OpenAIAPI, OpenAICompatibleAPI, Quirks, Service, inline_files
from modelport_openai.testing import completion_body

from modelport import (
    ChatMessage,
    ChatMessageUser,
    ContentAudio,
    ContentImage,
    ContentText,
    GenerateConfig,
    Model,
    get_model,
)
from modelport.errors import ModelInputError
from modelport.testing import LocalServer, Reply, text_output

KEY = "sk-test-abcdef0123456789"


def openai_api(model: Model) -> OpenAIAPI:
    """The model's provider, which is an `OpenAIAPI`."""
    assert isinstance(model.api, OpenAIAPI)
    return model.api


def test_get_model_picks_openai_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = get_model("openai/gpt-4o", memoize=False)
    api = model.api
    assert isinstance(api, OpenAIAPI) and api.service is OPENAI
    assert str(model) == "openai/gpt-4o"
    assert api.url == "https://api.openai.com/v1/chat/completions"
    assert api.api_key == KEY and api.headers["authorization"] == f"Bearer {KEY}"
    assert api.max_connections() == 32
    assert api.http.max_connections == 0  # no pool cap: Model bounds concurrency per call
    assert api.http.read_timeout == 600.0 and api.http.connect_timeout == 30.0


def test_base_url_from_environment_and_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example/v1/")
    assert (
        openai_api(get_model("openai/m", memoize=False)).url
        == "https://proxy.example/v1/chat/completions"
    )
    api = get_model("openai/m", base_url="http://127.0.0.1:9/v1", memoize=False).api
    assert api.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(ModelInputError, match="must be an http"):
        get_model("openai/m", base_url="api.openai.com/v1", memoize=False)


def test_key_is_required_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelInputError, match="set OPENAI_API_KEY or pass api_key="):
        get_model("openai/gpt-4o", memoize=False)
    with pytest.raises(ModelInputError) as info:
        get_model("openai/gpt-4o", api_key="sk-has a space", memoize=False)
    assert "sk-has a space" not in str(info.value)
    assert get_model("openai/gpt-4o", api_key=KEY, memoize=False).api.api_key == KEY


def test_model_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    api = get_model(
        "openai/gpt-4o",
        read_timeout=5,
        connect_timeout=None,
        headers={"OpenAI-Organization": "org-1"},
        config=GenerateConfig(max_connections=4),
        memoize=False,
    ).api
    assert isinstance(api, OpenAICompatibleAPI)
    assert (api.http.read_timeout, api.http.connect_timeout) == (5, None)
    assert api.headers["openai-organization"] == "org-1"
    assert api.http.max_connections == 0  # the pool is never the cap
    assert api.max_connections() == 32
    with pytest.raises(ModelInputError, match=r"openai got unknown model args: colour, temprature"):
        get_model("openai/gpt-4o", temprature=1, colour="red", memoize=False)
    with pytest.raises(ModelInputError, match="read_timeout"):
        get_model("openai/gpt-4o", read_timeout=-1, memoize=False)
    with pytest.raises(ModelInputError, match="headers"):
        get_model("openai/gpt-4o", headers={"x-n": 1}, memoize=False)


def test_connection_key_has_base_url_and_a_key_hash_never_the_key() -> None:
    a = openai_api(get_model("openai/gpt-4o", api_key=KEY, memoize=False))
    b = get_model("openai/gpt-4o-mini", api_key=KEY, memoize=False).api
    c = get_model("openai/gpt-4o", api_key=KEY + "x", memoize=False).api
    d = get_model("openai/gpt-4o", api_key=KEY, base_url="http://127.0.0.1:1/v1", memoize=False)
    assert a.connection_key() == b.connection_key()  # same service, URL and key share a limit
    assert len({a.connection_key(), c.connection_key(), d.api.connection_key()}) == 3
    assert KEY not in a.connection_key()
    assert hashlib.sha256(KEY.encode()).hexdigest()[:16] in a.connection_key()
    assert "https://api.openai.com/v1" in a.connection_key()
    assert KEY not in repr(a) and KEY not in repr(a.http)


def test_headers_and_key_reach_the_server_and_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalServer() as server:
        server.enqueue(Reply(json=completion_body(text_output("hi"), "gpt-4o")))
        model = get_model(
            "openai/gpt-4o",
            base_url=server.url,
            api_key=KEY,
            headers={"X-Title": "modelport tests"},
            memoize=False,
        )

        async def go() -> str:
            async with model:
                return (await model.generate("Hello")).completion

        assert asyncio.run(go()) == "hi"
    headers = server.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-title"] == "modelport tests"
    assert headers["user-agent"].startswith("modelport/")
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_headers_changed_between_calls_are_sent_with_the_next_call() -> None:
    """The headers a request sends are built once and reused while they stay the same; a
    header changed in place on the provider reaches the very next request."""
    with LocalServer(default=Reply(json=completion_body(text_output("hi"), "gpt-4o"))) as server:
        model = get_model(
            "openai/gpt-4o",
            base_url=server.url,
            api_key=KEY,
            headers={"X-Title": "first"},
            memoize=False,
        )

        async def go() -> None:
            async with model:
                await model.generate("one")
                await model.generate("two")
                model.api.headers["X-Title"] = "second"  # type: ignore[attr-defined]
                await model.generate("three")

        asyncio.run(go())
    titles = [r.headers["x-title"] for r in server.requests]
    assert titles == ["first", "first", "second"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)


@pytest.mark.parametrize("logit_bias", [None, {5: 1.0}])
def test_a_config_value_changed_in_place_is_sent_with_the_next_call(
    logit_bias: dict[int, float] | None,
) -> None:
    """Nothing the translation keeps between calls hides a change made to the model's config
    in place: a value replaced, a list or a dict changed (with and without a value the body
    derives a dict from)."""
    with LocalServer(default=Reply(json=completion_body(text_output("hi"), "gpt-4o"))) as server:
        config = GenerateConfig(temperature=0.1, stop_seqs=["a"], logit_bias=logit_bias)
        model = get_model(
            "openai/gpt-4o", base_url=server.url, api_key=KEY, config=config, memoize=False
        )
        messages: list[ChatMessage] = [ChatMessageUser(content="hello")]

        async def go() -> None:
            async with model:
                await model.generate(messages)
                await model.generate(messages)
                model.config.temperature = 0.7
                await model.generate(messages)
                model.config.stop_seqs.append("b")  # type: ignore[union-attr]
                if model.config.logit_bias is not None:
                    model.config.logit_bias[5] = 2.0
                await model.generate(messages)
                await model.generate(messages, config=GenerateConfig(temperature=0.3))

        asyncio.run(go())
    bodies = [r.json for r in server.requests]
    assert [b["temperature"] for b in bodies] == [0.1, 0.1, 0.7, 0.7, 0.3]
    assert [b["stop"] for b in bodies] == [["a"], ["a"], ["a"], ["a", "b"], ["a", "b"]]
    if logit_bias is not None:
        assert [b["logit_bias"] for b in bodies] == [{"5": 1}] * 3 + [{"5": 2}] * 2


def test_a_compatible_service_without_a_key_sends_none() -> None:
    local = Service(name="local", base_url="http://127.0.0.1:1/v1", key_required=False)

    class LocalAPI(OpenAICompatibleAPI):
        service = local

    api = LocalAPI("m")
    assert api.api_key is None and "authorization" not in api.headers
    assert api.connection_key() == "local:http://127.0.0.1:1/v1:-"

    class Nowhere(OpenAICompatibleAPI):
        service = Service(name="nowhere", base_url=None, key_required=False)

    with pytest.raises(ModelInputError, match="has no base URL"):
        Nowhere("m")


def test_local_files_are_sent_as_data_urls(tmp_path: Path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    audio = tmp_path / "hello.mp3"
    audio.write_bytes(b"ID3fake")
    message = ChatMessageUser(
        content=[
            ContentText(text="What is this?"),
            ContentImage(image=str(image)),
            ContentImage(image="https://example.com/a.png"),
            ContentAudio(audio=str(audio), format="mp3"),
        ]
    )
    (inlined,) = inline_files([message])
    parts = inlined.content
    assert isinstance(parts, list)
    png = base64.b64encode(image.read_bytes()).decode()
    assert parts[1] == ContentImage(image=f"data:image/png;base64,{png}")
    assert parts[2] == ContentImage(image="https://example.com/a.png")
    mp3 = base64.b64encode(audio.read_bytes()).decode()
    assert parts[3] == ContentAudio(audio=f"data:audio/mpeg;base64,{mp3}", format="mp3")
    assert message.content[1] == ContentImage(image=str(image))  # the input is not changed
    with pytest.raises(ModelInputError, match="audio must be a base64 data URL"):
        inline_files([ChatMessageUser(content=[ContentAudio(audio="nope.wav", format="wav")])])


def test_reasoning_model_detection() -> None:
    reasoning = ("o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-nano", "openai/o3")
    for name in reasoning:
        assert modelport_openai.is_reasoning_model(name), name
    for name in ("gpt-4o", "gpt-4.1", "gpt-5-chat-latest", "omni-moderation", "llama-3"):
        assert not modelport_openai.is_reasoning_model(name), name


def test_quirks_and_services_are_frozen_values() -> None:
    with pytest.raises(AttributeError):
        OPENAI.name = "x"  # type: ignore[misc]
    assert OPENAI.env_vars == ("OPENAI_API_KEY", "OPENAI_BASE_URL")
    assert Quirks() == Quirks() and hash(OPENAI) == hash(OPENAI)


def test_all_is_complete_and_sorted() -> None:
    public = {
        name
        for name in dir(modelport_openai)
        if not name.startswith("_")
        and name not in ("annotations", "hookimpl", "RegisterModel", "Callable")
    }
    public -= {"testing"}  # a submodule, imported on demand
    assert set(modelport_openai.__all__) == public
    assert modelport_openai.__all__ == sorted(
        modelport_openai.__all__, key=lambda n: (not n.isupper(), n)
    )


SAMPLES: dict[str, Any] = {
    "max_retries": 2,
    "timeout": 9.0,
    "max_connections": 3,
    "system_message": "be brief",
    "max_tokens": 7,
    "top_p": 0.5,
    "temperature": 0.3,
    "stop_seqs": ["zz"],
    "best_of": 2,
    "frequency_penalty": 0.5,
    "presence_penalty": 0.5,
    "logit_bias": {3: 1.0},
    "seed": 11,
    "top_k": 4,
    "num_choices": 2,
    "logprobs": True,
    "top_logprobs": 2,
    "parallel_tool_calls": False,
    "internal_tools": False,
    "max_tool_output": 99,
    "cache_prompt": True,
    "reasoning_effort": "low",
    "reasoning_tokens": 50,
    "reasoning_history": False,
    "response_schema": {"name": "a", "json_schema": {"type": "object"}},
    "response_format": "json",
    "batch": True,
    "extra_body": {"x": 1},
}


@pytest.mark.parametrize(
    "quirks",
    [Quirks(), Quirks(reasoning_param="reasoning", extra_params=frozenset({"top_k", "best_of"}))],
)
@pytest.mark.parametrize("reasoning", [False, True])
def test_the_config_fields_depend_only_on_the_values_kept_between_calls(
    quirks: Quirks, reasoning: bool
) -> None:
    """The OpenAI translation keeps a call's config fields while `CONFIG_READ`'s values stay
    equal: a field outside them that changed the body would be sent stale. Each other field,
    set, leaves the fields as they are."""
    from modelport_openai._wire import CONFIG_READ, config_fields

    assert set(SAMPLES) == set(GenerateConfig.model_fields), "a new config field: sample it"
    read: set[str] = set()

    class Reads(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            read.add(key)
            return None

    CONFIG_READ(Reads())
    plain = config_fields(GenerateConfig(), quirks, reasoning)
    for name, value in SAMPLES.items():
        fields = config_fields(GenerateConfig.model_validate({name: value}), quirks, reasoning)
        if name not in read:
            assert fields == plain, f"{name} changes the body's fields but is not kept"
