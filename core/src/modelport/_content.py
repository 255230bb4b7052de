"""Content parts of chat messages: text, images, documents, audio, video and reasoning."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field


class ContentBase(BaseModel):
    """Base class for content parts."""

    model_config = ConfigDict(defer_build=True)


class ContentText(ContentBase):
    """Text content."""

    type: Literal["text"] = "text"
    """Type."""

    text: str
    """Text content."""


class ContentReasoning(ContentBase):
    """Reasoning (thinking) content returned by models that reason before answering."""

    type: Literal["reasoning"] = "reasoning"
    """Type."""

    reasoning: str
    """Reasoning text (empty or opaque when `redacted`)."""

    signature: str | None = None
    """Signature the provider needs to verify the reasoning when it is replayed."""

    redacted: bool = False
    """The reasoning was redacted by the provider; `reasoning` holds its opaque form."""


class ContentImage(ContentBase):
    """Image content."""

    type: Literal["image"] = "image"
    """Type."""

    image: str
    """Either a URL of the image or the base64 encoded image data (a data URL)."""

    detail: Literal["auto", "low", "high"] = "auto"
    """Specifies the detail level of the image (used by providers that support it)."""


class ContentAudio(ContentBase):
    """Audio content."""

    type: Literal["audio"] = "audio"
    """Type."""

    audio: str
    """Audio file path or base64 encoded data URL."""

    format: Literal["wav", "mp3"]
    """Format of audio data ('mp3' or 'wav')."""


class ContentVideo(ContentBase):
    """Video content."""

    type: Literal["video"] = "video"
    """Type."""

    video: str
    """Video file path or base64 encoded data URL."""

    format: Literal["mp4", "mpeg", "mov"]
    """Format of video data ('mp4', 'mpeg', or 'mov')."""


class ContentDocument(ContentBase):
    """Document content: a PDF or other document, sent to providers that accept documents.

    ```python
    ContentDocument(document="report.pdf")                      # a local file, read when sent
    ContentDocument(document="https://example.com/paper.pdf")   # a URL
    ContentDocument(document="data:application/pdf;base64,...", title="Q3 report")
    ```
    """

    type: Literal["document"] = "document"
    """Type."""

    document: str
    """A URL of the document, a base64 data URL, or a local file path."""

    mime_type: str | None = None
    """The document's media type (e.g. `application/pdf`); when None, taken from the data URL
    or guessed from the file name."""

    filename: str | None = None
    """The document's file name, for providers that take one (defaults to the path's name)."""

    title: str | None = None
    """A title for the document, for providers that take one."""


Content = Annotated[
    ContentText | ContentReasoning | ContentImage | ContentDocument | ContentAudio | ContentVideo,
    Field(discriminator="type"),
]
"""Content sent to or received from a model, discriminated on `type`."""


ContentKind = Literal["text", "image", "document", "audio", "video"]
"""The kinds of input content a provider may accept (reasoning is the model's own and always
accepted: a provider that cannot replay it sends it as text)."""

CONTENT_KINDS: tuple[ContentKind, ...] = get_args(ContentKind)
"""Every `ContentKind`, in the order the docs show them."""


def content_kind(part: ContentBase) -> str:
    """The kind of input `part` is, for checking it against what a provider accepts: its
    `type`, except that a `ContentImage` holding a data URL of a non-image media type (a PDF,
    the workaround from before `ContentDocument`) is a "document"."""
    kind: str = getattr(part, "type", "")
    if kind == "image":
        image: str = getattr(part, "image", "")
        if image.startswith("data:") and image[5:11].lower() != "image/":
            return "document"
    return kind
