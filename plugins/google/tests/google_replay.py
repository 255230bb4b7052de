"""Test-side helpers for the recorded Gemini interactions: rebuild modelport inputs from a
recorded request body, normalise bodies for a comparison by meaning, and merge streams.

Normalisations (applied to both the recorded body and the one modelport builds), and why:

- snake_case keys (`function_call`, `thought_signature`, `parameters_json_schema`, ...) become
  camelCase: Google's JSON parser takes both; the Python SDK sends snake_case.
- `systemInstruction.role` is dropped: the system instruction has no role.
- `generationConfig.responseModalities == ["TEXT"]` is dropped: text is the default.
- an empty `generationConfig` and the body's `model` field (the URL names the model) are dropped.
- `toolConfig` with mode `AUTO` and no names is dropped (the default); `allowedFunctionNames`
  listing every declared function is dropped (the same as none).
- schemas: the OpenAPI `parameters` / `responseSchema` become the JSON-schema fields
  `parametersJsonSchema` / `responseJsonSchema` with lower-case types (numbers from
  `enum-encoding=int` named); `additionalProperties: true` and an empty `required` (the JSON
  schema defaults) are dropped; a function without parameters has `{"type": "object",
  "properties": {}}`; an empty function description is dropped.
- MIME aliases are one name (`audio/mpeg` is `audio/mp3`, `audio/x-wav` is `audio/wav`).
- a function-call id the recording lacks was invented by the rebuild (`rebuilt_<n>`): not
  compared; a `fileData.mimeType` the recording has but modelport cannot know (a URI with no
  file extension, on an image part) is taken from the recording.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

import attrs
from modelport_google import GoogleOptions

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    ToolParams,
)


class UnsupportedError(Exception):
    """The recorded request uses something modelport does not express (the reason)."""


@attrs.frozen
class Rebuilt:
    """modelport inputs that should produce a recorded request."""

    model: str
    messages: list[ChatMessage]
    tools: list[ToolInfo]
    tool_choice: ToolChoice
    config: GenerateConfig
    options: GoogleOptions


_SERVER_TOOLS = ("codeExecution", "googleSearch", "fileSearch", "urlContext", "googleMaps")
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
    """The modelport inputs for a recorded request (raises `UnsupportedError` with the reason)."""
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
        raise UnsupportedError(f"request fields modelport does not set: {sorted(extra)}")
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
        if any(k in p for p in parts for k in _SERVER_PARTS):
            raise UnsupportedError("server-side tool parts (code execution, search)")
        if content.get("role") not in ("user", "model"):
            raise UnsupportedError(f"role {content.get('role')!r} (a recorded invalid request)")
        if content["role"] == "model":
            message, open_calls = _model_message(parts, counter)
            messages.append(message)
        elif any("functionResponse" in p for p in parts):
            if not all("functionResponse" in p for p in parts):
                raise UnsupportedError("function responses mixed with other parts in one turn")
            for p in parts:
                messages.append(_tool_message(p["functionResponse"], open_calls))
        else:
            messages.append(ChatMessageUser(content=[_content(p) for p in parts]))
    tools = _tools(body.get("tools") or [])
    choice = _tool_choice(body.get("toolConfig"), tools)
    config, include = _config(body.get("generationConfig") or {})
    options = GoogleOptions(safety_settings=body.get("safetySettings"), include_thoughts=include)
    return Rebuilt(model_of(record), messages, tools, choice, config, options)


def _model_message(
    parts: list[dict[str, Any]], counter: Iterable[int]
) -> tuple[ChatMessageAssistant, list[ToolCall]]:
    content: list[Content] = []
    calls: list[ToolCall] = []
    numbers = iter(counter)
    for p in parts:
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
            raise UnsupportedError("a function response matching no call")
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
    raise UnsupportedError(f"part kind {sorted(part)}")


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
        if set(tool) != {"functionDeclarations"}:
            raise UnsupportedError(
                f"server-side tools {sorted(set(tool) - {'functionDeclarations'})}"
            )
        for fd in tool["functionDeclarations"]:
            schema = copy.deepcopy(
                fd.get("parametersJsonSchema") or {"type": "object", "properties": {}}
            )
            schema.setdefault("additionalProperties", True)  # JSON schema's default
            out.append(
                ToolInfo(
                    name=fd["name"],
                    description=fd.get("description", ""),
                    parameters=ToolParams(**schema),
                )
            )
    return out


def _tool_choice(config: dict[str, Any] | None, tools: list[ToolInfo]) -> ToolChoice:
    if not config:
        return "auto" if tools else "none"
    fcc = config.get("functionCallingConfig") or {}
    if set(config) != {"functionCallingConfig"} or "mode" not in fcc:
        raise UnsupportedError(f"toolConfig {config}")
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
        raise UnsupportedError("ANY with several (not all) allowed function names")
    raise UnsupportedError(f"function calling mode {mode}")


def _config(gen: dict[str, Any]) -> tuple[GenerateConfig, bool | None]:
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
                    raise UnsupportedError(f"thinkingConfig {tkey}={tvalue}")
        elif key == "responseJsonSchema":
            args["response_schema"] = ResponseSchema(name="response", json_schema=value)
        elif key == "responseMimeType" and "responseJsonSchema" in gen:
            assert value == "application/json"
        else:
            raise UnsupportedError(f"generationConfig {key}")
    return GenerateConfig(**args), include


# -- normalisation -------------------------------------------------------------------------


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """A request body in the canonical form described in the module docstring."""
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
        gen["responseJsonSchema"] = _clean_schema(gen["responseJsonSchema"])
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
                fd["parametersJsonSchema"] = _clean_schema(
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
        body["tools"] = tools
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


def _clean_schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_clean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "additionalProperties" and value is True:
            continue
        if key == "required" and value == []:
            continue
        if key in ("properties", "$defs", "defs"):
            value = {k: _clean_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            value = _clean_schema(value)
        out[key] = value
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


def stream_chunks(text: str) -> list[dict[str, Any]]:
    """The response objects of a recorded stream: SSE (`data: {...}`) or a JSON array."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        chunks = json.loads(stripped)
        assert isinstance(chunks, list)
        return chunks
    return [
        json.loads(line[len("data:") :])
        for line in text.splitlines()
        if line.startswith("data:") and line[len("data:") :].strip() not in ("", "[DONE]")
    ]


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
