"""Checks and limits `Model.prepare` applies to everything a call sends, after normalising it.

- `check_sent`: every string sent (message parts, tool calls, tools, the config's strings and
  `extra_body`) must be valid UTF-8, and no number may be NaN or infinite (JSON has neither);
  otherwise `ModelInputError` before any request.
- `check_content`: every content part must be of a kind the provider accepts (its declared
  `supported_content`); otherwise `UnsupportedContentError` before any request.
- `limit_tool_output`: the text of tool results is cut to `GenerateConfig.max_tool_output`
  bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._config import GenerateConfig
from ._content import (
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
from ._messages import ChatMessageAssistant, ChatMessageBase, ChatMessageTool, ChatMessageUser
from ._tools import ToolInfo
from .errors import ModelInputError, UnsupportedContentError

DEFAULT_MAX_TOOL_OUTPUT = 16 * 1024
"""`GenerateConfig.max_tool_output` when it is None: 16 KiB."""

# -- strings and numbers ---------------------------------------------------------------------


def _bad_text(text: str) -> int | None:
    """The position of the first character that cannot be encoded as UTF-8, or None."""
    if text.isascii():  # O(1) in CPython
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as ex:
        return ex.start
    return None


def _problem(value: Any) -> bool:
    """Whether JSON-like `value` holds a string that is not UTF-8, a NaN/infinite float, or
    a value JSON has no form for (bytes, a date, a set, a Decimal, any object), anywhere (keys
    included). Iterative, so any depth is fine."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _bad_text(item) is not None:
                return True
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif item is not None and not isinstance(item, int):  # bool is an int
            return True
    return False


Where = str | tuple[object, ...]
"""Where a value is, for the error message: a string, or parts joined only on error (so a call
whose values are fine formats nothing)."""


def _place(where: Where) -> str:
    return where if isinstance(where, str) else "".join(map(str, where))


def _locate(value: Any, where: Where) -> ModelInputError:
    """The error for the first problem `_problem` would find in `value`, naming its path."""
    stack: list[tuple[Any, str]] = [(value, _place(where))]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            pos = _bad_text(item)
            if pos is not None:
                return ModelInputError(
                    f"{path} is not valid UTF-8 text (character at position {pos}); decode "
                    f"bytes with the right encoding before sending them"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                return ModelInputError(
                    f"{path} is {item!r}: NaN and infinite numbers cannot be sent (JSON has "
                    f"neither); use null or a finite number"
                )
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                stack.append((v, f"{path}[{k!r}]"))
                stack.append((k, f"{path} key {k!r}"))
        elif isinstance(item, (list, tuple)):
            for i in reversed(range(len(item))):
                stack.append((item[i], f"{path}[{i}]"))
        elif item is not None and not isinstance(item, int):
            return ModelInputError(
                f"{path} is a {type(item).__name__}, which JSON has no form for: give a str, "
                f"a number, a bool, None, a list or a dict"
            )
    return ModelInputError(f"{_place(where)} cannot be sent")  # pragma: no cover


def _check(value: Any, where: Where) -> None:
    if _problem(value):
        raise _locate(value, where)


def _check_str(text: str | None, where: Where) -> None:
    if text is not None and not text.isascii() and _bad_text(text) is not None:
        raise _locate(text, where)


def _check_message(m: ChatMessageBase, i: int) -> None:
    """The strings of message `i` other than its text (which `normalize_input` checked)."""
    content = m.content
    role = getattr(m, "role", "")
    if type(content) is not str:
        for j, part in enumerate(content):
            if isinstance(part, ContentText):
                continue
            if isinstance(part, ContentReasoning):
                _check_str(part.reasoning, ("message ", i, " (", role, ") part ", j, " reasoning"))
                _check_str(part.signature, ("message ", i, " (", role, ") part ", j, " signature"))
            elif isinstance(part, ContentImage):
                _check_str(part.image, ("message ", i, " (", role, ") part ", j, " image"))
            elif isinstance(part, ContentAudio):
                _check_str(part.audio, ("message ", i, " (", role, ") part ", j, " audio"))
            elif isinstance(part, ContentVideo):
                _check_str(part.video, ("message ", i, " (", role, ") part ", j, " video"))
            elif isinstance(part, ContentDocument):
                where = ("message ", i, " (", role, ") part ", j, " document")
                _check_str(part.document, where)
                _check_str(part.mime_type, (*where, " mime_type"))
                _check_str(part.filename, (*where, " filename"))
                _check_str(part.title, (*where, " title"))
    if isinstance(m, ChatMessageAssistant):
        _check_str(m.reasoning, ("message ", i, " (assistant) reasoning"))
        for k, call in enumerate(m.tool_calls or ()):
            _check_str(call.id, ("message ", i, " (assistant) tool call ", k, " id"))
            _check_str(call.function, ("message ", i, " (assistant) tool call ", k, " function"))
            _check(call.arguments, ("message ", i, " (assistant) tool call ", k, " arguments"))
    elif isinstance(m, ChatMessageTool):
        _check_str(m.tool_call_id, ("message ", i, " (tool) tool_call_id"))
        _check_str(m.function, ("message ", i, " (tool) function"))
        if m.error is not None:
            _check_str(m.error.message, ("message ", i, " (tool) error message"))
    elif isinstance(m, ChatMessageUser) and m.tool_call_id:
        _check(m.tool_call_id, ("message ", i, " (user) tool_call_id"))


def check_sent(
    messages: Sequence[ChatMessageBase], tools: Sequence[ToolInfo], config: GenerateConfig
) -> None:
    """Refuse a call that would send text that is not valid UTF-8 (lone surrogates from
    undecodable bytes) or a NaN/infinite number, anywhere: messages, tool calls, tools, and the
    config's `system_message`, `stop_seqs`, `response_schema` and `extra_body`.

    Raises:
        ModelInputError: naming where the bad value is (before any request is sent).
    """
    for i, m in enumerate(messages):
        _check_message(m, i)
    names: set[str] = set()
    for i, tool in enumerate(tools):
        name = f" ({tool.name!r})" if tool.name.isascii() else ""
        _check_str(tool.name, ("tool ", i, " name"))
        if not tool.name or any(c.isspace() or not c.isprintable() for c in tool.name):
            raise ModelInputError(
                f"tool {i} name {tool.name!r} is empty or has whitespace or control characters "
                "(providers take letters, digits, '_' and '-')"
            )
        if tool.name in names:
            raise ModelInputError(f"tool {i} name {tool.name!r} is given twice: names are unique")
        names.add(tool.name)
        _check_str(tool.description, ("tool ", i, name, " description"))
        params = tool.parameters
        _check(params.properties, ("tool ", i, name, " parameters properties"))
        _check(params.required, ("tool ", i, name, " parameters required"))
        if params.model_extra:
            _check(params.model_extra, ("tool ", i, name, " parameters"))
    _check_str(config.system_message, "config system_message")
    if config.stop_seqs:
        _check(config.stop_seqs, "config stop_seqs")
    if config.extra_body:
        _check(config.extra_body, "config extra_body")
    schema = config.response_schema
    if schema is not None:
        _check_str(schema.name, "config response_schema name")
        _check_str(schema.description, "config response_schema description")
        _check(schema.json_schema, "config response_schema json_schema")


# -- content kinds ---------------------------------------------------------------------------


def check_content(
    messages: Sequence[ChatMessageBase], accepted: frozenset[str], provider: str
) -> None:
    """Refuse content of a kind the provider does not accept (`accepted`, its declared
    `supported_content`; text, reasoning and what provider-side tools left always pass).

    Raises:
        UnsupportedContentError: naming the kind, the provider and the message.
    """
    for i, m in enumerate(messages):
        content = m.content
        if isinstance(content, str):
            continue
        for j, part in enumerate(content):
            if isinstance(part, ContentText | ContentReasoning | ContentToolUse | ContentData):
                continue  # text, or the model's own: a provider leaves out what is not its own
            kind = content_kind(part)
            if kind not in accepted:
                role = getattr(m, "role", "")
                raise UnsupportedContentError(kind, provider, f"message {i} ({role}) part {j}")


# -- tool output -----------------------------------------------------------------------------


def _note(shown: int, total: int) -> str:
    return f"\n[output truncated: {shown} of {total} bytes shown]"


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _cut(text: str, budget: int) -> str:
    """The longest prefix of `text` of at most `budget` bytes of UTF-8 (whole characters)."""
    if budget <= 0:
        return ""
    if text.isascii():
        return text[:budget]
    return text.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")


def _limit_texts(texts: list[str], limit: int) -> list[str] | None:
    """`texts` cut so that together with the note they fit in `limit` bytes (the note goes at
    the end of the last text kept); None when they fit as they are."""
    if sum(len(t) for t in texts) * 4 <= limit:  # at most 4 bytes per character
        return None
    sizes = [_utf8_size(t) for t in texts]
    total = sum(sizes)
    if total <= limit:
        return None
    budget = max(0, limit - len(_note(limit, total)))
    out: list[str] = []
    shown = 0
    for text, size in zip(texts, sizes, strict=True):
        if size <= budget - shown:
            out.append(text)
            shown += size
            continue
        part = _cut(text, budget - shown)
        shown += _utf8_size(part)
        out.append(part)
        break
    out[-1] += _note(shown, total)
    return out


def limit_tool_output(
    messages: list[ChatMessageBase], max_tool_output: int | None
) -> list[ChatMessageBase]:
    """`messages` with the text of each tool result (`ChatMessageTool`) cut to
    `max_tool_output` bytes of UTF-8 (default `DEFAULT_MAX_TOOL_OUTPUT`), at a character
    boundary, ending with a note: `[output truncated: N of M bytes shown]`.

    The note counts toward the limit (a limit smaller than the note leaves only the note).
    With list content, the text parts share the limit in order; text parts after the cut are
    dropped, other parts (images, ...) are kept. The messages given are not changed: a cut
    message is a copy.
    """
    limit = DEFAULT_MAX_TOOL_OUTPUT if max_tool_output is None else max_tool_output
    out = messages
    for i, m in enumerate(messages):
        if not isinstance(m, ChatMessageTool):
            continue
        content = m.content
        new: str | list[Any]
        if isinstance(content, str):
            cut = _limit_texts([content], limit)
            if cut is None:
                continue
            new = cut[0]
        else:
            texts = [p.text for p in content if isinstance(p, ContentText)]
            cut = _limit_texts(texts, limit)
            if cut is None:
                continue
            new, n = [], 0
            for part in content:
                if isinstance(part, ContentText):
                    if n < len(cut):
                        new.append(part.model_copy(update={"text": cut[n]}))
                    n += 1
                else:
                    new.append(part)
        if out is messages:
            out = list(messages)
        out[i] = m.model_copy(update={"content": new})
    return out
