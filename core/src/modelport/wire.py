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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._config import GenerateConfig
from ._content import Content, ContentAudio, ContentImage, ContentVideo
from ._messages import ChatMessage
from ._output import ModelUsage
from ._server_tools import check_server_tools, server_tools_enabled
from ._tools import ToolCall

__all__ = [
    "check_server_tools",
    "drop_config",
    "inline_files",
    "merge_deep",
    "parse_arguments",
    "parse_tool_call",
    "server_tools_enabled",
    "usage",
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


def usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    **fields: int | None,
) -> ModelUsage:
    """A `ModelUsage`; `total_tokens` defaults to input + output when not given (or zero)."""
    inp = int(input_tokens or 0)
    out = int(output_tokens or 0)
    return ModelUsage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=int(total_tokens or 0) or inp + out,
        **fields,
    )


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
    """`messages` with each image, audio or video part that names a local file read into a
    base64 data URL (the mime type from the file's extension); a URL of any scheme (`data:`,
    `https://`, `s3://`, `gs://`...) and a path that is no file are left as they are. The one
    helper here that does I/O: it reads those files."""
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
    return c


def _local(value: str) -> bool:
    return not _URL.match(value) and os.path.isfile(value)


def _data_url(path: str, default_mime: str) -> str:
    mime = mimetypes.guess_type(path)[0] or default_mime
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f"data:{mime};base64,{data}"
