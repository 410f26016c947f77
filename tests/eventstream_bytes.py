"""Builds AWS event-stream messages, for the decoder's tests and the rewriting proxy."""

import json
import struct
import uuid
import zlib
from typing import Any, List, Optional, Tuple


def header(name: str, kind: int, value: Any = None) -> bytes:
    """One header: name, type byte, and the value encoded as that type says."""
    raw = name.encode("utf-8")
    out = bytes([len(raw)]) + raw + bytes([kind])
    if kind in (0, 1):
        return out
    fixed = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}.get(kind)
    if fixed:
        return out + struct.pack(fixed, value)
    if kind in (6, 7):
        data = value if kind == 6 else value.encode("utf-8")
        return out + struct.pack(">H", len(data)) + data
    if kind == 9:
        return out + uuid.UUID(str(value)).bytes
    raise ValueError(kind)


def message(headers: List[bytes], payload: bytes) -> bytes:
    """A whole message, with both CRCs right."""
    block = b"".join(headers)
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def strings(*pairs: Tuple[str, str]) -> List[bytes]:
    return [header(name, 7, value) for name, value in pairs]


def event(body: Any, event_type: str = "SubscribeToShardEvent") -> bytes:
    """An `event` message of `event_type` with a JSON payload, as AWS sends it."""
    return message(
        strings((":message-type", "event"), (":event-type", event_type), (":content-type", "application/json")),
        json.dumps(body).encode("utf-8"),
    )


def exception(kind: str, text: str) -> bytes:
    """An `exception` message, as AWS ends a subscription that fails."""
    return message(
        strings((":message-type", "exception"), (":exception-type", kind), (":content-type", "application/json")),
        json.dumps({"message": text}).encode("utf-8"),
    )


def shard_event(records: List[Any], continuation: Optional[str], millis: int = 0, children: Any = None) -> bytes:
    return event(
        {"Records": records, "ContinuationSequenceNumber": continuation, "MillisBehindLatest": millis, "ChildShards": children}
    )
