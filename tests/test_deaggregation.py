"""Consumer(deaggregate=True) on moto (and, for the mixed stream, kinesis-mock): records aggregated by
the real aws-kinesis-agg and written with boto3's put_record come back as their user records;
anything else comes back whole."""

import hashlib
import json

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from conftest import boto_kinesis, consumer, new_stream

from awskinesisstreams import (
    AWS_KINESIS_STREAMS_ERROR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT,
    AWSKinesisStreams,
)

SHARD = "shardId-000000000000"


def aggregated(user_records):
    """aws-kinesis-agg's aggregate of (partition key, explicit hash key, data): (pk, ehk, bytes)."""
    aggregate = AggRecord()
    for partition_key, explicit_hash_key, data in user_records:
        assert aggregate.add_user_record(partition_key, data, explicit_hash_key)
    return aggregate.get_contents()


def write(server, name, items):
    """put_record each item, a (partition key, explicit hash key, data) Kinesis record; their sequence numbers."""
    client = boto_kinesis(server)
    sequences = []
    for partition_key, explicit_hash_key, data in items:
        kwargs = {"ExplicitHashKey": explicit_hash_key} if explicit_hash_key else {}
        answer = client.put_record(StreamName=name, Data=data, PartitionKey=partition_key, **kwargs)
        sequences.append(answer["SequenceNumber"])
    return sequences


def read(c, shard=SHARD):
    """Every record in `shard`, from TRIM_HORIZON."""
    err, iterator = c.getShardIterator(shard, IT.TRIM_HORIZON, None, None).result(10)
    assert err is None, err
    options, records = {"shardIterator": iterator}, []
    while True:
        err, batch, _, options = c.getRecords(options, None).result(10)
        assert err is None, err
        if not batch:
            return records
        records += batch


def json_users(prefix, count, hash_key=None):
    return [("%s-%d" % (prefix, i % 3), hash_key, json.dumps({"n": i, "of": prefix}).encode()) for i in range(count)]


def corrupt(item):
    partition_key, explicit_hash_key, data = item
    return partition_key, explicit_hash_key, data[:-1] + bytes([data[-1] ^ 0xFF])


def truncated(item):
    partition_key, explicit_hash_key, data = item
    body = data[4:-16][:-3]
    return partition_key, explicit_hash_key, data[:4] + body + hashlib.md5(body).digest()


def fields(record):
    return (record.partitionKey, record.explicitHashKey, record.data, record.sequenceNumber, record.subSequenceNumber)


@pytest.fixture
def mixed(moto_then_mock):
    """A stream holding: an aggregate, a plain record, an aggregate with hash keys, one with a bad MD5,
    one with a truncated protobuf. Returns (stream name, Kinesis items, their sequence numbers, user records)."""
    name = new_stream(moto_then_mock, 1)
    first = json_users("a", 5)
    second = json_users("b", 4, hash_key="12345")
    broken = json_users("c", 2)
    items = [
        aggregated(first),
        ("plain", None, b'{"plain":true}'),
        aggregated(second),
        corrupt(aggregated(broken)),
        truncated(aggregated(broken)),
    ]
    sequences = write(moto_then_mock, name, items)
    return name, items, sequences, (first, second)


def test_blob_consumer_deaggregates_and_passes_the_rest_whole(moto_then_mock, mixed):
    name, items, sequences, (first, second) = mixed
    records = read(consumer(moto_then_mock, name, True, deaggregate=True))
    expected = (
        [(k, h, d, sequences[0], i) for i, (k, h, d) in enumerate(first)]
        + [("plain", None, b'{"plain":true}', sequences[1], None)]
        + [(k, h, d, sequences[2], i) for i, (k, h, d) in enumerate(second)]
        + [(items[3][0], None, items[3][2], sequences[3], None), (items[4][0], None, items[4][2], sequences[4], None)]
    )
    assert [fields(r) for r in records] == expected


def test_user_records_carry_the_kinesis_records_timestamp_and_encryption(moto_then_mock, mixed):
    name, _, _, _ = mixed
    whole = {r.sequenceNumber: r for r in read(consumer(moto_then_mock, name, True))}
    users = read(consumer(moto_then_mock, name, True, deaggregate=True))
    assert len(users) > len(whole)
    for record in users:
        kinesis = whole[record.sequenceNumber]
        assert (record.timestamp, record.encryptionType) == (kinesis.timestamp, kinesis.encryptionType)
        assert isinstance(record.timestamp, int)


def test_without_deaggregate_every_kinesis_record_is_whole(moto_then_mock, mixed):
    name, items, sequences, _ = mixed
    for c in (consumer(moto_then_mock, name, True), consumer(moto_then_mock, name, True, deaggregate=False)):
        records = read(c)
        assert [fields(r) for r in records] == [(k, None, d, s, None) for (k, _, d), s in zip(items, sequences)]


def test_json_consumer_decodes_user_records(moto_server):
    name = new_stream(moto_server, 1)
    first, second = json_users("a", 7), json_users("b", 3, hash_key="99")
    sequences = write(moto_server, name, [aggregated(first), ("plain", None, b"[1,2]"), aggregated(second)])
    records = read(consumer(moto_server, name, deaggregate=True))
    assert [(r.partitionKey, r.explicitHashKey, r.data, r.sequenceNumber, r.subSequenceNumber) for r in records] == (
        [(k, h, json.loads(d), sequences[0], i) for i, (k, h, d) in enumerate(first)]
        + [("plain", None, [1, 2], sequences[1], None)]
        + [(k, h, json.loads(d), sequences[2], i) for i, (k, h, d) in enumerate(second)]
    )


def test_json_consumer_reports_a_corrupt_aggregate_with_the_user_records_as_bytes(moto_then_mock, mixed):
    """A bad aggregate is passed whole; it is not JSON, so the call fails the usual way, error.records
    holding every record of the call (user records deaggregated) as bytes."""
    name, items, sequences, (first, second) = mixed
    c = consumer(moto_then_mock, name, deaggregate=True)
    _, iterator = c.getShardIterator(SHARD, IT.TRIM_HORIZON, None, None).result(10)
    err, records, _, next_options = c.getRecords({"shardIterator": iterator}, None).result(10)
    assert err is not None and err.type == AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE
    assert records == [] and next_options is None
    assert err.nextOptions["shardIterator"]
    assert [fields(r) for r in err.records] == (
        [(k, h, d, sequences[0], i) for i, (k, h, d) in enumerate(first)]
        + [("plain", None, b'{"plain":true}', sequences[1], None)]
        + [(k, h, d, sequences[2], i) for i, (k, h, d) in enumerate(second)]
        + [(items[3][0], None, items[3][2], sequences[3], None), (items[4][0], None, items[4][2], sequences[4], None)]
    )


def test_user_records_of_another_shards_range_are_kept(moto_server):
    """The aggregate is pinned to shard 0; its user records' hash keys belong to shard 1. The KCL
    drops such records after a reshard; we deliver them."""
    name = new_stream(moto_server, 2)
    top = str(2**128 - 1)
    users = [("k%d" % i, top, b"data-%d" % i) for i in range(6)]
    partition_key, _, data = aggregated(users)
    write(moto_server, name, [(partition_key, "0", data)])
    records = read(consumer(moto_server, name, True, deaggregate=True), SHARD)
    assert [(r.partitionKey, r.explicitHashKey, r.data, r.subSequenceNumber) for r in records] == [
        (k, h, d, i) for i, (k, h, d) in enumerate(users)
    ]


@pytest.mark.parametrize("wrong", ["yes", 1, None])
def test_deaggregate_must_be_a_boolean(moto_server, wrong):
    c = consumer(moto_server, "any", deaggregate=wrong)
    err, shards = c.getShards(None).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR and "deaggregate" in err.details
    assert shards == []


def test_sub_sequence_number_defaults():
    assert AWSKinesisStreams.Record(b"x", "k").subSequenceNumber is None
    assert AWSKinesisStreams.PutRecordResult().subSequenceNumber == 0
