"""Pure helpers for a provider's wire translation (`to_wire` / `from_wire`): no I/O, no aiohttp.

```python
from modelport.wire import merge_deep, parse_tool_call, usage

call = parse_tool_call("call_1", "get_weather", '{"city": "Paris"}')   # parse_error on bad JSON
total = usage(input_tokens=12, output_tokens=7)                          # total_tokens = 19
```
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ._config import GenerateConfig, ResponseSchema
from ._content import (
    Content,
    ContentAudio,
    ContentData,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    content_kind,
)
from ._messages import ChatMessage, ChatMessageAssistant
from ._output import ModelOutput, ModelUsage
from ._server_tools import check_server_tools, server_tools_enabled
from ._tools import ToolCall, ToolChoice, ToolFunction
from .errors import ModelInputError

__all__ = [
    "chat_tool_choice",
    "add_turn",
    "assistant_parts",
    "check_server_tools",
    "config_values",
    "count",
    "decoded_tool_call",
    "FILE_ID",
    "GEMINI_FILE_URI",
    "MediaSource",
    "content_kind",
    "document_filename",
    "document_mime",
    "drop_config",
    "file_reference",
    "inline_files",
    "json_schema_format",
    "merge_deep",
    "output_from",
    "parse_arguments",
    "media_source",
    "parse_tool_call",
    "results_first",
    "sent_back",
    "server_tools_enabled",
    "usage",
    "usage_fields",
]

_logger = logging.getLogger("modelport")
_warned: set[tuple[str, str]] = set()

_MAX_SHOWN = 500


def parse_arguments(function: str, arguments: Any) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as a dict, and why they could not be read (else None).

    `arguments` may be a JSON text (as OpenAI-style APIs send it), an object already decoded,
    or empty (no arguments). Anything that is not a JSON object gives `{}` and a `parse_error`
    naming the function and quoting the start of what was received.
    """
    if arguments is None or arguments == "":
        return {}, None
    if isinstance(arguments, dict):
        return arguments, None
    what = f"the arguments of {function!r}"
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}, None
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError) as ex:
            return {}, f"{what} are not valid JSON ({ex}): {arguments[:_MAX_SHOWN]!r}"
        if isinstance(parsed, dict):
            return parsed, None
        return {}, f"{what} are a JSON {type(parsed).__name__}, not an object: " + repr(
            arguments[:_MAX_SHOWN]
        )
    return {}, f"{what} are a {type(arguments).__name__}, not a JSON object"


def parse_tool_call(id: str, function: str, arguments: Any, **fields: Any) -> ToolCall:
    """A `ToolCall` whose arguments are read by `parse_arguments` (`parse_error` set when they
    are not a JSON object). Extra `fields` (e.g. `type`) are passed to `ToolCall`."""
    args, problem = parse_arguments(function, arguments)
    return ToolCall(id=id, function=function, arguments=args, parse_error=problem, **fields)


def chat_tool_choice(choice: ToolChoice, values: Mapping[str, Any]) -> Any:
    """A chat-completions `tool_choice` (OpenAI's dialect, also Mistral's): a named function
    as `{"type": "function", "function": {"name": ...}}`, else `values[choice]` (the API's
    word for "auto", "any" or "none")."""
    if isinstance(choice, ToolFunction):
        return {"type": "function", "function": {"name": choice.name}}
    return values[choice]


def json_schema_format(schema: ResponseSchema) -> dict[str, Any]:
    """A response schema as OpenAI's dialect sends it: `name` and `schema`, with
    `description` and `strict` when set."""
    spec: dict[str, Any] = {"name": schema.name, "schema": schema.json_schema}
    if schema.description is not None:
        spec["description"] = schema.description
    if schema.strict is not None:
        spec["strict"] = schema.strict
    return spec


def config_values(config: GenerateConfig, names: Mapping[str, str]) -> dict[str, Any]:
    """The `GenerateConfig` fields among `names` that `config` sets (not None), each under its
    name on the wire (`names` maps field to wire name), in the order of `names`."""
    values = config.__dict__  # a plain loop over the fields' dict: this runs on every call
    found: dict[str, Any] = {}
    for field, wire in names.items():
        value = values[field]
        if value is not None:
            found[wire] = value
    return found


def sent_back(
    part: ContentToolUse | ContentData, provider: str, is_use: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The raw blocks that send a provider-side tool's part back to the provider that gave it:
    a `ContentData`'s `data` when its `internal` names `provider`, a `ContentToolUse`'s
    `internal` blocks when the first is one of this provider's tool uses (`is_use`); none for
    a part another provider gave."""
    if isinstance(part, ContentData):
        return [part.data] if part.internal == provider else []
    internal = part.internal
    blocks = [b for b in internal if isinstance(b, dict)] if isinstance(internal, list) else []
    return [dict(b) for b in blocks] if blocks and is_use(blocks[0]) else []


def decoded_tool_call(id: str, function: str, arguments: Any) -> dict[str, Any]:
    """A tool call (a dict, for `ModelOutput` validation) of an API that sends its input as a
    decoded JSON value (Anthropic, Converse): anything but an object is `parse_error`."""
    call: dict[str, Any] = {"id": id, "function": function, "arguments": {}}
    if isinstance(arguments, dict):
        call["arguments"] = arguments
    else:
        shown = " ".join(json.dumps(arguments).split())
        shown = shown if len(shown) <= 100 else shown[:97] + "..."
        call["parse_error"] = f"tool input is not a JSON object: {shown}"
    return call


def add_turn(turns: list[dict[str, Any]], role: str, blocks: list[Any]) -> None:
    """Add `blocks` as a `{"role", "content"}` turn, or to the last turn when it has the same
    role (for APIs whose turns alternate); nothing when `blocks` is empty."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def results_first(turns: list[dict[str, Any]], is_result: Callable[[Any], bool]) -> None:
    """Move the tool results of each user turn to its start (APIs that want the answer to a
    tool call to open the turn), keeping their order and that of the rest."""
    for turn in turns:
        content = turn["content"]
        if turn["role"] == "user" and any(is_result(b) for b in content[1:]):
            content.sort(key=lambda b: not is_result(b))


def assistant_parts(
    message: ChatMessageAssistant, with_reasoning: bool
) -> tuple[list[ContentReasoning], list[Content]]:
    """An assistant message's reasoning parts to send back (none unless `with_reasoning`;
    its `reasoning` text as one part when it has no parts), and its other content parts."""
    content = message.content
    if isinstance(content, str):
        parts: list[ContentReasoning] = []
        others: list[Content] = [ContentText(text=content)] if content else []
    else:
        parts = [c for c in content if isinstance(c, ContentReasoning)]
        others = [c for c in content if not isinstance(c, ContentReasoning)]
    if not with_reasoning:
        return [], others
    if not parts and message.reasoning:
        parts = [ContentReasoning(reasoning=message.reasoning)]
    return parts, others


def count(value: Any) -> int | None:
    """An optional token count read from a provider's usage: an int, or None when not given."""
    return int(value) if value is not None else None


def usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    **fields: int | None,
) -> ModelUsage:
    """A `ModelUsage`; `total_tokens` defaults to input + output when not given (or zero)."""
    return ModelUsage(**usage_fields(input_tokens, output_tokens, total_tokens, **fields))


_validate_output: Callable[[Any], ModelOutput] | None = None


def output_from(fields: dict[str, Any]) -> ModelOutput:
    """`ModelOutput.model_validate(fields)`, through pydantic-core's validator directly: the
    way a translation that builds its whole output as one dict validates it, once (the type of
    every field is checked; a field of the wrong type is a `pydantic.ValidationError`, which
    the shell turns into an `InvalidResponseError`)."""
    global _validate_output
    if _validate_output is None:
        ModelOutput.model_rebuild()  # built on first use (`defer_build`)
        _validate_output = ModelOutput.__pydantic_validator__.validate_python
    return _validate_output(fields)


def usage_fields(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    **fields: int | None,
) -> dict[str, Any]:
    """The fields of `usage(...)` as a dict (the counts given, None ones left out), for a
    translation that validates its whole output at once: `ModelOutput.model_validate` of a
    dict holding it costs less than building the `ModelUsage` first."""
    inp = int(input_tokens or 0)
    out = int(output_tokens or 0)
    found: dict[str, Any] = {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": int(total_tokens or 0) or inp + out,
    }
    for name, value in fields.items():
        if value is not None:
            found[name] = value
    return found


def merge_deep(target: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `extra` into `target` (and return it): objects merge key by key, at any depth;
    any other value (a list, a string, None) replaces what was there.

    This is how `GenerateConfig.extra_body` is applied to every provider's request body.
    """
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            target[key] = merge_deep(dict(current), value)  # a copy: never the caller's dict
        elif isinstance(value, Mapping):
            target[key] = merge_deep({}, value)
        else:
            target[key] = value
    return target


def drop_config(config: GenerateConfig, fields: Iterable[str], provider: str) -> GenerateConfig:
    """`config` without those of `fields` it sets, each logged once per provider and field per
    process (a warning on the `modelport` logger): the config policy for a field a provider
    cannot honour. Portable code keeps running; nothing is raised."""
    dropped = [name for name in fields if getattr(config, name) is not None]
    if not dropped:
        return config
    for name in dropped:
        if (provider, name) not in _warned:
            _warned.add((provider, name))
            _logger.warning(
                "%s does not support the config field %r: it is not sent", provider or "?", name
            )
    return config.model_copy(update=dict.fromkeys(dropped))


_URL = re.compile(r"^(data:|[A-Za-z][A-Za-z0-9+.-]*://)")
_DEFAULT_MIME = {"image": "image/png", "video": "video/mp4"}
_AUDIO_MIME = {"mp3": "audio/mpeg", "wav": "audio/wav"}


def inline_files(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with each image, document, audio or video part that names a local file read
    into a base64 data URL (the mime type from the file's extension; a document keeps the
    file's name as its `filename` and its type as its `mime_type`, unless they are set); a URL
    of any scheme (`data:`, `https://`, `s3://`, `gs://`...) and a path that is no file are
    left as they are. The one helper here that does I/O: it reads those files."""
    out: list[ChatMessage] | None = None
    for i, m in enumerate(messages):
        if isinstance(m.content, str):
            continue
        parts: list[Content] | None = None
        for j, c in enumerate(m.content):
            new = _inline(c)
            if new is not c:
                if parts is None:
                    parts = list(m.content)
                parts[j] = new
        if parts is not None:
            if out is None:
                out = list(messages)
            out[i] = m.model_copy(update={"content": parts})
    return out if out is not None else list(messages)


def _inline(c: Content) -> Content:
    if isinstance(c, ContentImage) and _local(c.image):
        return c.model_copy(update={"image": _data_url(c.image, _DEFAULT_MIME["image"])})
    if isinstance(c, ContentAudio) and _local(c.audio):
        default = _AUDIO_MIME.get(c.format, "audio/wav")
        return c.model_copy(update={"audio": _data_url(c.audio, default)})
    if isinstance(c, ContentVideo) and _local(c.video):
        return c.model_copy(update={"video": _data_url(c.video, _DEFAULT_MIME["video"])})
    if isinstance(c, ContentDocument) and _local(c.document):
        mime = document_mime(c)
        return c.model_copy(
            update={
                "document": _data_url(c.document, mime),
                "mime_type": mime,
                "filename": c.filename or os.path.basename(c.document),
            }
        )
    return c


def _local(value: str) -> bool:
    return not _URL.match(value) and os.path.isfile(value)


def _data_url(path: str, default_mime: str) -> str:
    mime = mimetypes.guess_type(path)[0] or default_mime
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f"data:{mime};base64,{data}"


# -- media sources and provider file references ---------------------------------------------

GEMINI_FILE_URI = re.compile(
    r"^https://generativelanguage\.googleapis\.com/(v1[a-z0-9]*/)?files/[A-Za-z0-9_-]+$"
)
"""A file uploaded to the Gemini API's Files API (`.../v1beta/files/<id>`)."""

FILE_ID = re.compile(r"^file[-_][A-Za-z0-9_-]{3,}$")
"""A file id of OpenAI's (`file-...`) or Anthropic's (`file_...`) Files API."""


class MediaSource(NamedTuple):
    """Where a media part's bytes are: exactly one of `data`, `url` and `file_id` is set."""

    mime_type: str | None
    """The media type: the data URL's, or guessed from a URL's path (None when unknown)."""

    data: str | None = None
    """The base64 data of a data URL."""

    url: str | None = None
    """A URL (any scheme: `https://`, `gs://`, `s3://`...), for the provider to fetch or
    resolve."""

    file_id: str | None = None
    """A provider's file id (`file-...`, `file_...`): a reference, never fetched."""


def file_reference(value: str) -> str | None:
    """What kind of provider file reference `value` is: "gemini" for a Gemini Files API URI
    or a `gs://` object, "file_id" for an OpenAI or Anthropic file id, else None. A provider
    sends such a reference as a reference (never fetched, never read as a path)."""
    if value.startswith("gs://") or GEMINI_FILE_URI.match(value):
        return "gemini"
    if FILE_ID.match(value) and not os.path.exists(value):
        return "file_id"
    return None


def media_source(value: str, mime_type: str | None = None) -> MediaSource:
    """Read a media part's value (a data URL, a URL or a file id; local files are read into
    data URLs beforehand by `inline_files`). `mime_type`, when given, wins over the data URL's
    and the guess.

    Raises:
        ModelInputError: a data URL that is not base64, or a value that is none of these.
    """
    if value.startswith("data:"):
        header, sep, data = value.partition(",")
        meta = header[5:].split(";")
        if not sep or not any(m.strip().lower() == "base64" for m in meta[1:]):
            raise ModelInputError(
                f"a data URL must be 'data:<media type>;base64,<data>' (got {header[:40]!r})"
            )
        return MediaSource(mime_type or meta[0].strip().lower() or None, data=data)
    if _URL.match(value):
        guessed = mimetypes.guess_type(value.split("?", 1)[0])[0]
        return MediaSource(mime_type or guessed, url=value)
    if file_reference(value) == "file_id":
        return MediaSource(mime_type, file_id=value)
    raise ModelInputError(
        f"{value[:60]!r} is neither a data URL, a URL, a provider file id nor a readable file"
    )


def document_mime(document: ContentDocument) -> str:
    """A document's media type: its `mime_type`, else its data URL's, else guessed from its
    file name or path, else `application/pdf`."""
    if document.mime_type:
        return document.mime_type
    value = document.document
    if value.startswith("data:"):
        mime = value[5:].partition(",")[0].split(";")[0].strip().lower()
        if mime:
            return mime
    for name in (document.filename, value.split("?", 1)[0]):
        if name:
            guessed = mimetypes.guess_type(name)[0]
            if guessed:
                return guessed
    return "application/pdf"


def document_filename(document: ContentDocument) -> str:
    """A document's file name: its `filename`, else the last segment of its path or URL,
    else `document` with the extension of its media type."""
    if document.filename:
        return document.filename
    value = document.document
    if not value.startswith("data:"):
        name = value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if name and "." in name:
            return name
    extension = mimetypes.guess_extension(document_mime(document)) or ""
    return f"document{extension}"
