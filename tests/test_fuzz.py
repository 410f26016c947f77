"""Fuzzed input (hypothesis): any argument gives exactly one callback and never an exception out of the library;
any JSON-compatible value and any bytes come back unchanged from a real put and get (moto)."""

import pytest
from conftest import OneCallback, any_text, consumer, exactly_one_outcome, new_stream, producer
from hypothesis import HealthCheck, given, settings, strategies as st

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams

Record = AWSKinesisStreams.Record
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON writes a lone surrogate as an escape, and two such escapes read back as one character: so only
# text() (no surrogates) round-trips; any_text is used where only the outcome counts.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
junk = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
    | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
    | st.builds(object) | st.sampled_from(list(IT)) | st.just(float("nan")) | any_text
)
keys = st.text(min_size=1, max_size=256) | any_text | junk
decimal = st.integers(min_value=0, max_value=2**130).map(str)
records = st.builds(
    Record,
    data=json_values | st.dictionaries(any_text, any_text, max_size=3) | st.binary(max_size=64) | junk,
    partitionKey=keys,
    explicitHashKey=st.none() | decimal | junk,
    prevSequenceNumber=st.none() | junk,
    encoder=st.none() | st.just(repr) | st.just(lambda value: b"x") | st.just(lambda value: 1 / 0) | junk
    | any_text.map(lambda text: lambda value: text),
)


@pytest.fixture(scope="module")
def fuzz_stream(moto_server):
    return new_stream(moto_server, 1)


@FUZZ
@given(record=records | junk)
def test_put_record_with_any_record(moto_server, fuzz_stream, record):
    p = producer(moto_server, fuzz_stream, retries=0)
    err, result = exactly_one_outcome(lambda cb: p.putRecord(record, cb))
    assert (err is None) == (result is not None)


@FUZZ
@given(batch=st.lists(records | junk, max_size=6) | junk)
def test_put_records_with_any_list(moto_server, fuzz_stream, batch):
    p = producer(moto_server, fuzz_stream, retries=0)
    err, failed, results = exactly_one_outcome(lambda cb: p.putRecords(batch, cb))
    if err is None:
        assert len(results) == len(batch) and failed == 0
    else:
        assert results == [] and failed == (len(batch) if isinstance(batch, list) else 0)


sequence_options = st.fixed_dictionaries(
    {}, optional={"startingSequenceNumber": decimal | junk, "timestamp": st.integers(0, 2**33) | junk}
)


@FUZZ
@given(
    shard=st.sampled_from(["shardId-000000000000", "shardId-000000000009"]) | junk,
    kind=st.integers(-2, 6) | junk,
    options=sequence_options | junk,
)
def test_get_shard_iterator_with_any_arguments(moto_server, fuzz_stream, shard, kind, options):
    c = consumer(moto_server, fuzz_stream, retries=0)
    err, iterator = exactly_one_outcome(lambda cb: c.getShardIterator(shard, kind, options, cb), server_may_refuse=True)
    assert (err is None) == isinstance(iterator, str)


@FUZZ
@given(options=st.fixed_dictionaries({}, optional={"shardIterator": junk, "limit": st.integers(-5, 20000) | junk}) | junk)
def test_get_records_with_any_options(moto_server, fuzz_stream, options):
    c = consumer(moto_server, fuzz_stream, retries=0)
    outcome = exactly_one_outcome(lambda cb: c.getRecords(options, cb), server_may_refuse=True)
    assert outcome[0] is not None or isinstance(outcome[1], list)


@FUZZ
@given(
    args=st.tuples(junk | st.just("us-east-1"), junk | st.just("k"), junk | st.just("s"), junk | st.text(max_size=5)),
    is_blob=junk,
    extra=st.fixed_dictionaries(
        {},
        optional={
            "sessionToken": junk,
            "timeout": junk,
            "retries": junk,
            "endpoint": junk.filter(lambda v: v is not None and not (isinstance(v, str) and v.startswith("http"))),
        },
    ),
    callback=st.none() | st.just(print) | junk,
)
def test_constructors_and_callbacks_with_any_arguments(moto_server, fuzz_stream, args, is_blob, extra, callback):
    extra.setdefault("endpoint", moto_server.endpoint)  # never the real AWS
    p = AWSKinesisStreams.Producer(*args, **extra)
    c = AWSKinesisStreams.Consumer(*args, is_blob, **extra)
    if callable(callback):
        callback = OneCallback()
    for call in (lambda cb: p.putRecord(Record(1, "k"), cb), lambda cb: c.getShards(cb)):
        outcome = call(callback).result(20)
        err = outcome[0]
        assert err is None or err.type in (ERR.LIBRARY_ERROR, ERR.REQUEST_FAILED)
    if isinstance(callback, OneCallback):
        assert callback.calls == 2
    assert type(p).__name__ in repr(p) and type(c).__name__ in repr(c)


def put_and_get(moto_server, name, values, is_blob):
    """Put `values` in one putRecords and read them back from the first one's sequence number."""
    p, c = producer(moto_server, name), consumer(moto_server, name, is_blob)
    err, failed, results = p.putRecords([Record(value, "k") for value in values]).result(20)
    assert err is None and failed == 0
    start = {"startingSequenceNumber": results[0].sequenceNumber}
    err, iterator = c.getShardIterator(results[0].shardId, IT.AT_SEQUENCE_NUMBER, start, None).result(20)
    err, got, _, _ = c.getRecords({"shardIterator": iterator, "limit": len(values)}, None).result(20)
    assert err is None
    assert [r.sequenceNumber for r in got] == [r.sequenceNumber for r in results]
    return [r.data for r in got]


@ROUND_TRIP
@given(values=st.lists(json_values, min_size=1, max_size=20))
def test_any_json_value_round_trips(moto_server, fuzz_stream, values):
    assert put_and_get(moto_server, fuzz_stream, values, False) == values


@ROUND_TRIP
@given(values=st.lists(st.binary(max_size=300), min_size=1, max_size=20))
def test_any_bytes_round_trip(moto_server, fuzz_stream, values):
    assert put_and_get(moto_server, fuzz_stream, values, True) == values
