"""The media helpers of `modelport.wire`: local files read at send time (documents too),
media sources read from data URLs, URLs and provider file ids, documents' types and names."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from modelport import (
    ChatMessageTool,
    ChatMessageUser,
    ContentDocument,
    ContentImage,
    ContentText,
)
from modelport.errors import ModelInputError
from modelport.wire import (
    MediaSource,
    document_filename,
    document_mime,
    file_reference,
    inline_files,
    media_source,
)


def test_a_local_document_is_read_with_its_name_and_type(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_bytes(b"a,b\n1,2\n")
    message = ChatMessageTool(
        content=[ContentText(text="data"), ContentDocument(document=str(path), title="T")],
        tool_call_id="c1",
    )
    [sent] = inline_files([message])
    assert isinstance(sent.content, list)
    doc = sent.content[1]
    assert isinstance(doc, ContentDocument)
    assert doc.document == "data:text/csv;base64," + base64.b64encode(b"a,b\n1,2\n").decode()
    assert (doc.mime_type, doc.filename, doc.title) == ("text/csv", "notes.csv", "T")
    assert message.content[1] == ContentDocument(document=str(path), title="T")  # not changed


def test_a_given_name_and_type_are_kept_and_urls_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"%PDF-1.4")
    given = ContentDocument(document=str(path), mime_type="application/pdf", filename="r.pdf")
    url = ContentDocument(document="https://example.com/r.pdf")
    [sent] = inline_files([ChatMessageUser(content=[given, url])])
    assert isinstance(sent.content, list)
    doc, kept = sent.content
    assert isinstance(doc, ContentDocument)
    assert doc.document.startswith("data:application/pdf;base64,")
    assert (doc.mime_type, doc.filename) == ("application/pdf", "r.pdf")
    assert kept is url


def test_media_sources() -> None:
    assert media_source("data:application/pdf;base64,JVBE") == MediaSource(
        "application/pdf", data="JVBE"
    )
    assert media_source("data:image/png;charset=x;base64,iVBO", "image/webp") == MediaSource(
        "image/webp", data="iVBO"
    )
    assert media_source("https://example.com/a.pdf?x=1") == MediaSource(
        "application/pdf", url="https://example.com/a.pdf?x=1"
    )
    assert media_source("gs://bucket/clip.mp4") == MediaSource(
        "video/mp4", url="gs://bucket/clip.mp4"
    )
    assert media_source("file-7qh8AjzrjyRGiQ7kaFybfG") == MediaSource(
        None, file_id="file-7qh8AjzrjyRGiQ7kaFybfG"
    )
    for bad in ("data:application/pdf,raw", "no such file.pdf", ""):
        with pytest.raises(ModelInputError):
            media_source(bad)


def test_provider_file_references() -> None:
    assert file_reference("https://generativelanguage.googleapis.com/v1beta/files/abc-1") == (
        "gemini"
    )
    assert file_reference("gs://bucket/object.pdf") == "gemini"
    assert file_reference("file-abc123") == "file_id"
    assert file_reference("file_011CNha8iCJcU1wXNR6q4V8w") == "file_id"
    for other in ("https://example.com/files/abc", "file", "report.pdf", "data:,x"):
        assert file_reference(other) is None


def test_a_local_file_named_like_a_file_id_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("file-abc123").write_bytes(b"x")
    assert file_reference("file-abc123") is None
    [sent] = inline_files([ChatMessageUser(content=[ContentImage(image="file-abc123")])])
    assert isinstance(sent.content, list)
    image = sent.content[0]
    assert isinstance(image, ContentImage) and image.image.startswith("data:")


def test_document_types_and_names() -> None:
    assert document_mime(ContentDocument(document="data:text/plain;base64,aGk=")) == "text/plain"
    assert document_mime(ContentDocument(document="https://x.org/a.docx")) == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert document_mime(ContentDocument(document="file-abc123")) == "application/pdf"
    assert document_mime(ContentDocument(document="x", mime_type="text/html")) == "text/html"
    assert document_filename(ContentDocument(document="https://x.org/dir/a.pdf?dl=1")) == "a.pdf"
    assert document_filename(ContentDocument(document="data:text/csv;base64,YQ==")) == (
        "document.csv"
    )
    assert document_filename(ContentDocument(document="x", filename="given.pdf")) == "given.pdf"
