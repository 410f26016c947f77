"""Consumer: getShards, every iterator type, getRecords and nextOptions, against real servers.

The Squirrel Consumer suite, ported, runs on moto, kinesalite and kinesis-mock; AT_TIMESTAMP
runs on moto and kinesis-mock (kinesalite never answers it), and a split shard is read to its
end on kinesalite and kinesis-mock (moto never ends a closed shard's iterator and keeps writing
to a split parent).
"""

import datetime
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from conftest import boto_kinesis, consumer, new_stream, producer

from awskinesisstreams import (
    AWS_KINESIS_STREAMS_ENCRYPTION_TYPE,
    AWS_KINESIS_STREAMS_ERROR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT,
    AWSKinesisStreams,
)
from proxy import Proxy, aws_error

Record = AWSKinesisStreams.Record


def put(server, name, values, **record_kwargs):
    """Write one JSON record per value (partition keys spread them over the shards); their PutRecordResults."""
    records = [Record({"value": v}, "key-%s" % v, **record_kwargs) for v in values]
    err, failed, results = producer(server, name).putRecords(records).result(10)
    assert err is None and failed == 0
    return results


def iterator(c, shard, kind, options=None):
    err, it = c.getShardIterator(shard, kind, options, None).result(10)
    assert err is None, err
    return it


def read_all(c, it, limit=None):
    """Every record from `it` on, following nextOptions until a call brings nothing more (or the shard ends)."""
    options = {"shardIterator": it}
    if limit:
        options["limit"] = limit
    records = []
    while options is not None:
        err, batch, millis, options = c.getRecords(options, None).result(10)
        assert err is None, err
        assert isinstance(millis, int)
        records.extend(batch)
        if not batch:
            break
    return records


def values(records, blob=False):
    return [(json.loads(r.data) if blob else r.data)["value"] for r in records]


def test_get_shards_lists_every_shard(any_server):
    name = new_stream(any_server, 3)
    err, shards = consumer(any_server, name).getShards(None).result(10)
    assert err is None and shards == ["shardId-%012d" % i for i in range(3)]


def test_latest_on_every_shard_with_a_blob_consumer(any_server):
    name = new_stream(any_server, 2)
    c = consumer(any_server, name, isBlob=True)
    _, shards = c.getShards(None).result(10)
    iterators = {shard: iterator(c, shard, IT.LATEST) for shard in shards}
    results = put(any_server, name, range(10))
    assert {r.shardId for r in results} == set(shards)  # the keys spread the records over both shards
    read = [r for shard in shards for r in read_all(c, iterators[shard])]
    assert all(isinstance(r.data, bytes) for r in read)
    assert sorted(values(read, blob=True)) == list(range(10))


def test_at_sequence_number_includes_that_record(any_server):
    name = new_stream(any_server, 1)
    c = consumer(any_server, name)
    first = put(any_server, name, [0])[0]
    it = iterator(c, first.shardId, IT.AT_SEQUENCE_NUMBER, {"startingSequenceNumber": first.sequenceNumber})
    put(any_server, name, [1, 2, 3, 4])
    assert values(read_all(c, it, limit=3)) == [0, 1, 2, 3, 4]


def test_after_sequence_number_skips_that_record(any_server):
    name = new_stream(any_server, 1)
    c = consumer(any_server, name)
    first = put(any_server, name, [0], explicitHashKey="12345")[0]
    it = iterator(c, first.shardId, IT.AFTER_SEQUENCE_NUMBER, {"startingSequenceNumber": first.sequenceNumber})
    put(any_server, name, range(1, 6), explicitHashKey="12345")
    assert values(read_all(c, it, limit=4)) == [1, 2, 3, 4, 5]


def test_trim_horizon_with_a_blob_consumer(any_server):
    name = new_stream(any_server, 1)
    c = consumer(any_server, name, isBlob=True)
    result = put(any_server, name, [7])[0]
    read = read_all(c, iterator(c, result.shardId, IT.TRIM_HORIZON), limit=10000)
    assert [r.data for r in read] == [b'{"value":7}']
    record = read[0]
    assert record.sequenceNumber == result.sequenceNumber and record.partitionKey == "key-7"
    assert isinstance(record.timestamp, int) and abs(record.timestamp - time.time()) < 60
    assert record.encryptionType == AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.NONE


@pytest.mark.parametrize("server", ["moto_server", "kinesis_mock"])
def test_at_timestamp(request, server):
    """kinesalite never answers AT_TIMESTAMP, so this case runs on the other two."""
    server = request.getfixturevalue(server)
    name = new_stream(server, 1)
    c = consumer(server, name)
    put(server, name, [0])
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    put(server, name, [1, 2])
    it = iterator(c, "shardId-000000000000", IT.AT_TIMESTAMP, {"timestamp": since})
    assert values(read_all(c, it)) == [1, 2]
    it = iterator(c, "shardId-000000000000", IT.AT_TIMESTAMP, {"timestamp": int(since) - 60})
    assert values(read_all(c, it)) == [0, 1, 2]
    aware = datetime.datetime.fromtimestamp(since, datetime.timezone(datetime.timedelta(hours=5)))
    it = iterator(c, "shardId-000000000000", IT.AT_TIMESTAMP, {"timestamp": aware})
    assert values(read_all(c, it)) == [1, 2]


def test_iterator_type_as_plain_int(moto_server, stream):
    c = consumer(moto_server, stream)
    put(moto_server, stream, [5])
    assert values(read_all(c, iterator(c, "shardId-000000000000", 3))) == [5]


def test_limit_and_next_options(any_server):
    name = new_stream(any_server, 1)
    c = consumer(any_server, name)
    put(any_server, name, range(5))
    options = {"shardIterator": iterator(c, "shardId-000000000000", IT.TRIM_HORIZON), "limit": 2, "mine": "kept"}
    err, records, millis, next_options = c.getRecords(options, None).result(10)
    assert err is None and values(records) == [0, 1]
    assert next_options is not options and next_options["shardIterator"] != options["shardIterator"]
    assert next_options["limit"] == 2 and next_options["mine"] == "kept"
    assert options["limit"] == 2 and options["mine"] == "kept"
    _, records, _, _ = c.getRecords(next_options, None).result(10)
    assert values(records) == [2, 3]


def test_reads_what_boto3_wrote(any_server):
    name = new_stream(any_server, 1)
    boto_kinesis(any_server).put_records(
        StreamName=name,
        Records=[
            {"Data": b'{"value":1,"s":"\xc3\xa9"}', "PartitionKey": "a"},
            {"Data": b"[1,2]", "PartitionKey": "b"},
            {"Data": b'"text"', "PartitionKey": "c"},
        ],
    )
    json_consumer, blob_consumer = consumer(any_server, name), consumer(any_server, name, isBlob=True)
    shard = "shardId-000000000000"
    read = read_all(json_consumer, iterator(json_consumer, shard, IT.TRIM_HORIZON))
    assert [r.data for r in read] == [{"value": 1, "s": "\u00e9"}, [1, 2], "text"]
    assert [r.partitionKey for r in read] == ["a", "b", "c"]
    read = read_all(blob_consumer, iterator(blob_consumer, shard, IT.TRIM_HORIZON))
    assert [r.data for r in read] == [b'{"value":1,"s":"\xc3\xa9"}', b"[1,2]", b'"text"']


def test_json_consumer_meets_a_record_that_is_not_json(moto_server, stream):
    boto_kinesis(moto_server).put_records(
        StreamName=stream,
        Records=[{"Data": b"1", "PartitionKey": "a"}, {"Data": b"not json", "PartitionKey": "b"}],
    )
    c = consumer(moto_server, stream)
    it = iterator(c, "shardId-000000000000", IT.TRIM_HORIZON)
    err, records, millis, next_options = c.getRecords({"shardIterator": it}, None).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE
    assert (records, millis, next_options) == ([], 0, None)
    assert [r.data for r in err.records] == [b"1", b"not json"]
    assert err.nextOptions["shardIterator"]


def test_split_shard_is_read_to_its_end(resharding_server):
    """kinesalite and kinesis-mock close the parent of a split and end its iterator, as AWS does."""
    server = resharding_server
    name = new_stream(server, 1)
    put(server, name, range(4))
    c = consumer(server, name)
    parent = "shardId-000000000000"
    it = iterator(c, parent, IT.TRIM_HORIZON)
    kinesis = boto_kinesis(server)
    kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(2**127))
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    err, shards = c.getShards(None).result(10)
    assert err is None and shards == [parent, "shardId-000000000001", "shardId-000000000002"]
    options = {"shardIterator": it, "limit": 3}
    read = []
    for _ in range(10):
        err, records, millis, options = c.getRecords(options, None).result(10)
        assert err is None
        read.extend(records)
        if options is None:
            break
    assert options is None
    assert values(read) == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", [IT.LATEST, IT.TRIM_HORIZON])
def test_unknown_shard_is_request_failed(moto_server, stream, kind):
    err, it = consumer(moto_server, stream).getShardIterator("shardId-000000000009", kind, None, None).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED and err.httpStatus == 400 and it is None


@pytest.mark.parametrize(
    "kind, message",
    [
        ("ExpiredIteratorException", "Iterator expired. The iterator was created at time ..."),
        ("ProvisionedThroughputExceededException", "Rate exceeded for shard shardId-000000000000"),
    ],
)
def test_aws_refusals_that_moto_never_gives(moto_server, stream, kind, message):
    """AWS expires iterators after 5 minutes and throttles busy shards; the proxy plays both."""
    def refuse(call):
        return aws_error(400, kind, message) if call.action == "GetRecords" else None

    with Proxy(moto_server.endpoint, rule=refuse) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint)
        it = iterator(c, "shardId-000000000000", IT.LATEST)
        err, records, millis, next_options = c.getRecords({"shardIterator": it}, None).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED and err.httpStatus == 400
    assert err.awsErrorType == kind and err.httpResponse["message"] == message
    assert (records, millis, next_options) == ([], 0, None)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(JSON_VALUES, min_size=1, max_size=20))
def test_any_json_values_come_back_equal(moto_server, stream, data):
    """Whatever JSON values a Producer writes, a JSON Consumer reads back equal, in order."""
    c = consumer(moto_server, stream)
    it = iterator(c, "shardId-000000000000", IT.LATEST)
    records = [Record(value, "k") for value in data]
    err, failed, _ = producer(moto_server, stream).putRecords(records).result(10)
    assert err is None and failed == 0
    assert [r.data for r in read_all(c, it)] == data
