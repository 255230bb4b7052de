"""Local files in messages read into base64 data URLs (Converse takes bytes or S3 URIs)."""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Sequence

from modelport import ChatMessage, Content, ContentImage, ContentVideo

__all__ = ["inline_files"]


def inline_files(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with the images, documents and videos that name a local file read into
    base64 data URLs (anything else is left as it is)."""
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


def _local(path: str) -> bool:
    return not path.startswith(("data:", "s3://", "http://", "https://")) and os.path.isfile(path)


def _inline(c: Content) -> Content:
    if isinstance(c, ContentImage) and _local(c.image):
        return c.model_copy(update={"image": _data_url(c.image, "image/png")})
    if isinstance(c, ContentVideo) and _local(c.video):
        return c.model_copy(update={"video": _data_url(c.video, "video/mp4")})
    return c


def _data_url(path: str, default_mime: str) -> str:
    mime = mimetypes.guess_type(path)[0] or default_mime
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f"data:{mime};base64,{data}"
