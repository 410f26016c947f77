"""The AWS event-stream framing (application/vnd.amazon.eventstream), decoded as the bytes arrive.

SubscribeToShard answers with a stream of messages, each framed as: a prelude (total length,
headers length, both uint32 big-endian, and the CRC32 of those 8 bytes), the headers, the
payload, and the CRC32 of everything before it. The decoder keeps only the message being
received: it never holds the whole body.
"""

import datetime
import struct
import uuid
import zlib
from typing import Any, Dict, List, Tuple

PRELUDE = 12  # total length, headers length, prelude CRC
TRAILER = 4  # message CRC
MAX_MESSAGE = 16 * 1024 * 1024  # AWS's own limit on one message
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_PRELUDE = struct.Struct(">III")
# the fixed-size header values: byte, short, int, long, timestamp (milliseconds)
_FIXED = {kind: struct.Struct(">" + code) for kind, code in ((2, "b"), (3, "h"), (4, "i"), (5, "q"), (8, "q"))}
_LENGTH = struct.Struct(">H")


class EventStreamError(ValueError):
    """The bytes are not a well-formed event stream: a CRC that does not match, a bad length or header, a cut message."""


class Message:
    """One event-stream message: its headers (name -> value) and its payload bytes."""

    __slots__ = ("headers", "payload")

    def __init__(self, headers: Dict[str, Any], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload

    def __repr__(self) -> str:
        return "Message(%r, %d payload bytes)" % (self.headers, len(self.payload))


def _value(data: bytes, at: int, kind: int) -> Tuple[Any, int]:
    """The header value of type `kind` at `at`, and the offset after it."""
    if kind == 0:
        return True, at
    if kind == 1:
        return False, at
    fixed = _FIXED.get(kind)
    if fixed is not None:
        end = at + fixed.size
        if end > len(data):
            raise EventStreamError("header value runs past the headers")
        number = fixed.unpack_from(data, at)[0]
        if kind == 8:  # milliseconds since the epoch
            try:
                return EPOCH + datetime.timedelta(milliseconds=number), end
            except OverflowError:
                raise EventStreamError("timestamp header out of range: %d ms" % number) from None
        return number, end
    if kind in (6, 7):
        if at + 2 > len(data):
            raise EventStreamError("header value runs past the headers")
        end = at + 2 + _LENGTH.unpack_from(data, at)[0]
        if end > len(data):
            raise EventStreamError("header value runs past the headers")
        raw = bytes(data[at + 2 : end])
        if kind == 6:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            raise EventStreamError("string header is not UTF-8") from None
    if kind == 9:
        end = at + 16
        if end > len(data):
            raise EventStreamError("header value runs past the headers")
        return uuid.UUID(bytes=bytes(data[at:end])), end
    raise EventStreamError("unknown header value type %d" % kind)


def decode_headers(data: bytes) -> Dict[str, Any]:
    """The headers block of a message as a dict: name (1-byte length, UTF-8), type byte, value."""
    headers: Dict[str, Any] = {}
    at = 0
    while at < len(data):
        end = at + 1 + data[at]
        if end + 1 > len(data):
            raise EventStreamError("header name runs past the headers")
        try:
            name = bytes(data[at + 1 : end]).decode("utf-8")
        except UnicodeDecodeError:
            raise EventStreamError("header name is not UTF-8") from None
        headers[name], at = _value(data, end + 1, data[end])
    return headers


class Decoder:
    """Feed it the body's chunks as they arrive; it hands back each message once it is whole and its CRCs check."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._need = PRELUDE  # bytes the message being received has in all, once the prelude is read

    def feed(self, chunk: bytes) -> List[Message]:
        """The messages completed by `chunk` (maybe none); raises EventStreamError on a bad message."""
        self._buffer += chunk
        messages = []
        while len(self._buffer) >= self._need:
            if self._need == PRELUDE:
                self._need = self._prelude()
                continue
            messages.append(self._message())
        return messages

    def end(self) -> None:
        """Say the body is over: raises EventStreamError if a message was cut short."""
        if self._buffer:
            raise EventStreamError("the stream ended inside a message (%d bytes of it received)" % len(self._buffer))

    def _prelude(self) -> int:
        total, headers, crc = _PRELUDE.unpack_from(self._buffer, 0)
        if zlib.crc32(memoryview(self._buffer)[:8]) != crc:
            raise EventStreamError("prelude CRC does not match")
        if total < PRELUDE + TRAILER + headers or total > MAX_MESSAGE:
            raise EventStreamError("message length %d does not fit its %d header bytes" % (total, headers))
        return total

    def _message(self) -> Message:
        total = self._need
        view = memoryview(self._buffer)
        try:
            (crc,) = struct.unpack_from(">I", view, total - TRAILER)
            if zlib.crc32(view[: total - TRAILER]) != crc:
                raise EventStreamError("message CRC does not match")
            headers_end = PRELUDE + _PRELUDE.unpack_from(view, 0)[1]
            headers = decode_headers(view[PRELUDE:headers_end])
            payload = bytes(view[headers_end : total - TRAILER])
        finally:
            view.release()
        del self._buffer[:total]
        self._need = PRELUDE
        return Message(headers, payload)
