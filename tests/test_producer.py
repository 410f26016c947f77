"""Producer: putRecord and putRecords against real servers (the Squirrel Producer suite, ported),
the exact bytes stored (read back with boto3), and failed records inside a 200 (through the proxy)."""

import json

import pytest
from conftest import boto_kinesis, consumer, new_stream, producer, wait_for

from awskinesisstreams import AWS_KINESIS_STREAMS_ENCRYPTION_TYPE, AWSKinesisStreams
from awskinesisstreams.wire.kinesis import stream_admin
from proxy import Proxy

Record = AWSKinesisStreams.Record
KMS, NONE = AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.KMS, AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.NONE

# The data of the Squirrel suite's putRecord cases: every JSON type, and blobs.
SQUIRREL_DATA = ["", None, "abc", 12345, True, [], ["x1", "x2"], {}, {"x3": "x4", "x5": 123}, b"", b"testString"]


def stored_bytes(server, name):
    """Every record's bytes in a one-shard stream, in order, as boto3 reads them."""
    kinesis = boto_kinesis(server)
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [(r["Data"], r["PartitionKey"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_put_record_every_data_type(any_server):
    name = new_stream(any_server, 2)
    p = producer(any_server, name)
    futures = [p.putRecord(Record(data, "key%d" % i)) for i, data in enumerate(SQUIRREL_DATA)]
    for future in futures:
        err, result = future.result(10)
        assert err is None
        assert result.shardId.startswith("shardId-") and result.sequenceNumber.isdigit()
        assert result.errorCode is None and result.encryptionType == AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.NONE


def test_put_records_every_data_type_in_order(any_server):
    name = new_stream(any_server, 2)
    records = [Record(data, "key%d" % i) for i, data in enumerate(SQUIRREL_DATA)]
    err, failed, results = producer(any_server, name).putRecords(records).result(10)
    assert err is None and failed == 0
    assert len(results) == len(records)
    assert all(r.errorCode is None and r.sequenceNumber for r in results)


def test_explicit_hash_key_picks_the_shard(any_server):
    name = new_stream(any_server, 2)
    p = producer(any_server, name)
    low, high = "12345", str(2**127 + 1)  # one in each half of the hash key range
    _, first = p.putRecord(Record("abc", "same-key", low)).result(10)
    _, second = p.putRecord(Record("abc", "same-key", high)).result(10)
    err, failed, results = p.putRecords([Record({"x": 1}, "same-key", low), Record(2, "same-key", high)]).result(10)
    assert err is None and failed == 0
    assert (first.shardId, second.shardId) == ("shardId-000000000000", "shardId-000000000001")
    assert [r.shardId for r in results] == [first.shardId, second.shardId]


def test_prev_sequence_number_chain(any_server):
    name = new_stream(any_server, 1)
    p = producer(any_server, name)
    previous = None
    numbers = []
    for data in ("x1", "x2", "x3"):
        err, result = p.putRecord(Record(data, "k", "12345" if data == "x3" else None, previous)).result(10)
        assert err is None
        previous = result.sequenceNumber
        numbers.append(int(previous))
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_exact_bytes_on_the_wire(moto_server):
    name = new_stream(moto_server, 1)
    p = producer(moto_server, name)
    p.putRecord(Record({"b": [1, 2], "a": "x"}, "k1")).result(10)
    p.putRecord(Record("abc", "k2")).result(10)
    p.putRecords(
        [
            Record(b"\x00\xff", "k3"),
            Record(None, "k4"),
            Record({"t": 21.5}, "k5", encoder=lambda d: "t=%s" % d["t"]),
            Record(True, "k6"),
        ]
    ).result(10)
    assert stored_bytes(moto_server, name) == [
        (b'{"b":[1,2],"a":"x"}', "k1"),
        (b'"abc"', "k2"),
        (b"\x00\xff", "k3"),
        (b"null", "k4"),
        (b"t=21.5", "k5"),
        (b"true", "k6"),
    ]


def test_request_body_is_what_aws_documents(moto_server, stream):
    with Proxy(moto_server.endpoint) as proxy:
        p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint)
        p.putRecord(Record("a", "pk", "7", "49000")).result(10)
        p.putRecords([Record(b"b", "pk2", "8", "49000"), Record("c", "pk3")]).result(10)  # no ordering in PutRecords
    put, puts = (call.body for call in proxy.calls)
    assert put == {
        "Data": "ImEi",
        "PartitionKey": "pk",
        "ExplicitHashKey": "7",
        "SequenceNumberForOrdering": "49000",
        "StreamName": stream,
    }
    assert puts == {
        "Records": [
            {"Data": "Yg==", "PartitionKey": "pk2", "ExplicitHashKey": "8"},
            {"Data": "ImMi", "PartitionKey": "pk3"},
        ],
        "StreamName": stream,
    }


def test_failed_records_inside_a_200(moto_server, stream):
    """AWS answers 200 with per-record errors when some records are throttled; moto never does.

    With retries off the callback shows the first answer as is (resending them: test_retry.py).
    """

    def fail_the_second(call, status, payload):
        answer = json.loads(payload)
        answer["Records"][1] = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
        answer["FailedRecordCount"] = 1
        return json.dumps(answer).encode()

    with Proxy(moto_server.endpoint, on_answer=fail_the_second) as proxy:
        p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=0)
        calls = []
        err, failed, results = p.putRecords(
            [Record(i, "k") for i in range(3)], lambda *args: calls.append(args)
        ).result(10)
    assert err is None and failed == 1
    assert calls == [(None, 1, results)]
    assert results[1].errorCode == "ProvisionedThroughputExceededException"
    assert results[1].errorMessage == "Rate exceeded" and results[1].sequenceNumber is None
    assert results[0].sequenceNumber and results[2].sequenceNumber


def test_missing_stream_is_request_failed(any_server):
    p = producer(any_server, "no-such-stream")
    err, result = p.putRecord(Record(1, "k")).result(10)
    assert err.type == 1 and err.httpStatus == 400 and result is None
    assert err.awsErrorType == "ResourceNotFoundException"
    err, failed, results = p.putRecords([Record(1, "k"), Record(2, "k")]).result(10)
    assert (err.httpStatus, failed, results) == (400, 2, [])


@pytest.mark.parametrize("count", [500])
def test_put_records_at_the_limit(moto_server, stream, count):
    err, failed, results = producer(moto_server, stream).putRecords(
        [Record(i, "k%d" % i) for i in range(count)]
    ).result(20)
    assert err is None and failed == 0 and len(results) == count


def test_get_shards_of_a_missing_stream(any_server):
    err, shards = consumer(any_server, "no-such-stream").getShards(None).result(10)
    assert err.type == 1 and err.httpStatus == 400 and shards == []
    assert err.awsErrorType == "ResourceNotFoundException"


def test_kms_encryption_is_reported(kinesis_mock):
    """kinesis-mock encrypts a stream as AWS does and says so as AWS does: PutRecords once, beside its entries.

    moto never encrypts and kinesalite has no StartStreamEncryption, so this runs on kinesis-mock.
    """
    stream = new_stream(kinesis_mock, 1)
    p, c = producer(kinesis_mock, stream), consumer(kinesis_mock, stream, deaggregate=True)
    _, plain = p.putRecord(Record(0, "k")).result(10)
    encrypt = {"StreamName": stream, "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    stream_admin(kinesis_mock.client(), "StartStreamEncryption", encrypt)
    assert wait_for(lambda: p.putRecord(Record(1, "k")).result(10)[1].encryptionType == KMS)
    _, _, results = p.putRecords([Record(2, "k"), Record(3, "j")]).result(10)
    with AWSKinesisStreams.BufferedProducer(
        "us-east-1", "k", "s", stream, endpoint=kinesis_mock.endpoint, maxBufferedTime=0.01
    ) as buffered:
        _, _, buffered_results = buffered.putRecords([Record(4, "k"), Record(5, "j")]).result(10)
    _, it = c.getShardIterator("shardId-000000000000", 3, None, None).result(10)
    _, records, _, _ = c.getRecords({"shardIterator": it}, None).result(10)
    assert plain.encryptionType == NONE
    assert [r.encryptionType for r in results + buffered_results] == [KMS] * 4
    assert records[0].data == 0 and records[0].encryptionType == NONE
    assert [r.data for r in records[-4:]] == [2, 3, 4, 5]
    assert all(r.encryptionType == KMS for r in records[1:])
