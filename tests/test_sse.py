"""`SSEParser`: the events of a `text/event-stream` body, however the network cuts it."""

from __future__ import annotations

import pytest

from modelport import SSEParser

BODY = (
    b": a comment\r\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\r\ndata: line two\r\n\r\n"
    b"id: 7\r\nevent: ping\r\ndata:\r\n\r\n"
    b"data: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\r\n\r\n"
)
EVENTS = [
    ("message_start", '{"a": 1}'),
    (None, "line one\nline two"),
    ("ping", ""),
    (None, "café 日本"),
]


def _parse(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    """As `StreamingResponse.events` reads: a last event still pending when the body ends
    (a lone CR at the end may yet be half a CRLF) is completed then."""
    parser = SSEParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    if parser.pending().strip():
        events += parser.feed(b"\n\n")
    assert parser.pending().strip() == b""
    return events


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_every_cut_of_the_body_gives_the_same_events(newline: bytes) -> None:
    """Cut in two at every byte, CRLF split between reads included (a CR ending one read is
    not a line break of its own), and multi-byte characters split: the same events."""
    body = BODY.replace(b"\r\n", newline)
    assert _parse([body]) == EVENTS
    for cut in range(1, len(body)):
        assert _parse([body[:cut], body[cut:]]) == EVENTS, cut


def test_a_body_read_a_byte_at_a_time_gives_the_same_events() -> None:
    assert _parse([BODY[i : i + 1] for i in range(len(BODY))]) == EVENTS


def test_a_large_event_in_many_reads_is_given_whole_with_what_is_pending_before() -> None:
    parser = SSEParser()
    data = b"data: " + b"x" * 100_000
    for i in range(0, len(data), 4096):
        assert parser.feed(data[i : i + 4096]) == []
    assert parser.pending() == data
    assert parser.feed(b"\n\n") == [(None, "x" * 100_000)]
    assert parser.pending() == b""
