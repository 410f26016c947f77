"""Readers keep going: past an expired iterator (injected through the proxy) and past a record that is not JSON."""

import itertools
import json

from conftest import consumer, producer

from awskinesisstreams import (
    AWS_KINESIS_STREAMS_ERROR as ERR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT,
    AWSKinesisStreams,
    imp,
)
from proxy import Proxy, aws_error

Record = AWSKinesisStreams.Record
SHARD = "shardId-000000000000"


def expire_getrecords_call(number):
    """A rule that answers the `number`-th GetRecords call (from 1) with ExpiredIteratorException."""
    counter = itertools.count(1)

    def rule(call):
        if call.action == "GetRecords" and next(counter) == number:
            return aws_error(400, "ExpiredIteratorException", "Iterator expired. The iterator was created at time X")
        return None

    return rule


def test_expired_iterator_is_reported_and_reading_resumes_after_the_last_record(moto_server, stream):
    err, failed, _ = producer(moto_server, stream).putRecords([Record({"n": n}, "k") for n in range(10)]).result(10)
    assert err is None and failed == 0
    read, expired = [], []
    with Proxy(moto_server.endpoint, rule=expire_getrecords_call(2)) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint)
        last = {"sequenceNumber": None}

        # The pattern the README shows: on ExpiredIteratorException, a new iterator after the last record read.
        def on_records(error, records, millisBehindLatest, nextOptions):
            if error is not None:
                if error.awsErrorType == "ExpiredIteratorException":
                    expired.append(error)
                    c.getShardIterator(SHARD, IT.AFTER_SEQUENCE_NUMBER,
                                       {"startingSequenceNumber": last["sequenceNumber"]}, on_iterator)
                return
            read.extend(record.data["n"] for record in records)
            if records:
                last["sequenceNumber"] = records[-1].sequenceNumber
            if len(read) < 10:
                c.getRecords(nextOptions, on_records)

        def on_iterator(error, shardIterator):
            assert error is None
            c.getRecords({"shardIterator": shardIterator, "limit": 4}, on_records)

        c.getShardIterator(SHARD, IT.TRIM_HORIZON, None, on_iterator)
        assert imp.run(15)
        kinds = [call.body.get("ShardIteratorType") for call in proxy.calls if call.action == "GetShardIterator"]
    assert read == list(range(10))
    assert len(expired) == 1
    error = expired[0]
    assert error.type == ERR.REQUEST_FAILED and error.httpStatus == 400
    assert "ExpiredIteratorException" in error.httpResponse["__type"] and "ExpiredIteratorException" in error.details
    assert kinds == ["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"]


def test_a_record_that_is_not_json_does_not_stop_the_reader(moto_server, stream):
    blob_writer = producer(moto_server, stream)
    err, failed, _ = blob_writer.putRecords(
        [Record({"a": 1}, "k"), Record(b"\xff not json", "k"), Record({"b": 2}, "k")]
    ).result(10)
    assert err is None and failed == 0
    c = consumer(moto_server, stream)
    err, iterator = c.getShardIterator(SHARD, IT.TRIM_HORIZON, None, None).result(10)
    err, records, _, next_options = c.getRecords({"shardIterator": iterator}, None).result(10)
    assert err.type == ERR.UNEXPECTED_RESPONSE and records == [] and next_options is None
    assert [r.data for r in err.records] == [b'{"a":1}', b"\xff not json", b'{"b":2}']
    # What the README shows: decode what can be, keep the rest as bytes, go on from err.nextOptions.
    kept, skipped = [], []
    for record in err.records:
        try:
            kept.append(json.loads(record.data))
        except ValueError:
            skipped.append(record.data)
    assert kept == [{"a": 1}, {"b": 2}] and skipped == [b"\xff not json"]
    blob_writer.putRecord(Record({"c": 3}, "k")).result(10)
    err, records, _, _ = c.getRecords(err.nextOptions, None).result(10)
    assert err is None and [r.data for r in records] == [{"c": 3}]
