"""Content parts of chat messages: text, images, audio, video and reasoning."""

from __future__ import annotations

from typing import Annotated, Literal

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


Content = Annotated[
    ContentText | ContentReasoning | ContentImage | ContentAudio | ContentVideo,
    Field(discriminator="type"),
]
"""Content sent to or received from a model, discriminated on `type`."""
