"""AWS's event-stream framing: every recorded ConverseStream body decodes with its checksums
checked and adds up to a Converse answer; corrupt, cut and exception streams are refused."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from modelport_bedrock import EventStreamError, decode_events, decode_messages, from_wire
from modelport_bedrock._eventstream import EventStreamDecoder
from modelport_bedrock._wire import response_from_events

from modelport.testing import cassette_params, load_cassette, select

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "bedrock_converse.jsonl")
STREAMS = select(RECORDS, stream=True)


def body(record: dict[str, Any]) -> bytes:
    assert record["response_body_encoding"] == "base64"
    return base64.b64decode(record["response_body"])


def message(headers: dict[str, tuple[int, bytes]], payload: bytes) -> bytes:
    """An event-stream message (headers: name → (value type, encoded value))."""
    raw = b""
    for name, (kind, value) in headers.items():
        raw += bytes([len(name)]) + name.encode() + bytes([kind]) + value
    total = 16 + len(raw) + len(payload)
    prelude = struct.pack(">II", total, len(raw))
    out = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return out + struct.pack(">I", zlib.crc32(out))


def string(value: str) -> tuple[int, bytes]:
    data = value.encode()
    return 7, struct.pack(">H", len(data)) + data


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_decodes_and_adds_up_to_an_answer(record: dict[str, Any]) -> None:
    messages = decode_messages(body(record))
    assert all(m.message_type == "event" for m in messages)
    assert all(m.headers[":content-type"] == "application/json" for m in messages)
    events = decode_events(body(record))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "messageStart" and "messageStop" in kinds and kinds[-1] == "metadata"
    assert all("p" not in payload for _, payload in events)  # the padding is gone
    answer = response_from_events(events)
    out = from_wire(answer, record["model"])
    deltas = "".join(p["delta"].get("text", "") for k, p in events if k == "contentBlockDelta")
    assert out.completion == deltas
    stop = next(p for k, p in events if k == "messageStop")["stopReason"]
    assert out.metadata is not None and out.metadata["stopReason"] == stop
    usage = next(p for k, p in events if k == "metadata")["usage"]
    assert out.usage is not None and out.usage.total_tokens == usage["totalTokens"]


def test_fed_a_byte_at_a_time_it_gives_the_same_messages() -> None:
    data = body(STREAMS[0])
    decoder = EventStreamDecoder()
    pieces = [m for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    decoder.close()
    assert pieces == decode_messages(data)


def test_streamed_tool_calls_are_joined() -> None:
    outs = [from_wire(response_from_events(decode_events(body(r))), r["model"]) for r in STREAMS]
    calls = [c for o in outs for c in o.message.tool_calls or []]
    assert ("get_weather", {"location": "Barcelona"}) in [(c.function, c.arguments) for c in calls]
    assert sum(o.stop_reason == "tool_calls" for o in outs) == 5
    assert sum(bool(o.message.reasoning) for o in outs) == 1


@pytest.mark.parametrize("where", [0, 5, 9, 20, -10, -1])
def test_a_flipped_byte_is_caught_by_a_checksum(where: int) -> None:
    data = bytearray(body(STREAMS[0]))
    data[where] ^= 0x01
    with pytest.raises(EventStreamError):
        decode_messages(bytes(data))


def test_a_cut_stream_is_refused() -> None:
    data = body(STREAMS[0])
    with pytest.raises(EventStreamError, match="ends inside a message"):
        decode_messages(data[:-3])


def test_header_types_and_an_exception_message() -> None:
    headers = {
        ":message-type": string("exception"),
        ":exception-type": string("throttlingException"),
        ":content-type": string("application/json"),
        "flag": (0, b""),
        "count": (4, struct.pack(">i", -7)),
        "when": (8, struct.pack(">q", 1700000000000)),
        "blob": (6, struct.pack(">H", 3) + b"\x00\x01\x02"),
    }
    payload = json.dumps({"message": "Too many requests, please wait."}).encode()
    data = message(headers, payload)
    [decoded] = decode_messages(data)
    assert decoded.headers["flag"] is True and decoded.headers["count"] == -7
    assert decoded.headers["when"] == 1700000000000 and decoded.headers["blob"] == b"\x00\x01\x02"
    with pytest.raises(EventStreamError, match=r"throttlingException: .*Too many requests"):
        decode_events(data)


def test_an_unknown_header_type_and_a_bad_length_are_refused() -> None:
    with pytest.raises(EventStreamError, match="unknown value type"):
        decode_messages(message({"x": (42, b"")}, b"{}"))
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="8 bytes"):
        decode_messages(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 4)
