"""BufferedProducer given anything: each constructor keyword and each method argument of any type and value
gets one callback and never an exception; a wrong one is a LIBRARY_ERROR naming it (its strings are fuzzed
with the other string arguments in test_fuzz_strings)."""

import math

import pytest
from conftest import OneCallback, any_text, new_stream
from hypothesis import HealthCheck, example, given, settings, strategies as st
from test_fuzz_strings import Env, Hostile

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams
from awskinesisstreams.buffering.buffered_producer import MAX_AGGREGATE_BYTES

Record = AWSKinesisStreams.Record
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def env(moto_server, tmp_path_factory):
    return Env(moto_server, new_stream(moto_server, 1), tmp_path_factory.mktemp("unused"))


def finite(value):
    try:
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:
        return False


# keyword -> which values the contract accepts
KEYWORDS = {
    "aggregate": lambda v: isinstance(v, bool),
    "maxBufferedTime": lambda v: finite(v) and v >= 0,
    "recordTtl": lambda v: finite(v) and v >= 0.001,
    "maxBufferedBytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "rateLimit": lambda v: finite(v) and v >= 0.001,
    "maxAggregateBytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1024 <= v <= MAX_AGGREGATE_BYTES,
}
ANYTHING = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=-5, max_value=2**21),
    st.floats(min_value=0, max_value=5),
    st.floats(min_value=1e6, max_value=1e300),  # accepted, and a timer far beyond what a thread can wait at once
    st.booleans(),
    st.none(),
    any_text,
    st.sampled_from([[], {}, b"1", 1j]),
    st.builds(Hostile),
)


def outcome_of(call):
    """`call(callback)`'s outcome, with its callback run exactly once."""
    callback = OneCallback()
    outcome = call(callback).result(20)
    assert callback.calls == 1
    return outcome


@pytest.mark.parametrize("keyword", sorted(KEYWORDS))
@FUZZ
@given(value=ANYTHING)
@example(value=10**5000)  # an int whose repr (and %d) raises
def test_any_value_of_any_keyword_is_taken_or_refused_on_every_call(env, keyword, value):
    p = env.buffered(**{keyword: value})
    accepted = KEYWORDS[keyword](value)
    put = p.putRecord(Record(1, "k"), OneCallback())
    flushed = outcome_of(p.flush)
    err = put.result(20)[0]
    if accepted:
        # a recordTtl under a second also bounds each request's timeouts: moto may not answer in time
        assert flushed == (None,) and (err is None or (keyword == "recordTtl" and err.type == ERR.REQUEST_FAILED)), err
    else:
        assert flushed[0].type == ERR.LIBRARY_ERROR and keyword in flushed[0].details
        assert err.type == ERR.LIBRARY_ERROR and "BufferedProducer wrongly initialized" in err.details
        error, failed, results = outcome_of(lambda cb: p.putRecords([Record(1, "k")], cb))
        assert error.type == ERR.LIBRARY_ERROR and (failed, results) == (1, [])
    assert p.close(20) is True and p.outstandingRecords == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda p, cb: p.putRecord(Hostile(), cb),
        lambda p, cb: p.putRecord(Record(Hostile(), "k"), cb),
        lambda p, cb: p.putRecord(Record(1, Hostile()), cb),
        lambda p, cb: p.putRecord(Record(1, "k", Hostile()), cb),
        lambda p, cb: p.putRecord(Record(1, "k", encoder=Hostile()), cb),
        lambda p, cb: p.putRecord(Record(1, "k", encoder=lambda value: Hostile()), cb),
        lambda p, cb: p.putRecords(Hostile(), cb),
        lambda p, cb: p.putRecords([Record(1, "k"), Hostile()], cb),
    ],
)
def test_a_hostile_value_anywhere_is_a_library_error_that_says_what_is_wrong(env, call):
    callback = OneCallback()
    err = call(env.shared(), callback).result(20)[0]
    assert callback.calls == 1 and err.type == ERR.LIBRARY_ERROR
    assert "internal error" not in err.details and ("(no repr)" in err.details or "Hostile" in err.details)


class Exploding(Record):
    """A Record whose own methods raise what no check foresees."""

    def encode(self):
        raise RuntimeError("boom")


class ExplodingKey(str):
    def __len__(self):
        raise RuntimeError("boom")


@pytest.mark.parametrize("method", ["putRecord", "putRecords", "flush"])
@FUZZ
@given(argument=ANYTHING | st.builds(lambda: Exploding(1, "k")) | st.builds(lambda: Record(1, ExplodingKey("k")))
       | st.builds(lambda: [Exploding(1, "k")]),
       callback=st.sampled_from([None, "x", 5, OneCallback]))
def test_any_argument_to_any_method_gets_one_callback_and_no_exception(env, method, argument, callback):
    p = env.shared()
    cb = callback() if callback is OneCallback else callback
    if method == "flush":  # its one argument is the callback: the fuzzed value, or one of the callbacks
        given = argument if cb is None else cb
        outcome = p.flush(given).result(20)
        assert (outcome[0] is None) == (given is None or callable(given))
    else:
        outcome = getattr(p, method)(argument, cb).result(20)
        assert outcome[0] is not None and outcome[0].type == ERR.LIBRARY_ERROR  # none of these is a valid call
    if isinstance(cb, OneCallback):
        assert cb.calls == 1
    if method == "putRecords":
        assert outcome[1:] == ((len(argument) if isinstance(argument, list) else 0), [])
