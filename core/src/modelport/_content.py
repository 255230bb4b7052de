"""Content parts of chat messages: text, images, documents, audio, video and reasoning, and
what provider-side tools did (`ContentToolUse`, `ContentData`), with citations."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class ContentBase(BaseModel):
    """Base class for content parts."""

    model_config = ConfigDict(defer_build=True)

    internal: JsonValue | None = None
    """The provider's own data for this part (e.g. the id of a reasoning item), kept so the
    part is sent back to that provider as it came; other providers ignore it."""


class CitationBase(BaseModel):
    """Base class for citations: where a piece of text comes from."""

    model_config = ConfigDict(defer_build=True)

    cited_text: str | tuple[int, int] | None = None
    """The cited text, or its start and end offsets in the source."""

    title: str | None = None
    """Title of the cited source."""

    internal: dict[str, JsonValue] | None = None
    """The provider's own data for the citation (its raw form), for sending it back."""


class ContentCitation(CitationBase):
    """A citation of content the provider gives no address for."""

    type: Literal["content"] = "content"
    """Type."""


class DocumentRange(BaseModel):
    """A range of a document: blocks, pages or characters, 0-based, end exclusive."""

    model_config = ConfigDict(defer_build=True)

    type: Literal["block", "page", "char"]
    """What the indices count."""

    start_index: int
    """Start of the range (0-based)."""

    end_index: int
    """End of the range."""


class DocumentCitation(CitationBase):
    """A citation of a part of a document given in the input."""

    type: Literal["document"] = "document"
    """Type."""

    range: DocumentRange | None = None
    """The part of the document cited."""


class UrlCitation(CitationBase):
    """A citation of a web page (e.g. found by a web search)."""

    type: Literal["url"] = "url"
    """Type."""

    url: str
    """Address of the cited page."""


Citation = Annotated[ContentCitation | DocumentCitation | UrlCitation, Field(discriminator="type")]
"""A citation, discriminated on `type`."""


class ContentText(ContentBase):
    """Text content."""

    type: Literal["text"] = "text"
    """Type."""

    text: str
    """Text content."""

    citations: list[Citation] | None = None
    """Sources the text cites (given by providers that cite, e.g. after a web search)."""


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


class ContentToolUse(ContentBase):
    """A tool the provider ran itself (a web search, code execution, URL fetch...), and its
    result: part of an assistant message, sent back to the same provider on later turns (the
    raw blocks are kept in `internal`)."""

    type: Literal["tool_use"] = "tool_use"
    """Type."""

    tool_type: str
    """Kind of tool: "web_search", "code_execution", "url_context", "web_fetch",
    "computer_use", "mcp_call", or the provider's own name for another."""

    id: str
    """The provider's id of the tool use."""

    name: str
    """Name of the tool (as the provider calls it)."""

    context: str | None = None
    """Where the tool ran (e.g. an MCP server), if any."""

    arguments: str = ""
    """What the tool was given (JSON text: a search query, code to run)."""

    result: str = ""
    """What the tool gave back (JSON text), when the provider returns it."""

    error: str | None = None
    """The tool's error, if it failed."""


class ContentData(ContentBase):
    """Provider data with no portable form (e.g. a search's grounding metadata), kept as it
    came so it can be sent back to the same provider; other providers ignore it."""

    type: Literal["data"] = "data"
    """Type."""

    data: dict[str, Any]
    """The provider's payload (JSON)."""


Content = Annotated[
    ContentText
    | ContentReasoning
    | ContentImage
    | ContentDocument
    | ContentAudio
    | ContentVideo
    | ContentToolUse
    | ContentData,
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
