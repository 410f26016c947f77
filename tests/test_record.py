"""Record: the bytes each kind of data becomes, and the service limits checked before sending."""

import math

import pytest

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams
from awskinesisstreams.error import Error

Record = AWSKinesisStreams.Record


@pytest.mark.parametrize(
    "data, stored",
    [
        ({"a": 1, "b": [1, 2]}, b'{"a":1,"b":[1,2]}'),
        ("abc", b'"abc"'),
        ("", b'""'),
        (None, b"null"),
        (12345, b"12345"),
        (True, b"true"),
        ([], b"[]"),
        ({}, b"{}"),
        ("\u00e9", b'"\\u00e9"'),  # the contract's json.dumps: ASCII with escapes
        (b"\x00\xffraw", b"\x00\xffraw"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
        (b"", b""),
    ],
)
def test_data_is_stored_as_squirrel_would(data, stored):
    assert Record(data, "k").encode() == stored


def test_custom_encoder_may_return_str_or_bytes():
    assert Record({"t": 1}, "k", encoder=lambda d: "t=%d" % d["t"]).encode() == b"t=1"
    assert Record([1, 2], "k", encoder=lambda d: bytes(d)).encode() == b"\x01\x02"
    assert Record(b"raw", "k", encoder=lambda d: "never used").encode() == b"raw"


@pytest.mark.parametrize(
    "record, words",
    [
        (Record("x", "k", encoder=lambda d: 1 / 0), "could not be encoded"),
        (Record("x", "k", encoder=lambda d: 42), "encoder must return str or bytes"),
        (Record("x", "k", encoder="not callable"), "encoder must be callable"),
        (Record(math.nan, "k"), "could not be encoded"),
        (Record(object(), "k"), "could not be encoded"),
        (Record("x", ""), "partitionKey"),
        (Record("x", None), "partitionKey"),
        (Record("x", "k" * 257), "partitionKey"),
        (Record("x", "k", explicitHashKey=str(2**128)), "explicitHashKey"),
        (Record("x", "k", explicitHashKey="-1"), "explicitHashKey"),
        (Record("x", "k", explicitHashKey="12a"), "explicitHashKey"),
        (Record("x", "k", explicitHashKey=12345), "explicitHashKey"),
        (Record("x", "k", prevSequenceNumber="abc"), "prevSequenceNumber"),
        (Record(b"x" * (1024 * 1024), "k"), "1 MiB"),
    ],
)
def test_wrong_record_is_a_library_error(record, words):
    with pytest.raises(Error) as caught:
        record.encode()
    assert caught.value.type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR
    assert words in caught.value.details


def test_limits_are_inclusive():
    assert len(Record("x", "k" * 256).encode()) == 3
    assert Record("x", "k", explicitHashKey=str(2**128 - 1)).encode() == b'"x"'
    assert Record("x", "k", explicitHashKey="0").encode() == b'"x"'
    largest = b"x" * (1024 * 1024 - 1)
    assert Record(largest, "k").encode() == largest


def test_partition_key_counts_characters_and_size_counts_utf8_bytes():
    assert Record("x", "\u00e9" * 256).encode() == b'"x"'
    with pytest.raises(Error):
        Record(b"x" * (1024 * 1024 - 1), "\u00e9").encode()  # 1 MiB + 1 with the key's 2 bytes


def test_public_attributes():
    record = Record({"a": 1}, "key", "7", "49590338271490256608559692538361571095921575989136588898")
    assert (record.data, record.partitionKey, record.explicitHashKey) == ({"a": 1}, "key", "7")
    assert record.prevSequenceNumber.startswith("4959")
    assert record.sequenceNumber is None and record.timestamp is None and record.encryptionType is None
    assert "key" in repr(record)
