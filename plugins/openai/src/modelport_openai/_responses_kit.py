"""Test kit for OpenAI's Responses API: rebuild the modelport inputs a recorded `/responses`
request stands for, compare request bodies by meaning, merge a recorded stream of typed events
into its response, and replay a record end to end (`modelport.testing`'s kit).

Import it from tests only (through `modelport_openai.testing`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, get_args

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    Content,
    ContentData,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    GenerateConfig,
    Model,
    ResponseSchema,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    WebSearch,
    get_model,
)
from modelport import testing as kit
from modelport.testing import NotRebuildableError, Rebuilt

from ._responses import LOGPROBS, ResponsesOptions, responses_from_wire
from ._responses_tools import tool_use_from_item
from ._wire import is_reasoning_model

__all__ = [
    "align_responses_request",
    "assert_responses_replayed",
    "merge_responses_stream",
    "normalize_responses_request",
    "responses_inputs",
]

_EFFORTS = frozenset(
    value
    for arg in get_args(GenerateConfig.model_fields["reasoning_effort"].annotation)
    for value in get_args(arg)
)
_SUMMARIES = ("auto", "concise", "detailed")
_TOOL_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "required": "any", "none": "none"}
_CONFIG = {
    "max_output_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "parallel_tool_calls": "parallel_tool_calls",
}
_PASSED = frozenset(
    {
        "user",
        "service_tier",
        "truncation",
        "store",
        "background",
        "previous_response_id",
        "conversation",
        "context_management",
        "metadata",
        "max_tool_calls",
        "prompt_cache_key",
        "safety_identifier",
    }
)
"""Request fields modelport has no input for: passed through `extra_body`."""
_ENCRYPTED = "reasoning.encrypted_content"
REPLAY_KEY = "sk-replay-0123456789abcdef"


# -- rebuilding inputs -----------------------------------------------------------------------


def responses_inputs(request: dict[str, Any]) -> Rebuilt:
    """The modelport inputs that `responses_to_wire` turns into `request` (up to
    `normalize_responses_request` and `align_responses_request`); `options` holds the
    `ResponsesOptions`.

    Raises:
        NotRebuildableError: the request uses what modelport cannot express (the reason).
    """
    model = request.get("model")
    if not model:
        raise NotRebuildableError("a stored prompt, no model")
    reasoning_model = is_reasoning_model(model)
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    summary: str | None = None
    for key, value in kit.canonical(request).items():
        if key in ("model", "input", "instructions", "tools", "tool_choice"):
            continue
        if key in _CONFIG:
            config[_CONFIG[key]] = value
        elif key in _PASSED:
            extra[key] = value
        elif key == "include" and isinstance(value, list):
            if LOGPROBS in value:
                config["logprobs"] = True
            ours = {LOGPROBS, _ENCRYPTED} if reasoning_model else {LOGPROBS}
            if not value or not set(value) <= ours:
                extra[key] = value
        elif key == "top_logprobs":
            config[key] = value
        elif key == "reasoning" and isinstance(value, dict):
            rest = dict(value)
            if rest.get("effort") in _EFFORTS:
                config["reasoning_effort"] = rest.pop("effort")
            if rest.get("summary") in _SUMMARIES and reasoning_model:
                summary = rest.pop("summary")
            if rest or ("reasoning_effort" not in config and summary is None):
                extra[key] = rest
        elif key == "text" and isinstance(value, dict):
            rest = dict(value)
            fmt = rest.get("format")
            if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
                config["response_schema"] = ResponseSchema(
                    name=fmt["name"],
                    json_schema=fmt.get("schema", {}),
                    description=fmt.get("description"),
                    strict=fmt.get("strict"),
                )
                del rest["format"]
            elif fmt == {"type": "text"}:
                del rest["format"]
            elif fmt == {"type": "json_object"}:
                config["response_format"] = "json"
                del rest["format"]
            if rest:
                extra[key] = rest
        elif key == "prompt":
            raise NotRebuildableError("a stored prompt")

        else:
            raise NotRebuildableError(f"the request field {key!r}")
    tools = [_tool(t) for t in request.get("tools") or ()]
    if any(isinstance(t, WebSearch | CodeExecution | ComputerUse) for t in tools):
        config["internal_tools"] = True
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") != "function":
            raise NotRebuildableError(f"a tool choice of type {choice.get('type')!r}")
        choice = ToolFunction(name=choice["name"])
    elif choice is not None:
        choice = _TOOL_CHOICES[choice]
    messages = _messages(request.get("instructions"), request["input"])
    options = ResponsesOptions(reasoning_summary=summary)
    return Rebuilt.of(model, messages, tools, choice, config, extra, options)


def _tool(raw: dict[str, Any]) -> ToolInfo:
    kind = raw.get("type")
    if kind == "function":
        if raw.get("defer_loading"):
            raise NotRebuildableError("a tool loaded by tool search (defer_loading)")
        return kit.tool_info(raw["name"], raw.get("description"), raw.get("parameters"))
    rest = {k: v for k, v in raw.items() if k != "type"}
    if kind in ("web_search", "web_search_preview"):
        fields: dict[str, Any] = {}
        domains = (rest.get("filters") or {}).get("allowed_domains")
        if domains and set(rest["filters"]) == {"allowed_domains"}:
            fields["allowed_domains"] = domains
            del rest["filters"]
        location = rest.get("user_location")
        if isinstance(location, dict) and location.get("type") == "approximate":
            fields["user_location"] = {k: v for k, v in location.items() if k != "type"}
            del rest["user_location"]
        if kind != "web_search":
            rest["type"] = kind
        return WebSearch(**fields, options=rest or None)
    if kind == "code_interpreter":
        if rest.get("container") == {"type": "auto"}:
            del rest["container"]
        return CodeExecution(options=rest or None)
    if kind == "computer_use_preview":
        return ComputerUse(
            display_width=rest.pop("display_width"),
            display_height=rest.pop("display_height"),
            environment=rest.pop("environment", None),
            options=rest or None,
        )
    raise NotRebuildableError(f"a {kind!r} tool")


def _parts(content: Any, role: str) -> str | list[Content]:
    if isinstance(content, str):
        return content
    parts: list[Content] = []
    for p in content:
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(ContentText(text=p["text"]))
        elif kind == "input_image" and (p.get("image_url") or p.get("file_id")):
            image = p.get("image_url") or p["file_id"]
            parts.append(ContentImage(image=image, detail=p.get("detail", "auto")))
        elif kind == "input_file" and p.get("file_data"):
            parts.append(ContentDocument(document=p["file_data"], filename=p.get("filename")))
        elif kind == "input_file" and (p.get("file_url") or p.get("file_id")):
            parts.append(ContentDocument(document=p.get("file_url") or p["file_id"]))
        else:
            raise NotRebuildableError(f"a {kind!r} content part in a {role} message")
    return parts


class _Turns:
    """Input items gathered into messages: an assistant turn's items into one message."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.content: list[Content] = []
        self.calls: list[ToolCall] = []
        self.names: dict[str, str] = {}

    def close(self) -> None:
        if self.content or self.calls:
            texts = all(isinstance(c, ContentText) for c in self.content)
            content: str | list[Content] = (
                "".join(c.text for c in self.content if isinstance(c, ContentText))
                if texts and len(self.content) <= 1
                else list(self.content)
            )
            self.messages.append(
                ChatMessageAssistant(content=content, tool_calls=list(self.calls) or None)
            )
            self.content, self.calls = [], []

    def add(self, message: ChatMessage) -> None:
        self.close()
        self.messages.append(message)


def _messages(instructions: str | None, raw: Any) -> list[ChatMessage]:
    turns = _Turns()
    if instructions is not None:
        turns.add(ChatMessageSystem(content=instructions))
    if isinstance(raw, str):
        turns.add(ChatMessageUser(content=raw))
        return turns.messages
    for item in raw:
        kind = item.get("type")
        role = item.get("role")
        if role is not None and kind in (None, "message"):
            content = item.get("content")
            if role in ("system", "developer"):
                turns.add(ChatMessageSystem(content=_parts(content, role)))
            elif role == "user":
                turns.add(ChatMessageUser(content=_parts(content, role)))
            elif role == "assistant":
                if turns.calls:
                    turns.close()
                parts = _parts(content, role)
                text = (
                    parts
                    if isinstance(parts, str)
                    else "".join(c.text for c in parts if isinstance(c, ContentText))
                )
                turns.content.append(ContentText(text=text))
            else:
                raise NotRebuildableError(f"a message with role {role!r}")
        elif kind == "reasoning":
            if turns.calls:
                turns.close()
            summary = item.get("summary") or []
            text = "\n\n".join(s.get("text") or "" for s in summary)
            turns.content.append(
                ContentReasoning(
                    reasoning=text,
                    signature=item.get("encrypted_content"),
                    internal={"id": item["id"], "summary": summary},
                )
            )
        elif kind == "function_call":
            call = ToolCall(
                id=item["call_id"],
                function=item["name"],
                arguments=json.loads(item.get("arguments") or "{}"),
            )
            turns.names[call.id] = call.function
            turns.calls.append(call)
        elif kind == "function_call_output":
            call_id = item["call_id"]
            if call_id not in turns.names:
                raise NotRebuildableError(
                    "a tool result for a call in a conversation stored by OpenAI"
                )
            turns.add(
                ChatMessageTool(
                    content=_parts(item["output"], "tool"),
                    tool_call_id=call_id,
                    function=turns.names.get(call_id),
                )
            )
        elif isinstance(kind, str) and "id" in item:
            if turns.calls:
                turns.close()
            part = tool_use_from_item(item)
            turns.content.append(
                ContentToolUse.model_validate(part)
                if part["type"] == "tool_use"
                else ContentData.model_validate(part)
            )
        else:
            raise NotRebuildableError(f"an input item of type {kind!r}")
    turns.close()
    return turns.messages


# -- comparing by meaning --------------------------------------------------------------------


def normalize_responses_request(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with differences that do not change its meaning to the server removed.

    - `stream` goes (`modelport.testing.canonical`);
    - `instructions` is the first input item, a system message (the API reference: it
      "inserts a system (or developer) message as the first item"); `developer` is `system`;
    - a string `input` is one user message; a message's string content is one text part;
      `type: "message"`, item `id`s and `status`, output text `annotations` and `logprobs`
      (response fields echoed back), an image's `detail: "auto"` and a reasoning item's empty
      `content` go; function-call `arguments` compare as parsed JSON; a tool output made of
      text parts only is their text; an empty assistant message goes;
    - tools: `strict` goes (`ToolInfo` has no such flag), as do an empty `description` and
      the JSON-schema defaults of the parameters; `tool_choice` absent with tools is "auto";
      an empty `tools` list goes;
    - `text: {"format": {"type": "text"}}` (the default) goes.
    """
    body = kit.canonical(body)
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = [dict(i) for i in items or ()]
    if "instructions" in body:
        items.insert(0, {"role": "system", "content": body.pop("instructions")})
    body["input"] = [n for i in items if (n := _item(i)) != _EMPTY_ASSISTANT]
    if body.get("tools") == []:
        del body["tools"]
    if body.get("tools"):
        body.setdefault("tool_choice", "auto")
        for tool in body["tools"]:
            if tool.get("type") != "function":
                continue
            tool.pop("strict", None)
            if tool.get("description") in ("", None):
                tool.pop("description", None)
            if isinstance(tool.get("parameters"), dict):
                tool["parameters"] = kit.clean_schema(tool["parameters"])
                if tool["parameters"].get("properties") == {}:
                    del tool["parameters"]["properties"]
    text = body.get("text")
    if isinstance(text, dict) and text.get("format") == {"type": "text"}:
        del text["format"]
        if not text:
            del body["text"]
    return body


def _item(item: dict[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    kind = item.get("type")
    if role is not None and kind in (None, "message"):
        role = "system" if role == "developer" else role
        content = item.get("content")
        text_type = "output_text" if role == "assistant" else "input_text"
        if isinstance(content, str):
            content = [{"type": text_type, "text": content}]
        parts = []
        for p in content or ():
            p = dict(p)
            if p.get("type") in ("input_text", "output_text", "text"):
                p = {"type": text_type, "text": p.get("text")}
            if p.get("detail") == "auto":
                del p["detail"]
            parts.append(p)
        return {"role": role, "content": parts}
    out = {k: v for k, v in item.items() if k != "status"}
    if kind == "reasoning":
        if not out.get("content"):
            out.pop("content", None)
    elif kind == "function_call":
        out.pop("id", None)
        out["arguments"] = json.loads(out.get("arguments") or "{}")
    elif kind == "function_call_output":
        out.pop("id", None)
        output = out.get("output")
        if isinstance(output, list) and all(p.get("type") == "input_text" for p in output):
            out["output"] = "\n".join(p.get("text") or "" for p in output)
        elif isinstance(output, list):
            out["output"] = [
                {k: v for k, v in p.items() if (k, v) != ("detail", "auto")} for p in output
            ]
    return out


def align_responses_request(ours: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """`ours` without what modelport adds of its own where the recording did not: `store:
    false` (modelport sends the whole history, so nothing needs storing) and the `include`
    of a reasoning model's encrypted reasoning (so it can be sent back)."""
    ours = dict(ours)
    if "store" not in recorded and ours.get("store") is False:
        del ours["store"]
    if _ENCRYPTED in ours.get("include", ()) and _ENCRYPTED not in recorded.get("include", ()):
        ours["include"] = [v for v in ours["include"] if v != _ENCRYPTED]
        if not ours["include"]:
            del ours["include"]
    return ours


# -- streams ---------------------------------------------------------------------------------

_EMPTY_ASSISTANT = {"role": "assistant", "content": [{"type": "output_text", "text": ""}]}

_FINAL = ("response.completed", "response.incomplete", "response.failed")


def merge_responses_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The `response` object a recorded stream of typed events ends with (its
    `response.completed`, `response.incomplete` or `response.failed` event)."""
    for event in reversed(events):
        if event.get("type") in _FINAL and isinstance(event.get("response"), dict):
            response: dict[str, Any] = event["response"]
            return response
    raise AssertionError("the recorded stream has no final response event")


# -- end to end ------------------------------------------------------------------------------


def _connect(record: dict[str, Any], inputs: Rebuilt, api_key: str) -> Callable[[str], Model]:
    route = (record.get("url_path") or "").split("?")[0].removesuffix("/responses")
    options: ResponsesOptions = inputs.options
    return lambda url: get_model(
        f"openai/{inputs.model}",
        base_url=url + route,
        api_key=api_key,
        config=inputs.config.merge(GenerateConfig(max_retries=0)),
        memoize=False,
        responses_api=True,
        reasoning_summary=options.reasoning_summary,
    )


def assert_responses_replayed(
    record: dict[str, Any], *, stream: bool | None = None, api_key: str = REPLAY_KEY
) -> kit.Replayed:
    """Replay `record` end to end (`modelport.testing.assert_replayed`): `openai/<model>` with
    `responses_api=True` against a local server answering with the recorded response; the
    request it got must mean the recorded one, with the key; the output must be what
    `responses_from_wire` reads in the recorded answer (an error: its status). A streamed
    record is replayed through `model.stream` (unless `stream=False`). Returns the replay:
    the output or error, the request, the events of a stream."""
    if stream is None:
        stream = bool(record.get("is_stream")) and record["status"] < 300
    inputs = responses_inputs(record["request_json"])
    return kit.assert_replayed(
        record,
        inputs,
        _connect(record, inputs, api_key),
        responses_from_wire,
        normalize_responses_request,
        align_responses_request,
        headers={"authorization": f"Bearer {api_key}"},
        merge=merge_responses_stream,
        stream=stream,
    )
