"""The KPL aggregated-record codec: bytes built by hand from the format, edge cases, fuzzing,
and interop both ways with the real aws-kinesis-agg package (which uses protobuf)."""

import base64
import hashlib

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from aws_kinesis_agg import messages_pb2  # after the two above, which put its folder on sys.path
from hypothesis import HealthCheck, given, settings, strategies as st

from awskinesisstreams.wire.kpl_aggregation import MAGIC, Aggregate, deaggregate

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def framed(body: bytes) -> bytes:
    """`body` as an aggregated record: magic, the protobuf, its MD5."""
    return MAGIC + body + hashlib.md5(body).digest()


# Written byte by byte from the format: keys ["a", "bb"], hash keys ["12"],
# records {key 1, data "hi"} and {key 0, hash key 0, data ""}.
HAND_BODY = (
    b"\x0a\x01a" b"\x0a\x02bb"  # partition_key_table
    b"\x12\x0212"  # explicit_hash_key_table
    b"\x1a\x06" b"\x08\x01" b"\x1a\x02hi"  # records[0]
    b"\x1a\x06" b"\x08\x00" b"\x10\x00" b"\x1a\x00"  # records[1]
)
HAND_RECORDS = [("bb", None, b"hi"), ("a", "12", b"")]


def test_magic_is_the_kpl_one():
    assert MAGIC == bytes([0xF3, 0x89, 0x9A, 0xC2])


def test_hand_built_record_is_read():
    assert deaggregate(framed(HAND_BODY)) == HAND_RECORDS


def test_aggregate_writes_the_hand_built_bytes():
    aggregate = Aggregate()
    aggregate.add("bb", None, b"hi")
    aggregate.add("a", "12", b"")
    # Our table order follows first use ("bb" before "a"), so compare after decoding both.
    encoded = aggregate.encode()
    assert encoded[:4] == MAGIC and encoded[-16:] == hashlib.md5(encoded[4:-16]).digest()
    assert deaggregate(encoded) == HAND_RECORDS
    assert len(encoded) == aggregate.size == len(framed(HAND_BODY))
    assert aggregate.count == 2


def test_aggregate_bytes_exactly():
    aggregate = Aggregate()
    aggregate.add("a", None, b"hi")
    aggregate.add("bb", "12", b"")
    expected = (
        b"\x0a\x01a" b"\x0a\x02bb" b"\x12\x0212"
        b"\x1a\x06" b"\x08\x00" b"\x1a\x02hi"
        b"\x1a\x06" b"\x08\x01" b"\x10\x00" b"\x1a\x00"
    )
    assert aggregate.encode() == framed(expected)


def test_bad_md5_is_not_an_aggregate():
    data = bytearray(framed(HAND_BODY))
    data[-1] ^= 1
    assert deaggregate(bytes(data)) is None


@pytest.mark.parametrize("cut", range(1, len(HAND_BODY)))
def test_truncated_protobuf_is_not_an_aggregate(cut):
    body = HAND_BODY[:cut]
    result = deaggregate(framed(body))
    # A cut that falls exactly between two fields is a shorter but valid message.
    boundaries = {3: [], 7: [], 11: [], 19: [HAND_RECORDS[0]]}
    assert result == boundaries.get(cut)


def test_no_magic_or_too_short_is_not_an_aggregate():
    assert deaggregate(b"") is None
    assert deaggregate(MAGIC) is None
    assert deaggregate(b"plain record data, not aggregated") is None
    assert deaggregate(b"\x00" + framed(HAND_BODY)[1:]) is None


def test_empty_aggregate_is_not_an_aggregate():
    """Magic plus the MD5 of nothing: aws-kinesis-agg passes it whole, and so do we."""
    empty = Aggregate().encode()
    assert empty == framed(b"")
    assert Aggregate().size == len(empty) == 20 and Aggregate().count == 0
    assert deaggregate(empty) is None


def test_unknown_fields_are_skipped():
    unknown = (
        b"\x78\x05"  # field 15, varint
        b"\x81\x01" + b"\x00" * 8  # field 16 (two-byte tag), fixed64
        + b"\x2d" + b"\x00" * 4  # field 5, fixed32
        + b"\x32\x03abc"  # field 6, length-delimited
        + b"\x18\x07"  # field 3 with the wrong wire type (varint), skipped as protobuf does
    )
    record = b"\x08\x00" + unknown + b"\x1a\x02hi"
    body = unknown + b"\x0a\x01k" + b"\x1a" + bytes([len(record)]) + record + unknown
    assert deaggregate(framed(body)) == [("k", None, b"hi")]


def test_tags_are_skipped():
    tag = b"\x0a\x03env" b"\x12\x04prod"  # Tag{key, value}
    record = b"\x08\x00" b"\x1a\x02hi" b"\x22" + bytes([len(tag)]) + tag
    body = b"\x0a\x01k" b"\x1a" + bytes([len(record)]) + record
    assert deaggregate(framed(body)) == [("k", None, b"hi")]


def test_fields_in_any_order():
    record = b"\x1a\x02hi" b"\x10\x00" b"\x08\x00"
    body = b"\x1a" + bytes([len(record)]) + record + b"\x12\x017" + b"\x0a\x01k"
    assert deaggregate(framed(body)) == [("k", "7", b"hi")]


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x01k" b"\x1a\x04" b"\x08\x01" b"\x1a\x00",  # partition key index past the table
        b"\x0a\x01k" b"\x1a\x06" b"\x08\x00" b"\x10\x00" b"\x1a\x00",  # hash key index, empty table
        b"\x0a\x01k" b"\x1a\x02" b"\x1a\x00",  # no partition key index (required)
        b"\x0a\x01k" b"\x1a\x02" b"\x08\x00",  # no data (required)
        b"\x0a\x02\xff\xfe" b"\x1a\x04" b"\x08\x00" b"\x1a\x00",  # a key that is not UTF-8
        b"\x0a\x01k" b"\x1b\x00",  # a group (wire type 3)
        b"\x00\x00",  # field number 0
        b"\x08" + b"\xff" * 11,  # a varint over 10 bytes
        b"\x0a\x01k" b"\x1a\x04" b"\x08\x00" b"\x1a\x05ab",  # data runs past its record
    ],
)
def test_malformed_protobuf_is_not_an_aggregate(body):
    assert deaggregate(framed(body)) is None


def test_a_record_of_exactly_the_cap_fits():
    probe = Aggregate()
    probe.add("key", None, b"x" * 1000)
    aggregate = Aggregate(max_bytes=probe.size)
    assert aggregate.add("key", None, b"x" * 1000)
    assert aggregate.size == aggregate.max_bytes == len(aggregate.encode())
    assert not aggregate.add("key", None, b"")
    assert aggregate.count == 1 and aggregate.size == probe.size


def test_filling_up_to_the_cap_and_not_past_it():
    aggregate = Aggregate(max_bytes=300)
    added = 0
    while aggregate.add("key-%d" % (added % 3), None, b"y" * 20):
        added += 1
    size = aggregate.size
    assert 300 - 30 < size <= 300 and aggregate.count == added
    assert not aggregate.add("a-new-key", "1234", b"y" * 20)
    assert aggregate.size == size == len(aggregate.encode())
    assert deaggregate(aggregate.encode()) == [("key-%d" % (i % 3), None, b"y" * 20) for i in range(added)]


def test_an_empty_aggregate_takes_one_record_over_the_cap():
    aggregate = Aggregate(max_bytes=100)
    assert aggregate.add("key", None, b"z" * 5000)
    assert not aggregate.add("key", None, b"z")
    assert deaggregate(aggregate.encode()) == [("key", None, b"z" * 5000)]


user_records = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "ключ", "k" * 256, "🔑"]) | st.text(min_size=1, max_size=8),
        st.none() | st.sampled_from(["0", "340282366920938463463374607431768211455"]),
        st.binary(max_size=300) | st.sampled_from([b"\x00" * 2047, b"\x01" * 2048, b"\x02" * 20000]),
    ),
    min_size=1,
    max_size=40,
)


@ROUND_TRIP
@given(user_records)
def test_round_trip_and_exact_size(records):
    aggregate = Aggregate(max_bytes=10**7)
    for record in records:
        assert aggregate.add(*record)
        assert aggregate.size == len(aggregate.encode())
    assert aggregate.count == len(records)
    assert deaggregate(aggregate.encode()) == records


def packed(records):
    """`records` in one Aggregate with no size cap, encoded."""
    aggregate = Aggregate(max_bytes=10**7)
    for record in records:
        assert aggregate.add(*record)
    return aggregate.encode()


@ROUND_TRIP
@given(user_records)
def test_protobuf_reads_what_we_write(records):
    """The protobuf package (aws-kinesis-agg's generated messages) parses our bytes to the same fields."""
    message = messages_pb2.AggregatedRecord()
    message.ParseFromString(packed(records)[4:-16])
    decoded = [
        (
            message.partition_key_table[r.partition_key_index],
            message.explicit_hash_key_table[r.explicit_hash_key_index] if r.HasField("explicit_hash_key_index") else None,
            r.data,
        )
        for r in message.records
    ]
    assert decoded == records


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_never_raise(body):
    for data in (body, MAGIC + body, framed(body)):
        result = deaggregate(data)
        assert result is None or all(isinstance(pk, str) and isinstance(d, bytes) for pk, _, d in result)


@FUZZ
@given(st.data())
def test_mutated_aggregates_never_raise(draw):
    body = HAND_BODY + b"\x1a\x05\x08\x81\x01\x1a\x00"
    position = draw.draw(st.integers(0, len(body) - 1))
    value = draw.draw(st.integers(0, 255))
    mutated = body[:position] + bytes([value]) + body[position + 1 :]
    cut = draw.draw(st.integers(0, len(mutated)))
    result = deaggregate(framed(mutated[:cut]))
    assert result is None or isinstance(result, list)


def kinesis_agg_reads(data: bytes):
    """The user records aws-kinesis-agg finds in `data`, as (partition key, explicit hash key, data)."""
    boto = {"Data": data, "PartitionKey": "agg", "SequenceNumber": "1", "ApproximateArrivalTimestamp": 0}
    out = []
    for record in iter_deaggregate_records([boto], data_format="Boto3"):
        kinesis = record["kinesis"]
        assert kinesis.get("aggregated") is True, "aws-kinesis-agg did not take it for an aggregate"
        out.append((kinesis["partitionKey"], kinesis["explicitHashKey"], base64.b64decode(kinesis["data"])))
    return out


# aws-kinesis-agg reads a record without a hash key index as hash key 0 when the table is not
# empty (protobuf's default), so what it is given has a hash key on every record or on none.
uniform_records = user_records.filter(lambda records: len({ehk is None for _, ehk, _ in records}) == 1)


@ROUND_TRIP
@given(uniform_records)
def test_kinesis_agg_reads_what_we_write(records):
    assert kinesis_agg_reads(packed(records)) == records


@ROUND_TRIP
@given(user_records)
def test_we_read_what_kinesis_agg_writes(records):
    theirs = AggRecord(max_size=10**7)
    for partition_key, explicit_hash_key, data in records:
        assert theirs.add_user_record(partition_key, data, explicit_hash_key)
    _, _, data = theirs.get_contents()
    assert deaggregate(data) == records


def test_kinesis_agg_fills_records_we_read_whole():
    """A full-size aggregate of 100-byte records from aws-kinesis-agg's default-sized aggregator."""
    theirs = AggRecord(max_size=51200)
    records = []
    while True:
        record = ("key-%d" % (len(records) % 1000), None, bytes([len(records) % 256]) * 100)
        if not theirs.add_user_record(record[0], record[2]):
            break
        records.append(record)
    ours = Aggregate(max_bytes=51200)
    assert all(ours.add(*record) for record in records) and not ours.add(*record)
    assert len(theirs.get_contents()[2]) == ours.size
    assert deaggregate(theirs.get_contents()[2]) == records
    assert kinesis_agg_reads(ours.encode()) == records
