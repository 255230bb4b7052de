"""AWS's binary event-stream framing (`application/vnd.amazon.eventstream`), decoded without
I/O, every checksum checked: what ConverseStream answers with.

Each message: total length (4 bytes, big-endian), headers length (4 bytes), the CRC32 of
those 8 bytes, the headers, the payload, and the CRC32 of everything before it. A header is
its name's length (1 byte), the name, a value type (1 byte) and the value. `EventStreamDecoder`
takes bytes as they arrive and gives whole messages; `decode_events` reads a whole recorded
body into its events.
"""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import attrs

__all__ = [
    "EventStreamDecoder",
    "EventStreamError",
    "Message",
    "decode_events",
    "decode_messages",
]

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
_MIN_LENGTH = 16  # prelude (8) + its CRC (4) + the message CRC (4)
MAX_MESSAGE = 24 * 1024 * 1024
"""The largest message accepted (AWS's own decoders refuse more than 16 MiB)."""


class EventStreamError(ValueError):
    """The bytes are not a valid event stream: a bad checksum, a length out of range, a
    truncated message, an unknown header type, or an exception message from the server."""


@attrs.frozen
class Message:
    """One event-stream message: its headers and payload."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def message_type(self) -> str | None:
        """`:message-type`: `event`, `exception` or `error`."""
        value = self.headers.get(":message-type")
        return value if isinstance(value, str) else None

    @property
    def event_type(self) -> str | None:
        """`:event-type` (e.g. `contentBlockDelta`), or `:exception-type` for an exception."""
        value = self.headers.get(":event-type") or self.headers.get(":exception-type")
        return value if isinstance(value, str) else None

    def json(self) -> Any:
        """The payload, parsed as JSON."""
        return json.loads(self.payload) if self.payload else {}


def _headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    at = 0
    try:
        while at < len(data):
            size = data[at]
            name = data[at + 1 : at + 1 + size].decode("utf-8")
            at += 1 + size
            kind = data[at]
            at += 1
            value: Any
            if kind in (0, 1):
                value = kind == 0
            elif kind == 2:
                (value,) = struct.unpack_from(">b", data, at)
                at += 1
            elif kind == 3:
                (value,) = struct.unpack_from(">h", data, at)
                at += 2
            elif kind == 4:
                (value,) = struct.unpack_from(">i", data, at)
                at += 4
            elif kind in (5, 8):  # a long, or a timestamp in milliseconds
                (value,) = struct.unpack_from(">q", data, at)
                at += 8
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, at)
                raw = data[at + 2 : at + 2 + length]
                if len(raw) != length:
                    raise EventStreamError(f"header {name!r} is cut short")
                value = raw.decode("utf-8") if kind == 7 else bytes(raw)
                at += 2 + length
            elif kind == 9:
                value = uuid.UUID(bytes=bytes(data[at : at + 16]))
                at += 16
            else:
                raise EventStreamError(f"header {name!r} has an unknown value type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as ex:
        if isinstance(ex, EventStreamError):
            raise
        raise EventStreamError(f"malformed headers: {type(ex).__name__}: {ex}") from None
    return headers


class EventStreamDecoder:
    """Decodes an event stream fed in pieces of any size: `feed` returns the messages
    completed so far; `close` checks that nothing is left over."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """Add `data`; return every message it completes.

        Raises:
            EventStreamError: a checksum does not match, or a length is out of range.
        """
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= 12:
            total, header_length = _PRELUDE.unpack_from(self._buffer)
            (prelude_crc,) = _CRC.unpack_from(self._buffer, 8)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("the prelude's checksum does not match")
            if total < _MIN_LENGTH or total > MAX_MESSAGE or header_length > total - _MIN_LENGTH:
                raise EventStreamError(
                    f"a message of {total} bytes with {header_length} bytes of headers"
                )
            if len(self._buffer) < total:
                break
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = _CRC.unpack_from(message, total - 4)
            if zlib.crc32(message[: total - 4]) != message_crc:
                raise EventStreamError("the message's checksum does not match")
            headers = _headers(message[12 : 12 + header_length])
            messages.append(Message(headers, message[12 + header_length : total - 4]))
        return messages

    def close(self) -> None:
        """Raise `EventStreamError` when a message was left incomplete."""
        if self._buffer:
            raise EventStreamError(f"the stream ends inside a message ({len(self._buffer)} bytes)")


def decode_messages(data: bytes) -> list[Message]:
    """Every message of a whole event stream."""
    decoder = EventStreamDecoder()
    messages = decoder.feed(data)
    decoder.close()
    return messages


def _events(messages: list[Message]) -> Iterator[tuple[str, Any]]:
    for message in messages:
        kind = message.message_type
        if kind in ("exception", "error"):
            detail = message.headers.get(":error-message") or message.payload.decode(
                "utf-8", errors="replace"
            )
            raise EventStreamError(f"{message.event_type or kind}: {detail}")
        if kind == "event" and message.event_type:
            payload = message.json()
            if isinstance(payload, dict):
                payload.pop("p", None)  # padding that hides the payload's length
            yield message.event_type, payload


def decode_events(data: bytes) -> list[tuple[str, Any]]:
    """The `(event type, JSON payload)` of each event of a whole event stream (the padding
    field `p` removed).

    Raises:
        EventStreamError: malformed framing, or an exception message (e.g. a
            `throttlingException` in mid-stream), whose type and message it names.
    """
    return list(_events(decode_messages(data)))
