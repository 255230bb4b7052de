"""Recorded real Gemini API and Vertex AI interactions (cassettes/, see its README), replayed
with the kit of `modelport.testing`.

Requests: each recorded request is rebuilt as modelport inputs (messages, tools, tool choice,
config, model args; `rebuild`), and `to_wire` must produce a body equal to the recorded one in
meaning (`normalise` lists the allowances); each is also replayed end to end through
`get_model` against a local server. Records whose request uses what modelport does not express
are left out for the reasons counted in `test_requests_left_out_only_for_stated_reasons`.

Responses: every recorded 200 response (a stream merged into one response by `merge_stream`)
parses into the output its JSON says, and replaying the parsed message in a conversation sends
back the model turn as recorded: text, function calls and each thought signature on the same
part.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from modelport_google import GoogleOptions, from_wire, to_wire
from modelport_google._server_tools import ServerParts

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    Content,
    ContentAudio,
    ContentData,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    ServerTool,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    UrlContext,
    WebSearch,
    get_model,
)
from modelport.testing import (
    NotRebuildableError,
    Rebuilt,
    assert_replayed,
    assert_request_rebuilt,
    cassette_params,
    clean_schema,
    load_cassette,
    rebuildable,
    response_json,
    select,
    tool_info,
)

CASSETTES = Path(__file__).parent / "cassettes"
KINDS = ("gemini", "vertex")
RECORDS = [
    {**r, "kind": kind}
    for kind in KINDS
    for r in load_cassette(CASSETTES / f"{kind}_generate_content.jsonl")
]
KEY = "AIza-canary-4c1f9e7b2d"


def params(records: Iterable[dict[str, Any]]) -> list[Any]:
    """`records` as pytest params, with ids such as `gemini-12-pydantic-ai-test_foo`."""
    records = list(records)
    return [
        p
        for kind in KINDS
        for p in cassette_params([r for r in records if r["kind"] == kind], f"{kind}-")
    ]


# -- rebuilding the inputs of a recorded request -------------------------------------------

_NATIVE: dict[str, Callable[..., ServerTool]] = {
    "googleSearch": WebSearch,
    "codeExecution": CodeExecution,
    "urlContext": UrlContext,
}
_SERVER_PARTS = ("toolCall", "toolResponse", "executableCode", "codeExecutionResult")
_TYPE_NUMBERS = {1: "string", 2: "number", 3: "integer", 4: "boolean", 5: "array", 6: "object"}


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _camel_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {camel(k): v for k, v in d.items()}


def model_of(record: dict[str, Any]) -> str:
    match = re.search(r"models/([^/:?]+):", record["url_path"])
    assert match, record["url_path"]
    return match.group(1)


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """The modelport inputs for a recorded request (`NotRebuildableError` with the reason)."""
    body = normalise(record["request_json"])
    extra = set(body) - {
        "contents",
        "systemInstruction",
        "generationConfig",
        "tools",
        "toolConfig",
        "safetySettings",
    }
    if extra:
        raise NotRebuildableError(f"request fields modelport does not set: {sorted(extra)}")
    messages: list[ChatMessage] = []
    if "systemInstruction" in body:
        messages.append(
            ChatMessageSystem(
                content=[ContentText(text=p["text"]) for p in body["systemInstruction"]["parts"]]
            )
        )
    counter = iter(range(10_000))
    open_calls: list[ToolCall] = []
    for content in body["contents"]:
        parts = content["parts"]
        if content.get("role") not in ("user", "model"):
            raise NotRebuildableError(f"role {content.get('role')!r} (a recorded invalid request)")
        if content["role"] == "model":
            message, open_calls = _model_message(parts, counter)
            messages.append(message)
        elif any("functionResponse" in p for p in parts):
            if not all("functionResponse" in p for p in parts):
                raise NotRebuildableError("function responses mixed with other parts in one turn")
            for p in parts:
                messages.append(_tool_message(p["functionResponse"], open_calls))
        else:
            messages.append(ChatMessageUser(content=[_content(p) for p in parts]))
    tools = _tools(body.get("tools") or [])
    choice = _tool_choice(body.get("toolConfig"))
    config, include = _config(body.get("generationConfig") or {})
    options = GoogleOptions(safety_settings=body.get("safetySettings"), include_thoughts=include)
    return Rebuilt.of(model_of(record), messages, tools, choice, config, None, options)


def _model_message(
    parts: list[dict[str, Any]], counter: Iterable[int]
) -> tuple[ChatMessageAssistant, list[ToolCall]]:
    content: list[Content] = []
    calls: list[ToolCall] = []
    numbers = iter(counter)
    server = ServerParts()
    for p in parts:
        if any(k in p for k in _SERVER_PARTS):  # a server tool's parts: kept as they came
            made = server.add(p)
            if made is not None:
                content.append(made)
            continue
        server.last = None
        sig = p.get("thoughtSignature")
        if p.get("thought"):
            content.append(ContentReasoning(reasoning=p.get("text", ""), signature=sig))
            continue
        if sig:
            content.append(ContentReasoning(reasoning="", signature=sig, redacted=True))
        if "functionCall" in p:
            fc = p["functionCall"]
            call_id = fc.get("id") or f"rebuilt_{next(numbers)}"
            calls.append(ToolCall(id=call_id, function=fc["name"], arguments=fc.get("args") or {}))
        else:
            content.append(_content(p))
    return ChatMessageAssistant(content=content, tool_calls=calls or None), list(calls)


def _tool_message(response: dict[str, Any], open_calls: list[ToolCall]) -> ChatMessageTool:
    name = response["name"]
    call_id = response.get("id")
    if call_id is None:  # match by name, in order
        match = next((c for c in open_calls if c.function == name), None)
        if match is None:
            raise NotRebuildableError("a function response matching no call")
        open_calls.remove(match)
        call_id = match.id
    value = response.get("response", {})
    if set(value) == {"output"} and isinstance(value["output"], str):
        text = value["output"]
    else:
        text = json.dumps(value)
    media = [_content(_norm_part(p)) for p in response.get("parts") or []]
    content: str | list[Content] = [ContentText(text=text), *media] if media else text
    return ChatMessageTool(content=content, tool_call_id=call_id, function=name)


def _content(part: dict[str, Any]) -> Content:
    if "text" in part:
        return ContentText(text=part["text"])
    if "inlineData" in part:
        data = _camel_keys(part["inlineData"])
        return _media(data["mimeType"], f"data:{data['mimeType']};base64,{data['data']}")
    if "fileData" in part:
        data = _camel_keys(part["fileData"])
        return _media(data.get("mimeType", ""), data["fileUri"])
    raise NotRebuildableError(f"part kind {sorted(part)}")


def _media(mime: str, source: str) -> Content:
    if mime.startswith("video/"):
        fmt = {"video/mp4": "mp4", "video/mpeg": "mpeg", "video/quicktime": "mov"}.get(mime)
        if fmt:
            return ContentVideo(video=source, format=fmt)  # type: ignore[arg-type]
    if mime.startswith("audio/"):
        fmt = {"audio/wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}.get(mime)
        if fmt:
            return ContentAudio(audio=source, format=fmt)  # type: ignore[arg-type]
    # images, PDFs and other documents: modelport's media part for any MIME type of a data URL
    return ContentImage(image=source)


def _tools(tools: list[dict[str, Any]]) -> list[ToolInfo]:
    out: list[ToolInfo] = []
    for tool in tools:
        if len(tool) == 1 and next(iter(tool)) in _NATIVE:
            [(key, spec)] = tool.items()
            out.append(_NATIVE[key](options=spec or None))
            continue
        if set(tool) != {"functionDeclarations"}:
            raise NotRebuildableError(
                f"server-side tools {sorted(set(tool) - {'functionDeclarations'})}"
            )
        for fd in tool["functionDeclarations"]:
            schema = copy.deepcopy(fd.get("parametersJsonSchema"))
            out.append(tool_info(fd["name"], fd.get("description"), schema))
    return out


def _tool_choice(config: dict[str, Any] | None) -> ToolChoice | None:
    if not config:
        return None
    fcc = config.get("functionCallingConfig") or {}
    if config.get("includeServerSideToolInvocations"):
        raise NotRebuildableError("server tool calls as parts (includeServerSideToolInvocations)")
    if set(config) != {"functionCallingConfig"} or "mode" not in fcc:
        raise NotRebuildableError(f"toolConfig {config}")
    mode = fcc["mode"]
    names = fcc.get("allowedFunctionNames")
    if mode == "AUTO":
        return "auto"
    if mode == "NONE":
        return "none"
    if mode == "ANY":
        if not names:
            return "any"
        if len(names) == 1:
            return ToolFunction(name=names[0])
        raise NotRebuildableError("ANY with several (not all) allowed function names")
    raise NotRebuildableError(f"function calling mode {mode}")


def _config(gen: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
    fields = {
        "temperature": "temperature",
        "topP": "top_p",
        "topK": "top_k",
        "maxOutputTokens": "max_tokens",
        "stopSequences": "stop_seqs",
        "candidateCount": "num_choices",
        "seed": "seed",
        "presencePenalty": "presence_penalty",
        "frequencyPenalty": "frequency_penalty",
        "responseLogprobs": "logprobs",
        "logprobs": "top_logprobs",
    }
    args: dict[str, Any] = {}
    include = None
    for key, value in gen.items():
        if key in fields:
            args[fields[key]] = value
        elif key == "thinkingConfig":
            for tkey, tvalue in value.items():
                if tkey == "includeThoughts":
                    include = tvalue
                elif tkey == "thinkingBudget" and tvalue > 0:
                    args["reasoning_tokens"] = tvalue
                elif tkey == "thinkingLevel":
                    args["reasoning_effort"] = tvalue.lower()
                else:
                    raise NotRebuildableError(f"thinkingConfig {tkey}={tvalue}")
        elif key == "responseJsonSchema":
            args["response_schema"] = ResponseSchema(name="response", json_schema=value)
        elif key == "responseMimeType" and "responseJsonSchema" in gen:
            assert value == "application/json"
        else:
            raise NotRebuildableError(f"generationConfig {key}")
    return args, include


# -- comparing by meaning ------------------------------------------------------------------


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """A request body in its canonical form (applied to both the recorded body and the one
    modelport builds), and why:

    - snake_case keys (`function_call`, `thought_signature`, `parameters_json_schema`, ...)
      become camelCase: Google's JSON parser takes both; the Python SDK sends snake_case.
    - `systemInstruction.role` is dropped: the system instruction has no role.
    - `generationConfig.responseModalities == ["TEXT"]` is dropped: text is the default.
    - an empty `generationConfig` and the body's `model` field (the URL names the model) are
      dropped.
    - `tools` entries (function declarations, each server tool) compare in any order.
    - `toolConfig` with mode `AUTO` and no names is dropped (the default);
      `allowedFunctionNames` listing every declared function is dropped (the same as none).
    - schemas: the OpenAPI `parameters` / `responseSchema` become the JSON-schema fields
      `parametersJsonSchema` / `responseJsonSchema` with lower-case types (numbers from
      `enum-encoding=int` named); JSON-schema defaults are dropped
      (`modelport.testing.clean_schema`); a function without parameters has
      `{"type": "object", "properties": {}}`; an empty function description is dropped.
    - MIME aliases are one name (`audio/mpeg` is `audio/mp3`, `audio/x-wav` is `audio/wav`).
    - a function-call id the recording lacks was invented by the rebuild (`rebuilt_<n>`): not
      compared; a `fileData.mimeType` the recording has but modelport cannot know (a URI with
      no file extension, on an image part) is taken from the recording (`align`).
    """
    body = _camel_keys(copy.deepcopy(body))
    body.pop("model", None)
    contents = []
    for c in body.get("contents", []):
        c = _camel_keys(c)
        c["parts"] = [_norm_part(p) for p in c.get("parts", [])]
        contents.append(c)
    if "contents" in body:
        body["contents"] = contents
    if "systemInstruction" in body:
        si = _camel_keys(body["systemInstruction"])
        si.pop("role", None)
        si["parts"] = [_norm_part(p) for p in si.get("parts", [])]
        body["systemInstruction"] = si
    gen = _camel_keys(body.pop("generationConfig", {}) or {})
    if gen.get("responseModalities") == ["TEXT"]:
        del gen["responseModalities"]
    if "thinkingConfig" in gen:
        gen["thinkingConfig"] = _camel_keys(gen["thinkingConfig"])
        if "thinkingLevel" in gen["thinkingConfig"]:
            gen["thinkingConfig"]["thinkingLevel"] = gen["thinkingConfig"]["thinkingLevel"].lower()
    if "responseSchema" in gen:
        gen["responseJsonSchema"] = _json_schema(gen.pop("responseSchema"))
    if "responseJsonSchema" in gen:
        gen["responseJsonSchema"] = clean_schema(gen["responseJsonSchema"])
    if gen:
        body["generationConfig"] = gen
    tools = []
    names: list[str] = []
    for t in body.get("tools", []):
        t = _camel_keys(t)
        if "functionDeclarations" in t:
            decls = []
            for fd in t["functionDeclarations"]:
                fd = _camel_keys(fd)
                if "parameters" in fd:
                    fd["parametersJsonSchema"] = _json_schema(fd.pop("parameters"))
                fd["parametersJsonSchema"] = clean_schema(
                    fd.get("parametersJsonSchema") or {"type": "object", "properties": {}}
                )
                fd["parametersJsonSchema"].setdefault("properties", {})
                if not fd.get("description"):
                    fd.pop("description", None)
                names.append(fd["name"])
                decls.append(fd)
            t["functionDeclarations"] = decls
        tools.append(t)
    if "tools" in body:
        body["tools"] = sorted(tools, key=lambda t: sorted(t))  # entries in any order
    if "toolConfig" in body:
        tc = _camel_keys(body["toolConfig"])
        fcc = _camel_keys(tc.get("functionCallingConfig") or {})
        if sorted(fcc.get("allowedFunctionNames") or ["-"]) == sorted(names):
            fcc.pop("allowedFunctionNames")
        if fcc == {"mode": "AUTO"}:
            del tc["functionCallingConfig"]
        elif fcc:
            tc["functionCallingConfig"] = fcc
        if tc:
            body["toolConfig"] = tc
        else:
            del body["toolConfig"]
    return body


_MIME_ALIASES = {"audio/mpeg": "audio/mp3", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav"}


def _norm_part(part: dict[str, Any]) -> dict[str, Any]:
    part = _camel_keys(part)
    for key in ("inlineData", "fileData"):
        if key in part:
            data = _camel_keys(part[key])
            if "mimeType" in data:
                data["mimeType"] = _MIME_ALIASES.get(data["mimeType"], data["mimeType"])
            part[key] = data
    for key in ("functionCall", "functionResponse"):
        if key in part and "parts" in part[key]:
            part[key] = {**part[key], "parts": [_norm_part(p) for p in part[key]["parts"]]}
    return part


def _json_schema(schema: Any) -> Any:
    """An OpenAPI-subset schema (upper-case or numbered types) as JSON schema."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type":
            value = _TYPE_NUMBERS.get(value, value) if isinstance(value, int) else value.lower()
        elif key == "properties":
            value = {k: _json_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf"):
            value = _json_schema(value)
        out[camel(key) if key == "property_ordering" else key] = value
    return out


def align(ours: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """`ours` (normalised) with what modelport cannot know taken from `recorded` (normalised):
    invented call ids dropped, a file URI's MIME type copied."""
    ours = copy.deepcopy(ours)
    for c_ours, c_rec in zip(ours.get("contents", []), recorded.get("contents", []), strict=False):
        for p_ours, p_rec in zip(c_ours["parts"], c_rec["parts"], strict=False):
            for key in ("functionCall", "functionResponse"):
                if key in p_ours and key in p_rec and "id" not in p_rec[key]:
                    assert str(p_ours[key].get("id", "")).startswith("rebuilt_"), p_ours
                    p_ours[key].pop("id", None)
            if (
                "fileData" in p_ours
                and "fileData" in p_rec
                and "mimeType" not in p_ours["fileData"]
                and "mimeType" in p_rec["fileData"]
            ):
                p_ours["fileData"]["mimeType"] = p_rec["fileData"]["mimeType"]
    return ours


# -- streams -------------------------------------------------------------------------------


def merge_stream(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One `generateContent` response from stream chunks: the parts of each candidate in
    order (adjacent text of the same kind joined), the last finish reason, usage and ids."""
    merged: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if key in chunk:
                merged[key] = chunk[key]
        for n, cand in enumerate(chunk.get("candidates") or []):
            index = cand.get("index", n)
            target = candidates.setdefault(index, {"content": {"role": "model", "parts": []}})
            for key, value in cand.items():
                if key != "content":
                    target[key] = value
            parts = target["content"]["parts"]
            for part in (cand.get("content") or {}).get("parts") or []:
                last = parts[-1] if parts else None
                if (
                    last is not None
                    and "text" in part
                    and "text" in last
                    and bool(part.get("thought")) == bool(last.get("thought"))
                    and "thoughtSignature" not in part
                ):
                    last["text"] += part["text"]
                else:
                    parts.append(dict(part))
    merged["candidates"] = [candidates[i] for i in sorted(candidates)]
    return merged


# -- the tests -----------------------------------------------------------------------------

REBUILDABLE, LEFT_OUT = rebuildable(RECORDS, rebuild)

# What modelport does not express, and so cannot rebuild. File search and Maps grounding are
# server-side tools modelport has no `ServerTool` for (Google Search, code execution and URL
# context are replayed), nor has it a switch for server tool calls returned as parts;
# VALIDATED mode and a subset of several allowed functions have no `ToolChoice`; Vertex's
# Model Armor and labels are options modelport does not set; one recording sends an invalid
# role on purpose.
LEFT_OUT_EXPECTED = {
    "server-side tools ['fileSearch']": 5,
    "server tool calls as parts (includeServerSideToolInvocations)": 1,
    "function calling mode VALIDATED": 6,
    "ANY with several (not all) allowed function names": 2,
    "request fields modelport does not set: ['modelArmorConfig']": 1,
    "request fields modelport does not set: ['labels']": 1,
    "role 'invalid_role' (a recorded invalid request)": 1,
}


def test_requests_left_out_only_for_stated_reasons() -> None:
    assert dict(LEFT_OUT) == LEFT_OUT_EXPECTED
    assert len(REBUILDABLE) == 219, len(REBUILDABLE)
    served = [
        r
        for r in REBUILDABLE
        if "tools" in (r["request_json"] or {})
        and any(k in t for t in r["request_json"]["tools"] for k in _NATIVE)
    ]
    assert len(served) >= 10, len(served)


@pytest.mark.parametrize("record", params(REBUILDABLE))
def test_request_from_modelport_inputs_matches_recording(record: dict[str, Any]) -> None:
    assert_request_rebuilt(record, rebuild, to_wire, normalise, align)


def connect(record: dict[str, Any], rb: Rebuilt) -> Callable[[str], Model]:
    """The model a replay of `record` uses: at the local server, on the recorded route (a
    Vertex AI project, location and API version), with the options `rb` stands for."""
    args: dict[str, Any] = {
        "include_thoughts": rb.options.include_thoughts,
        "safety_settings": rb.options.safety_settings,
    }
    name = f"google/{rb.model}"
    if record["kind"] == "vertex":
        found = _VERTEX_PATH.match(record["url_path"])
        assert found, record["url_path"]
        version, project, location = found.groups()
        args.update(api_version=version, project=project, location=location, access_token=KEY)
        name = f"google/vertex/{rb.model}"
    else:
        args["api_key"] = KEY
    config = rb.config.merge(GenerateConfig(max_retries=0))  # one interaction: no retries
    return lambda url: get_model(name, base_url=url, config=config, memoize=False, **args)


_VERTEX_PATH = re.compile(r"^/(v[^/]+)/projects/([^/]+)/locations/([^/]+)/")
E2E = [
    r
    for r in REBUILDABLE
    if r["kind"] == "gemini" or _VERTEX_PATH.match(r["url_path"])  # a project's route
]


@pytest.mark.parametrize("record", params(E2E))
def test_recorded_interaction_end_to_end(record: dict[str, Any]) -> None:
    """A streamed recording is served as the one response it adds up to, to the call
    modelport makes (`generateContent`)."""
    rb = rebuild(record)
    replayed = assert_replayed(
        record,
        rb,
        connect(record, rb),
        lambda body: from_wire(body, model_of(record)),
        normalise,
        align,
        path=record["url_path"].split("?")[0].replace(":streamGenerateContent", ":generateContent"),
        merge=merge_stream,
    )
    headers = replayed.request.headers
    assert KEY in headers.get("x-goog-api-key", "") + headers.get("authorization", "")


SSE_STREAMS = [r for r in E2E if r["is_stream"]]  # server-sent events and JSON arrays


@pytest.mark.parametrize("record", params(SSE_STREAMS))
def test_recorded_stream_replayed_as_a_stream(record: dict[str, Any]) -> None:
    """A recorded `streamGenerateContent` (server-sent events, or a JSON array when the
    recording asked without `alt=sse`) served as it was sent, through `model.stream`: the
    request goes to the recorded streaming route, events come, and the assembled output
    equals what `from_wire` reads in the response the chunks add up to."""
    rb = rebuild(record)
    replayed = assert_replayed(
        record,
        rb,
        connect(record, rb),
        lambda body: from_wire(body, model_of(record)),
        normalise,
        align,
        merge=merge_stream,
        stream=True,
    )
    assert replayed.request.query.get("alt") == "sse"


def test_streams_replayed_as_streams() -> None:
    assert len(SSE_STREAMS) >= 20, len(SSE_STREAMS)


def response_body(record: dict[str, Any]) -> dict[str, Any]:
    return response_json(record, merge_stream)


RESPONSES = select(RECORDS, status=200)

_SERVER_PARTS = ("executableCode", "codeExecutionResult", "toolCall", "toolResponse")
_STOP = {"STOP": "stop", 1: "stop", "MAX_TOKENS": "max_tokens", 2: "max_tokens"}


@pytest.mark.parametrize("record", params(RESPONSES))
def test_response_parses_into_the_output_its_json_says(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body, model_of(record))
    assert isinstance(output, ModelOutput)
    candidates = body.get("candidates") or []
    if not candidates:
        assert body["promptFeedback"]["blockReason"]
        assert output.stop_reason == "content_filter" and output.error
        return
    cand = candidates[0]
    parts = (cand.get("content") or {}).get("parts") or []
    runs = [""]  # text between server tools' parts: one text part each
    for p in parts:
        if any(k in p for k in _SERVER_PARTS):
            runs.append("")
        elif "text" in p and not p.get("thought"):
            runs[-1] += p["text"]
    text = "\n".join(r for r in runs if r)
    kept = [
        raw
        for c in output.message.content
        if isinstance(c, ContentToolUse) and isinstance(c.internal, list)
        for raw in c.internal
    ]
    assert kept == [p for p in parts if any(k in p for k in _SERVER_PARTS)]
    grounding = cand.get("groundingMetadata")
    data = [c.data for c in output.message.content if isinstance(c, ContentData)]
    assert ({"groundingMetadata": grounding} in data) == bool(grounding)
    thoughts = [p["text"] for p in parts if p.get("thought") and p.get("text")]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    signatures = [  # parts of server-side tools are not read (not in modelport's tool model)
        p["thoughtSignature"]
        for p in parts
        if "thoughtSignature" in p and not any(k in p for k in _SERVER_PARTS)
    ]
    message = output.message
    assert output.completion == text
    assert message.reasoning == ("\n".join(thoughts) or None)
    assert [(c.function, c.arguments) for c in message.tool_calls or []] == [
        (c["name"], c.get("args", {})) for c in calls
    ]
    for call, raw in zip(message.tool_calls or [], calls, strict=True):
        assert call.id == raw.get("id", call.id) and call.id
    assert [c.signature for c in message.reasoning_parts if c.signature] == signatures
    expected_stop = _STOP.get(cand.get("finishReason"), "unknown")
    if calls and expected_stop == "stop":
        expected_stop = "tool_calls"
    assert output.stop_reason == expected_stop
    assert output.model == body.get("modelVersion", model_of(record))
    usage = body.get("usageMetadata") or {}
    assert output.usage is not None
    prompt = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
    assert output.usage.input_tokens == prompt
    assert output.usage.output_tokens == usage.get("candidatesTokenCount", 0) + usage.get(
        "thoughtsTokenCount", 0
    )
    assert output.usage.total_tokens == usage.get(
        "totalTokenCount", output.usage.input_tokens + output.usage.output_tokens
    )
    assert output.usage.reasoning_tokens == usage.get("thoughtsTokenCount")
    assert output.usage.input_tokens_cache_read == usage.get("cachedContentTokenCount")
    assert len(output.choices) == len(candidates)


def _model_turn(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded response parts as they should come back in history: adjacent unsigned text
    joined, empty unsigned text dropped, bytes of signatures compared."""
    out: list[dict[str, Any]] = []
    for p in parts:
        p = {k: v for k, v in p.items() if k != "id"}
        if "functionCall" in p:
            p["functionCall"] = {k: v for k, v in p["functionCall"].items() if k != "id"}
        if "thoughtSignature" in p:
            p["thoughtSignature"] = _sig(p["thoughtSignature"])
        last = out[-1] if out else None
        plain = "text" in p and set(p) == {"text"}
        if plain and not p["text"]:
            continue
        if (
            plain
            and last is not None
            and set(last) <= {"text", "thoughtSignature"}
            and "text" in last
        ):
            last["text"] += p["text"]
        else:
            out.append(p)
    return out


def _sig(value: str) -> bytes:
    return base64.b64decode(value.replace("-", "+").replace("_", "/") + "==")


REPLAYABLE = [r for r in RESPONSES if response_body(r).get("candidates")]


@pytest.mark.parametrize("record", params(REPLAYABLE))
def test_parsed_message_replays_as_the_recorded_model_turn(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body, model_of(record))
    history: list[ChatMessage] = [ChatMessageUser(content="question"), output.message]
    sent = to_wire(model_of(record), history, [], "none", GenerateConfig())
    model_turn = sent["contents"][-1]
    assert model_turn["role"] == "model"
    recorded = _model_turn(body["candidates"][0]["content"].get("parts", []))
    ours = _model_turn(model_turn["parts"])
    assert ours == (recorded or [])  # an empty turn is sent as one empty text part


def test_signature_only_parts_are_redacted_reasoning() -> None:
    """A signature on a text or function-call part is kept as redacted reasoning, not text."""
    seen = 0
    for record in REPLAYABLE:
        output = from_wire(response_body(record))
        for part in output.message.reasoning_parts:
            if part.redacted:
                seen += 1
                assert part.reasoning == "" and part.signature
            assert isinstance(part, ContentReasoning)
    assert seen > 50


def test_a_json_array_stream_is_read_whatever_the_chunk_boundaries() -> None:
    """The array framing, cut at every byte: each element once, whole, strings with braces
    and escaped quotes kept."""
    from modelport_google._chunks import StreamFraming

    elements = [
        {"text": 'a {brace} and a "quote" \\ here'},
        {"n": [1, {"deep": "}"}]},
        {"text": "日本語 🎉 café"},  # characters a cut may split between two reads
    ]
    body = ("[" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in elements) + "]").encode()
    for size in (1, 2, 3, 5, 7, len(body)):
        framing = StreamFraming()
        got = [
            json.loads(data)
            for i in range(0, len(body), size)
            for _, data in framing.feed(body[i : i + size])
        ]
        assert got == elements, size
