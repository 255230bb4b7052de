"""Bad input is refused before any request, with a typed error that names the problem (and,
for a bad API key, does not echo it). The server is up, answering 200, and must see nothing."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from modelport_test_support.rig import CANARY, assert_secret_free, ok, serving

from modelport import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolFunction,
    ToolInfo,
    ToolParams,
    get_model,
)
from modelport.errors import ModelInputError
from modelport.testing import LocalServer

pytestmark = pytest.mark.providers("openai", "anthropic")

# text that came from bytes that are not UTF-8 ("café" in Latin-1, decoded leniently)
NOT_UTF8 = b"caf\xe9 au lait".decode("utf-8", errors="surrogateescape")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(default=ok()) as server:
        yield server
        assert server.requests == [], "bad input reached the server"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": -3}, "timeout"),
        ({"frequency_penalty": 3}, "frequency_penalty"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"stop_seqs": [""]}, "stop_seqs"),
        ({"temprature": 1.0}, "temprature"),
    ],
)
def test_invalid_config_values(values: dict[str, Any], field: str) -> None:
    """Caller: gives an out-of-range or unknown config field, as a `GenerateConfig` or as the
    dict `generate` merges. Sees: `pydantic.ValidationError` (a `ValueError`) naming the field.
    Server: no request."""
    with pytest.raises(pydantic.ValidationError) as info:
        GenerateConfig(**values)
    assert field in str(info.value)
    with serving() as rig:
        with pytest.raises(pydantic.ValidationError) as info:
            rig.generate("Hello", config=values)
        assert isinstance(info.value, ValueError) and field in str(info.value)
        assert rig.attempts == 0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ({"read_timeout": -1}, "read_timeout"),
        ({"read_timeout": "fast"}, "read_timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
    ],
)
def test_invalid_model_args(server: LocalServer, args: dict[str, Any], name: str) -> None:
    """Caller: passes a model arg with a bad value. Sees: `ModelInputError` naming it, from
    `get_model`. Server: no request."""
    with pytest.raises(ModelInputError, match=name):
        get_model("openai/gpt-4o", base_url=server.url, api_key=CANARY, memoize=False, **args)


def test_unknown_model_arg(server: LocalServer) -> None:
    """Caller: passes a model arg the provider does not take. Sees: `ModelInputError` naming
    the provider, the arg, and the args it takes."""
    with pytest.raises(
        ModelInputError, match=r"openai got unknown model args: read_timout .*read_timeout"
    ):
        get_model(
            "openai/gpt-4o", base_url=server.url, api_key=CANARY, memoize=False, read_timout=3
        )


INVALID_INPUTS: list[tuple[str, Any, str]] = [
    ("empty message list", [], "empty"),
    ("unknown role", [{"role": "wizard", "content": "hi"}], "message 0"),
    ("not a message", [ChatMessageUser(content="hi"), 42], "message 1"),
    (
        "tool result with no matching call",
        [
            ChatMessageUser(content="weather?"),
            ChatMessageAssistant(
                content="", tool_calls=[ToolCall(id="call_1", function="w", arguments={})]
            ),
            ChatMessageTool(content="sunny", tool_call_id="call_9", function="w"),
        ],
        "call_9",
    ),
    ("non-UTF-8 text", NOT_UTF8, "UTF-8"),
    ("non-UTF-8 text in a message", [ChatMessageUser(content=NOT_UTF8)], "message 0"),
    (
        "non-UTF-8 text in a content part",
        [ChatMessageUser(content=[ContentText(text="ok"), ContentText(text=NOT_UTF8)])],
        "UTF-8",
    ),
    (
        "non-UTF-8 system message",
        [ChatMessageSystem(content=NOT_UTF8), ChatMessageUser(content="hi")],
        "message 0 (system)",
    ),
    (
        "non-UTF-8 assistant text in the history",
        [ChatMessageUser(content="hi"), ChatMessageAssistant(content=NOT_UTF8)],
        "message 1 (assistant)",
    ),
    ("raw bytes as input", b"caf\xe9", "bytes"),
    ("non-UTF-8 bytes in a message dict", [{"role": "user", "content": b"\xff\xfe"}], "message 0"),
]


@pytest.mark.parametrize(
    ("input", "named"),
    [(i, n) for _, i, n in INVALID_INPUTS],
    ids=[c for c, _, _ in INVALID_INPUTS],
)
def test_invalid_messages(input: Any, named: str) -> None:
    """Caller: sends an invalid message list. Sees: `ModelInputError` (a `ValueError`) naming
    the problem. Server: no request."""
    with serving() as rig:
        err = rig.fails(ModelInputError, input)
        assert isinstance(err, ValueError) and named in str(err)
        assert rig.attempts == 0


BAD = "\udcff"  # a lone surrogate: what undecodable bytes become with surrogateescape
SCHEMA = ResponseSchema(name="answer", json_schema={"type": "object"})
CALL_HISTORY = [
    ChatMessageUser(content="weather?"),
    ChatMessageAssistant(
        content="", tool_calls=[ToolCall(id="c1", function="w", arguments={"city": "x" + BAD})]
    ),
    ChatMessageTool(content="sunny", tool_call_id="c1", function="w"),
]


def _tool(name: str = "lookup", description: str = "look up", param: str = "what") -> ToolInfo:
    return ToolInfo(
        name=name,
        description=description,
        parameters=ToolParams(properties={"q": {"type": "string", "description": param}}),
    )


NOT_SENDABLE: list[tuple[str, dict[str, Any], str]] = [
    ("system_message", {"config": GenerateConfig(system_message=BAD)}, "system_message"),
    ("stop_seqs", {"config": GenerateConfig(stop_seqs=["END", BAD])}, "stop_seqs[1]"),
    (  # (a ToolInfo validated with such a name is refused by pydantic; a copy is not)
        "tool name",
        {"tools": [_tool().model_copy(update={"name": "look" + BAD})]},
        "tool 0 name",
    ),
    ("tool description", {"tools": [_tool(description=BAD)]}, "tool 0 ('lookup') description"),
    ("tool parameter description", {"tools": [_tool(param=BAD)]}, "['description']"),
    ("extra_body string", {"config": GenerateConfig(extra_body={"user": BAD})}, "['user']"),
    (
        "extra_body key, nested",
        {"config": GenerateConfig(extra_body={"meta": [{BAD: 1}]})},
        "extra_body['meta'][0]",
    ),
    (
        "response_schema description",
        {"config": GenerateConfig(response_schema=SCHEMA.model_copy(update={"description": BAD}))},
        "response_schema description",
    ),
    ("tool call arguments in the history", {"input": CALL_HISTORY}, "['city']"),
    (
        "reasoning in the history",
        {
            "input": [
                ChatMessageUser(content="hi"),
                ChatMessageAssistant(
                    content=[ContentReasoning(reasoning=BAD), ContentText(text="ok")]
                ),
                ChatMessageUser(content="and?"),
            ]
        },
        "message 1 (assistant) part 0 reasoning",
    ),
    ("NaN in extra_body", {"config": GenerateConfig(extra_body={"x": float("nan")})}, "nan"),
    (
        "Infinity deep in extra_body",
        {"config": GenerateConfig(extra_body={"a": {"b": [1.0, float("inf")]}})},
        "extra_body['a']['b'][1] is inf",
    ),
    (
        "-Infinity in a tool schema",
        {
            "tools": [
                ToolInfo(
                    name="n",
                    description="d",
                    parameters=ToolParams(properties={"v": {"minimum": float("-inf")}}),
                )
            ]
        },
        "-inf",
    ),
    (
        "NaN in tool call arguments",
        {
            "input": [
                ChatMessageUser(content="go"),
                ChatMessageAssistant(
                    content="",
                    tool_calls=[ToolCall(id="c", function="f", arguments={"v": float("nan")})],
                ),
                ChatMessageTool(content="done", tool_call_id="c", function="f"),
            ]
        },
        "tool call 0 arguments['v'] is nan",
    ),
]


@pytest.mark.parametrize(
    ("call", "named"), [(c, n) for _, c, n in NOT_SENDABLE], ids=[i for i, _, _ in NOT_SENDABLE]
)
def test_text_that_is_not_utf8_or_numbers_json_lacks_anywhere_sent(
    call: dict[str, Any], named: str
) -> None:
    """Caller: puts text that is not valid UTF-8 (a lone surrogate) or a NaN/infinite number
    somewhere other than a message's text: the system message, stop sequences, a tool's name,
    description or parameter schema, `extra_body` (keys and values, at any depth), the response
    schema, or tool calls and reasoning in the history. Sees: `ModelInputError` (a
    `ValueError`) naming where. Server: no request (before, the text escaped as an untyped
    `UnicodeEncodeError` from the HTTP layer, and NaN was sent as invalid JSON)."""
    kw = dict(call)
    input = kw.pop("input", "Hello")
    with serving() as rig:
        err = rig.fails(ModelInputError, input, **kw)
        assert named in str(err), str(err)
        assert "UTF-8" in str(err) or "NaN" in str(err)
        assert rig.attempts == 0


NOT_JSON: list[tuple[str, dict[str, Any], str]] = [
    (
        "bytes in extra_body",
        {"config": GenerateConfig(extra_body={"x": b"raw"})},
        "['x'] is a bytes",
    ),
    (
        "a Decimal deep in extra_body",
        {"config": GenerateConfig(extra_body={"a": [{"t": decimal.Decimal("0.5")}]})},
        "extra_body['a'][0]['t'] is a Decimal",
    ),
    ("a set in extra_body", {"config": GenerateConfig(extra_body={"s": {1, 2}})}, "is a set"),
    (
        "a date in tool call arguments",
        {
            "input": [
                ChatMessageUser(content="go"),
                ChatMessageAssistant(
                    content="",
                    tool_calls=[
                        ToolCall(id="c", function="f", arguments={"on": datetime.date(2026, 1, 2)})
                    ],
                ),
                ChatMessageTool(content="done", tool_call_id="c", function="f"),
            ]
        },
        "tool call 0 arguments['on'] is a date",
    ),
    ("an object in extra_body", {"config": GenerateConfig(extra_body={"o": object()})}, "object"),
]


@pytest.mark.parametrize(
    ("call", "named"), [(c, n) for _, c, n in NOT_JSON], ids=[i for i, _, _ in NOT_JSON]
)
def test_values_json_has_no_form_for_are_refused_before_sending(
    call: dict[str, Any], named: str
) -> None:
    """Caller: puts bytes, a Decimal, a set, a date or any object where the body takes JSON
    (`extra_body`, tool call arguments). Sees: `ModelInputError` naming where and the type.
    Server: no request (a faster encoder would otherwise send bytes or a Decimal as a string,
    a set as a list)."""
    kw = dict(call)
    input = kw.pop("input", "Hello")
    with serving() as rig:
        err = rig.fails(ModelInputError, input, **kw)
        assert named in str(err), str(err)
        assert "JSON has no form for" in str(err)
        assert rig.attempts == 0


def test_a_model_config_changed_in_place_is_checked_again() -> None:
    """Caller: a call succeeds, then puts bytes into the model's own config in place. Sees:
    `ModelInputError` on the next call; the server got only the first request."""
    with serving(ok()) as rig:
        messages = [ChatMessageUser(content="Hello")]
        rig.model.config.extra_body = {"ok": 1}
        assert rig.generate(messages).completion
        rig.model.config.extra_body = {"x": b"raw"}
        err = rig.fails(ModelInputError, messages)
        assert "JSON has no form for" in str(err)
        assert rig.attempts == 1


def test_tool_choice_naming_no_tool() -> None:
    """Caller: forces a tool that is not among the tools. Sees: `ModelInputError` naming it."""
    with serving() as rig:
        err = rig.fails(ModelInputError, "hi", tool_choice=ToolFunction(name="launch"))
        assert "launch" in str(err)
        assert rig.attempts == 0


def test_invalid_tool() -> None:
    """Caller: gives a tool without a name. Sees: `ModelInputError` saying the tool is invalid."""
    with serving() as rig:
        err = rig.fails(ModelInputError, "hi", tools=[{"description": "no name"}])
        assert "tool" in str(err)
        assert rig.attempts == 0


BAD_KEYS = {
    "trailing newline": CANARY + "\n",
    "leading space": " " + CANARY,
    "inner tab": CANARY[:12] + "\t" + CANARY[12:],
    "NUL": CANARY + "\x00",
    "escape sequence": CANARY + "\x1b[0m",
    "Bearer prefix": "Bearer " + CANARY,
    "only whitespace": " \t ",
}


def _secret_free(err: BaseException, key: str) -> None:
    assert_secret_free(err)
    for fragment in (key, key.strip(), CANARY[:10], CANARY[-10:]):
        if fragment:
            assert fragment not in str(err) and fragment not in repr(err)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_api_key_with_whitespace_or_control_characters(
    server: LocalServer, provider: str, key: str
) -> None:
    """Caller: passes an API key with whitespace or control characters (a pasted newline, a
    'Bearer ' prefix). Sees: `ModelInputError` saying what is wrong with the key, without
    echoing any of it. Server: no request."""
    with pytest.raises(ModelInputError) as info:
        get_model(f"{provider}/m", base_url=server.url, api_key=key, memoize=False)
    assert "API key" in str(info.value) and "whitespace or control" in str(info.value)
    _secret_free(info.value, key)


@pytest.mark.parametrize(
    ("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
def test_api_key_variable_with_a_trailing_newline(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    """Caller: the key variable was set from a file and ends in a newline. Sees:
    `ModelInputError` without the key, before any request. Server: no request."""
    monkeypatch.setenv(variable, CANARY + "\n")
    with pytest.raises(ModelInputError) as info:
        get_model(f"{provider}/m", base_url=server.url, memoize=False)
    _secret_free(info.value, CANARY + "\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 7.0), ("max_tokens", -5), ("stop_seqs", [""]), ("top_p", float("nan"))],
)
def test_a_config_field_assigned_out_of_range_is_refused_at_once(field: str, value: Any) -> None:
    """Caller: assigns an out-of-range value to a config field in place. Sees:
    `pydantic.ValidationError` naming the field at the assignment, as when building it; the
    config keeps its value. Server: nothing."""
    config = GenerateConfig(temperature=0.5)
    with pytest.raises(pydantic.ValidationError, match=field):
        setattr(config, field, value)
    assert config.temperature == 0.5 and getattr(config, field) in (None, 0.5)


def test_get_model_takes_a_config_dict_and_refuses_other_types(server: LocalServer) -> None:
    """Caller: `get_model(config={...})`, as `generate` takes one. Sees: the model's config
    built from it (validated); any other type is a `ModelInputError` at once."""
    model = get_model("openai/gpt-4o", config={"temperature": 0.3}, base_url=server.url,
                      api_key=CANARY, memoize=False)  # fmt: skip
    assert model.config == GenerateConfig(temperature=0.3)
    with pytest.raises(ModelInputError, match="config must be a GenerateConfig"):
        get_model("openai/gpt-4o", config=[("temperature", 0.3)], api_key=CANARY)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="temperature"):
        get_model("openai/gpt-4o", config={"temperature": 9}, api_key=CANARY)


@pytest.mark.parametrize("key", [b"sk-bytes-key", 12345678, ["sk-in-a-list"]])
def test_an_api_key_that_is_not_a_string_is_refused(server: LocalServer, key: Any) -> None:
    """Caller: passes the key as bytes, a number or a list. Sees: `ModelInputError` naming the
    type, without the key. Server: no request."""
    with pytest.raises(ModelInputError, match="must be a string") as info:
        get_model("openai/gpt-4o", base_url=server.url, api_key=key, memoize=False)
    assert "sk-" not in str(info.value) and "12345678" not in str(info.value)


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"X-Token": "abc\x01def"}, "control character"),
        ({"X-Token": "abc\x7fdef"}, "control character"),
        ({"X Token": "v"}, "not a header name"),
        ({"X-Token:": "v"}, "not a header name"),
        ({"": "v"}, "not a header name"),
    ],
)
def test_a_header_model_arg_http_cannot_carry_is_refused(
    server: LocalServer, headers: dict[str, str], named: str
) -> None:
    """Caller: `headers=` with a control character in a value or a name HTTP does not allow.
    Sees: `ModelInputError` from `get_model` (not aiohttp's `ValueError` at the first call),
    without the value."""
    with pytest.raises(ModelInputError, match=named) as info:
        get_model("openai/gpt-4o", base_url=server.url, api_key=CANARY, memoize=False,
                  headers=headers)  # fmt: skip
    assert "abc" not in str(info.value)


@pytest.mark.parametrize(
    ("names", "named"),
    [
        (["get weather"], "whitespace or control"),
        (["get_weather\n"], "whitespace or control"),
        (["get_weather", "get_weather"], "given twice"),
    ],
)
def test_tool_names_no_provider_takes_are_refused(names: list[str], named: str) -> None:
    """Caller: tools with a name holding whitespace, or two tools of one name (every
    provider refuses them; an empty name is refused by `ToolInfo` itself). Sees:
    `ModelInputError` before any request."""
    tools = [ToolInfo(name=n, description="d", parameters=ToolParams()) for n in names]
    with serving() as rig:
        err = rig.fails(ModelInputError, "hi", tools=tools)
        assert named in str(err)
        assert rig.attempts == 0
