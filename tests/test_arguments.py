"""Wrong arguments: a LIBRARY_ERROR through the callback, never an exception, and nothing sent.

The Squirrel library's two wrong-parameter suites (Producer and Consumer), ported, plus the
service limits this port also checks. Every call goes to a proxy in front of moto that
records what reaches it: nothing must.
"""

import datetime
import uuid

import pytest

from awskinesisstreams import (
    AWS_KINESIS_STREAMS_ERROR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT,
    AWSKinesisStreams,
)
from proxy import Proxy

Record = AWSKinesisStreams.Record
LIBRARY_ERROR = AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR
GOOD = ("us-east-1", "key-id", "secret", "args-" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="module")
def endpoint(moto_server):
    """A proxy in front of moto, with a real stream; the tests check that no call reached it."""
    moto_server.create_stream(GOOD[3])
    with Proxy(moto_server.endpoint) as proxy:
        yield proxy.endpoint
        assert proxy.calls == [], "a wrong argument reached the server"


def outcome(method, *args):
    """Call `method(*args, callback)`; the callback's arguments, checked to equal the Future's."""
    seen = []
    future = method(*args, lambda *a: seen.append(a))
    result = future.result(5)
    assert seen == [result]
    return result


def assert_library_error(error):
    assert isinstance(error, AWSKinesisStreams.Error)
    assert error.type == LIBRARY_ERROR and error.httpStatus is None and error.httpResponse is None
    assert error.details and "internal error" not in error.details  # a check said what is wrong, not a bug


def wrong_initial_params():
    """Each constructor argument None and empty, as the Squirrel suites try them."""
    for index, name in enumerate(("region", "accessKeyId", "secretAccessKey", "streamName")):
        for wrong in (None, ""):
            args = list(GOOD)
            args[index] = wrong
            yield pytest.param(index, wrong, id="%s=%r" % (name, wrong))


@pytest.mark.parametrize("index, wrong", list(wrong_initial_params()))
def test_producer_wrong_initial_params(endpoint, index, wrong):
    args = list(GOOD)
    args[index] = wrong
    p = AWSKinesisStreams.Producer(*args, endpoint=endpoint)
    err, result = outcome(p.putRecord, Record({}, "testPartitionKey"))
    assert_library_error(err)
    assert result is None
    err, failed, results = outcome(p.putRecords, [Record({}, "testPartitionKey")])
    assert_library_error(err)
    assert (failed, results) == (1, [])


@pytest.mark.parametrize("index, wrong", list(wrong_initial_params()))
def test_consumer_wrong_initial_params(endpoint, index, wrong):
    args = list(GOOD)
    args[index] = wrong
    c = AWSKinesisStreams.Consumer(*args, endpoint=endpoint)
    err, shards = outcome(c.getShards)
    assert_library_error(err)
    assert shards == []
    err, it = outcome(c.getShardIterator, "shardId-000000000000", IT.LATEST, None)
    assert_library_error(err)
    assert it is None
    err, records, millis, next_options = outcome(c.getRecords, {"shardIterator": "testShardIterator"})
    assert_library_error(err)
    assert (records, millis, next_options) == ([], 0, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint": "ftp://127.0.0.1:1"},
        {"endpoint": 42},
        {"sessionToken": ""},
        {"sessionToken": 7},
        {"timeout": 5},
    ],
)
def test_wrong_keywords_fail_every_call(kwargs):
    p = AWSKinesisStreams.Producer(*GOOD, **kwargs)
    err, _ = outcome(p.putRecord, Record(1, "k"))
    assert_library_error(err)


def test_consumer_is_blob_must_be_a_bool(endpoint):
    c = AWSKinesisStreams.Consumer(*GOOD, "yes", endpoint=endpoint)
    err, shards = outcome(c.getShards)
    assert_library_error(err)
    assert "isBlob" in err.details


@pytest.mark.parametrize(
    "record",
    [None, "abc", 123, {"val": "123"}, AWSKinesisStreams.PutRecordResult(), [Record(1, "k")]],
    ids=repr,
)
def test_put_record_wrong_record(endpoint, record):
    p = AWSKinesisStreams.Producer(*GOOD, endpoint=endpoint)
    err, result = outcome(p.putRecord, record)
    assert_library_error(err)
    assert result is None


@pytest.mark.parametrize(
    "records, failed",
    [
        (None, 0),
        ("abc", 0),
        (123, 0),
        ({"val": "123"}, 0),
        ([], 0),
        ((Record(1, "k"),), 0),  # a tuple is not the list (Squirrel array) the contract asks for
        (["abc", "def"], 2),
        ([{"val": "123"}], 1),
        ([AWSKinesisStreams.PutRecordResult()], 1),
        ([Record(1, "k"), None], 2),
        ([Record(1, "k")] * 501, 501),
        ([Record(b"x" * (1024 * 1024 - 1), "k")] * 6, 6),  # 6 MiB in all: over the 5 MiB limit
    ],
    ids=lambda value: repr(value)[:40],
)
def test_put_records_wrong_records(endpoint, records, failed):
    p = AWSKinesisStreams.Producer(*GOOD, endpoint=endpoint)
    err, failed_count, results = outcome(p.putRecords, records)
    assert_library_error(err)
    assert (failed_count, results) == (failed, [])


RELEASED = memoryview(b"x")
RELEASED.release()


@pytest.mark.parametrize(
    "record",
    [
        Record(1, ""),
        Record(1, None),
        Record(1, "k" * 257),
        Record(b"x" * (1024 * 1024), "k"),
        Record(1, "k", explicitHashKey=str(2**128)),
        Record(1, "k", explicitHashKey="abc"),
        Record(float("inf"), "k"),
        Record(1, "k", encoder=lambda value: RELEASED),
    ],
    ids=lambda r: repr(r)[:60],
)
def test_record_over_the_limits(endpoint, record):
    p = AWSKinesisStreams.Producer(*GOOD, endpoint=endpoint)
    err, _ = outcome(p.putRecord, record)
    assert_library_error(err)
    err, failed, _ = outcome(p.putRecords, [Record(1, "k"), record])
    assert_library_error(err)
    assert failed == 2


@pytest.mark.parametrize("shard", [None, "", 0, ["shardId-000000000000"]])
def test_wrong_shard_id(endpoint, shard):
    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, it = outcome(c.getShardIterator, shard, IT.LATEST, None)
    assert_library_error(err)
    assert it is None


@pytest.mark.parametrize("kind", [None, "", "abc", "LATEST", {"test": "test"}, True, False, -1, 5, 4.0])
def test_wrong_shard_iterator_type(endpoint, kind):
    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, it = outcome(c.getShardIterator, "testShardId", kind, None)
    assert_library_error(err)
    assert it is None


class NoOffset(datetime.tzinfo):
    """A time zone that gives no offset: its datetimes are naive, as Python defines it."""

    def utcoffset(self, dt):
        return None


class FailingZone(datetime.tzinfo):
    def utcoffset(self, dt):
        raise RuntimeError("no such zone")


@pytest.mark.parametrize(
    "kind, options",
    [
        (kind, options)
        for kind in (IT.AT_SEQUENCE_NUMBER, IT.AFTER_SEQUENCE_NUMBER)
        for options in (None, {}, {"timestamp": "1459799926.480"}, {"startingSequenceNumber": ""},
                        {"startingSequenceNumber": 12345}, {"startingSequenceNumber": "12a"})
    ]
    + [
        (IT.AT_TIMESTAMP, options)
        for options in (None, {}, {"startingSequenceNumber": "12345"}, {"timestamp": "1459799926.480"},
                        {"timestamp": None}, {"timestamp": True}, {"timestamp": 10**400},
                        {"timestamp": datetime.datetime(2024, 1, 1, tzinfo=NoOffset())},
                        {"timestamp": datetime.datetime(2024, 1, 1, tzinfo=FailingZone())})
    ]
    + [(IT.LATEST, "not a dict"), (IT.TRIM_HORIZON, ["startingSequenceNumber"])],
    ids=lambda value: repr(value)[:40],
)
def test_wrong_shard_iterator_options(endpoint, kind, options):
    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, it = outcome(c.getShardIterator, "testShardId", kind, options)
    assert_library_error(err)
    assert it is None


def test_naive_datetime_timestamp_is_refused(endpoint):
    import datetime

    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, _ = outcome(c.getShardIterator, "testShardId", IT.AT_TIMESTAMP, {"timestamp": datetime.datetime(2024, 1, 1)})
    assert_library_error(err)
    assert "aware" in err.details


@pytest.mark.parametrize(
    "options",
    [
        None,
        {},
        {"limit": 10},
        {"shardIterator": None},
        {"shardIterator": ""},
        {"shardIterator": 5},
        "an-iterator",
        {"shardIterator": "it", "limit": 0},
        {"shardIterator": "it", "limit": 10001},
        {"shardIterator": "it", "limit": "10"},
        {"shardIterator": "it", "limit": True},
    ],
    ids=repr,
)
def test_wrong_get_records_options(endpoint, options):
    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, records, millis, next_options = outcome(c.getRecords, options)
    assert_library_error(err)
    assert (records, millis, next_options) == ([], 0, None)


def test_callback_that_is_not_callable(endpoint):
    """Nothing to call back: the LIBRARY_ERROR still arrives through the Future."""
    p = AWSKinesisStreams.Producer(*GOOD, endpoint=endpoint)
    err, result = p.putRecord(Record(1, "k"), "not a function").result(5)
    assert_library_error(err)
    assert "callback" in err.details


def test_no_exception_at_the_call_site_without_a_callback(endpoint):
    c = AWSKinesisStreams.Consumer(*GOOD, endpoint=endpoint)
    err, it = c.getShardIterator(None, None, None, None).result(5)
    assert_library_error(err)


def test_constructors_never_read_credentials_from_the_environment(monkeypatch, endpoint):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    p = AWSKinesisStreams.Producer(None, None, None, GOOD[3], endpoint=endpoint)
    err, _ = outcome(p.putRecord, Record(1, "k"))
    assert_library_error(err)
    assert "region" in err.details and "accessKeyId" in err.details and "secretAccessKey" in err.details
