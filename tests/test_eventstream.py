"""The event-stream decoder, from bytes: every header type, both CRCs, split chunks, cut messages."""

import datetime
import struct
import uuid
import zlib

import pytest

from awskinesisstreams.wire.eventstream import Decoder, EventStreamError
from eventstream_bytes import event, header, message

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
EVERY_TYPE = [
    header("yes", 0),
    header("no", 1),
    header("byte", 2, -7),
    header("short", 3, -30000),
    header("int", 4, 2_000_000_000),
    header("long", 5, -(2**62)),
    header("bytes", 6, b"\x00\xffraw"),
    header("string", 7, "héllo"),
    header("time", 8, 1_700_000_000_123),
    header("id", 9, UUID),
]


def test_every_header_type_and_the_payload():
    (got,) = Decoder().feed(message(EVERY_TYPE, b'{"a":1}'))
    assert got.headers == {
        "yes": True,
        "no": False,
        "byte": -7,
        "short": -30000,
        "int": 2_000_000_000,
        "long": -(2**62),
        "bytes": b"\x00\xffraw",
        "string": "héllo",
        "time": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=datetime.timezone.utc),
        "id": uuid.UUID(UUID),
    }
    assert got.payload == b'{"a":1}'


def test_no_headers_and_no_payload():
    (got,) = Decoder().feed(message([], b""))
    assert got.headers == {} and got.payload == b""


def test_byte_by_byte_gives_each_message_once_it_is_whole():
    data = event({"n": 1}) + message(EVERY_TYPE, b"second") + event({"n": 3})
    decoder = Decoder()
    seen = []
    for index in range(len(data)):
        for got in decoder.feed(data[index : index + 1]):
            seen.append((index, got))
    assert [got.payload for _, got in seen] == [b'{"n": 1}', b"second", b'{"n": 3}']
    assert seen[0][0] == len(event({"n": 1})) - 1  # delivered at its last byte, not later
    assert seen[2][0] == len(data) - 1
    decoder.end()


def test_several_messages_in_one_chunk_and_one_across_chunks():
    data = event({"n": 1}) * 3
    decoder = Decoder()
    assert len(decoder.feed(data[:-5])) == 2
    assert len(decoder.feed(data[-5:])) == 1


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_bad_prelude_crc():
    data = event({"n": 1})
    with pytest.raises(EventStreamError, match="prelude CRC"):
        Decoder().feed(_flip(data, 9))


def test_a_wrong_length_is_caught_by_the_prelude_crc():
    data = event({"n": 1})
    with pytest.raises(EventStreamError, match="prelude CRC"):
        Decoder().feed(_flip(data, 3))


def test_bad_message_crc_in_the_payload_and_in_the_crc_itself():
    data = event({"n": 1})
    with pytest.raises(EventStreamError, match="message CRC"):
        Decoder().feed(_flip(data, len(data) - 8))
    with pytest.raises(EventStreamError, match="message CRC"):
        Decoder().feed(_flip(data, len(data) - 1))


@pytest.mark.parametrize("cut", [1, 11, 12, 40, -1])
def test_a_message_cut_short(cut):
    data = event({"n": 1})
    decoder = Decoder()
    assert decoder.feed(data[:cut]) == []
    with pytest.raises(EventStreamError, match="ended inside a message"):
        decoder.end()


def test_lengths_that_cannot_fit():
    prelude = struct.pack(">II", 16, 100)
    with pytest.raises(EventStreamError, match="does not fit"):
        Decoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_a_timestamp_no_datetime_can_hold():
    with pytest.raises(EventStreamError, match="timestamp header out of range"):
        Decoder().feed(message([header("time", 8, 2**62)], b""))


def test_unknown_header_type_and_a_header_past_the_end():
    with pytest.raises(EventStreamError, match="unknown header value type 10"):
        Decoder().feed(message([b"\x01x\x0a"], b""))
    with pytest.raises(EventStreamError, match="past the headers"):
        Decoder().feed(message([b"\x01x\x07\x00\x09ab"], b""))
