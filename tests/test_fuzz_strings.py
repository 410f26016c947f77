"""Every string argument of the public API, fuzzed with any code point (lone surrogates, NUL, beyond the BMP):
one callback, never an exception; a LIBRARY_ERROR where the library is the judge, else the server's answer (moto).

A new method or argument is one more row in ARGUMENTS (or WORKER_ARGUMENTS): its name, the call made with
the fuzzed text, who judges it, and (where the outcome is certain) which texts succeed.
"""

import re
import uuid

import pytest
from conftest import OneCallback, any_text, consumer, exactly_one_outcome, new_stream, producer, wait_for
from hypothesis import HealthCheck, given, settings

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams
from awskinesisstreams.leases.dynamodb import DynamoDBLeaseStore
from awskinesisstreams.leases.store import SQLiteLeaseStore
from awskinesisstreams.worker.options import CALLBACKS, DEFAULTS

Record = AWSKinesisStreams.Record
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORKER_FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHARD = "shardId-000000000000"
# Who judges: LIBRARY all of it (any error is a LIBRARY_ERROR); CHECKED the server, but a string the library
# could never send as it is (a lone surrogate) is a LIBRARY_ERROR; SERVER the server alone (one answer, any error).
LIBRARY, CHECKED, SERVER = "library", "checked", "server"


class Env:
    """moto, one stream on it, and builders of instances with one constructor argument replaced."""

    def __init__(self, server, stream, folder):
        self.server, self.stream, self.folder = server, stream, folder
        self._iterator = None
        self._shared = None

    def args(self, **given):
        s = self.server
        args = dict(region=s.region, accessKeyId=s.accessKeyId, secretAccessKey=s.secretAccessKey, streamName=self.stream)
        keywords = {"endpoint": given.pop("endpoint", s.endpoint), "retries": 0}
        if "sessionToken" in given:
            keywords["sessionToken"] = given.pop("sessionToken")
        args.update(given)
        return list(args.values()), keywords

    def producer(self, **given):
        args, keywords = self.args(**given)
        return AWSKinesisStreams.Producer(*args, **keywords)

    def consumer(self, **given):
        args, keywords = self.args(**given)
        return AWSKinesisStreams.Consumer(*args, **keywords)

    def buffered(self, **given):
        """A BufferedProducer with `given` arguments; refused records fail fast (recordTtl 3 s)."""
        args, keywords = self.args(**{k: given.pop(k) for k in list(given) if k in ARGUMENT_NAMES})
        keywords.pop("retries")
        return AWSKinesisStreams.BufferedProducer(*args, **keywords, **dict(dict(maxBufferedTime=0.01, recordTtl=3.0), **given))

    def shared(self):
        """One BufferedProducer for the calls whose argument is fuzzed (its shard map is known after the first)."""
        if self._shared is None:
            self._shared = self.buffered()
        return self._shared

    def iterator(self):
        """A real iterator of the stream's first shard (got once)."""
        if self._iterator is None:
            err, self._iterator = consumer(self.server, self.stream).getShardIterator(SHARD, IT.LATEST, None, None).result(20)
            assert err is None
        return self._iterator


def put(env, cb, *args, **kwargs):
    """putRecord of Record(*args, **kwargs)."""
    return env.producer().putRecord(Record(*args, **kwargs), cb)


ARGUMENT_NAMES = ("region", "accessKeyId", "secretAccessKey", "streamName", "endpoint", "sessionToken")


def buffered_put(env, cb, *args, **kwargs):
    """The shared BufferedProducer's putRecord of Record(*args, **kwargs), flushed."""
    future = env.shared().putRecord(Record(*args, **kwargs), cb)
    env.shared().flush()
    return future


def buffered_as(env, cb, **given):
    """putRecord of a good record, flushed, by a BufferedProducer made with the `given` constructor arguments."""
    p = env.buffered(**given)
    future = p.putRecord(Record(1, "k"), cb)
    p.flush()
    return future


def put_as(env, cb, **given):
    """putRecord of a good record, by a Producer made with the `given` constructor arguments."""
    return env.producer(**given).putRecord(Record(1, "k"), cb)


def iterator(env, cb, shard=SHARD, kind=IT.LATEST, options=None):
    return env.consumer().getShardIterator(shard, kind, options, cb)


def as_hash_key(text):
    """What AWS's pattern 0|([1-9]\\d{0,38}) and range allow."""
    return re.fullmatch(r"0|[1-9][0-9]{0,38}", text) is not None and int(text) < 2**128


def always(text):
    return True


def record_rows(prefix, put, put_many):
    """The rows of a Record's strings, put with `put(env, cb, *args, **kwargs)`, and of putRecords through `put_many(env)`."""
    return [
        (prefix + "Record.data", lambda env, text, cb: put(env, cb, text, "k"), LIBRARY, always),
        (prefix + "Record.data (dict keys)", lambda env, text, cb: put(env, cb, {text: [text]}, "k"), LIBRARY, always),
        (prefix + "Record.partitionKey", lambda env, text, cb: put(env, cb, 1, text), CHECKED, None),
        (prefix + "Record.explicitHashKey", lambda env, text, cb: put(env, cb, 1, "k", text), LIBRARY, as_hash_key),
        (prefix + "Record.prevSequenceNumber", lambda env, text, cb: put(env, cb, 1, "k", None, text), CHECKED, None),
        (prefix + "Record.encoder's str", lambda env, text, cb: put(env, cb, 1, "k", encoder=lambda value: text), LIBRARY, None),
        (prefix + "putRecords", lambda env, text, cb: put_many(env).putRecords([Record(1, "k"), Record(text, text)], cb), CHECKED, None),
    ]


def constructor_rows(name, put_as):
    """The rows of a constructor's strings, each given to an instance made by `put_as(env, cb, **{argument: text})`."""
    return [
        ("%s %s" % (name, argument), lambda env, text, cb, argument=argument: put_as(env, cb, **{argument: text}), judge, None)
        for argument, judge in [("region", CHECKED), ("accessKeyId", CHECKED), ("secretAccessKey", CHECKED),
                                ("sessionToken", CHECKED), ("streamName", SERVER)]
    ] + [("%s endpoint path" % name, lambda env, text, cb: put_as(env, cb, endpoint=env.server.endpoint + "/" + text), CHECKED, None)]


# (name, call(env, text, callback) -> Future, judge, accepted(text) -> bool, or None where the outcome may vary)
ARGUMENTS = record_rows("", put, lambda env: env.producer()) + constructor_rows("Producer", put_as) + [
    *record_rows("Buffered ", buffered_put, lambda env: env.shared()),
    *constructor_rows("BufferedProducer", buffered_as),
    ("Consumer streamName", lambda env, text, cb: env.consumer(streamName=text).getShards(cb), SERVER, None),
    ("Consumer region", lambda env, text, cb: env.consumer(region=text).getShards(cb), CHECKED, None),
    ("getShardIterator shardId", lambda env, text, cb: iterator(env, cb, text), SERVER, None),
    (
        "getShardIterator startingSequenceNumber",
        lambda env, text, cb: iterator(env, cb, kind=IT.AT_SEQUENCE_NUMBER, options={"startingSequenceNumber": text}),
        CHECKED,
        None,
    ),
    ("getShardIterator typeOptions", lambda env, text, cb: iterator(env, cb, options={text: text}), LIBRARY, always),
    ("getRecords shardIterator", lambda env, text, cb: env.consumer().getRecords({"shardIterator": text}, cb), SERVER, None),
    (
        "getRecords options",
        lambda env, text, cb: env.consumer().getRecords({"shardIterator": env.iterator(), text: text}, cb),
        LIBRARY,
        always,
    ),
    ("registerStreamConsumer consumerName", lambda env, text, cb: env.consumer().registerStreamConsumer(text, cb), CHECKED, None),
    ("describeStreamConsumer consumerName", lambda env, text, cb: env.consumer().describeStreamConsumer(text, cb), CHECKED, None),
    ("deregisterStreamConsumer consumerName", lambda env, text, cb: env.consumer().deregisterStreamConsumer(text, cb), CHECKED, None),
    ("subscribeToShard consumerARN", lambda env, text, cb: subscribe(env, cb, consumerARN=text), SERVER, None),
    ("subscribeToShard shardId", lambda env, text, cb: subscribe(env, cb, shardId=text), SERVER, None),
    (
        "subscribeToShard startingSequenceNumber",
        lambda env, text, cb: subscribe(env, cb, type=IT.AT_SEQUENCE_NUMBER, startingSequenceNumber=text),
        CHECKED,
        None,
    ),
]


def subscribe(env, cb, **options):
    """subscribeToShard (moto serves no subscription: the server's answer is an error) of `options` over good ones."""
    good = {"consumerARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1", "shardId": SHARD, "type": IT.LATEST}
    return env.consumer().subscribeToShard(dict(good, **options), lambda *event: False, cb)


def lone_surrogate(text):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.fixture(scope="module")
def env(moto_server, tmp_path_factory):
    return Env(moto_server, new_stream(moto_server, 1), tmp_path_factory.mktemp("leases"))


@pytest.mark.parametrize("name, call, judge, accepted", ARGUMENTS, ids=[row[0] for row in ARGUMENTS])
@FUZZ
@given(text=any_text)
def test_any_string_in_any_argument_gets_one_callback(env, name, call, judge, accepted, text):
    outcome = exactly_one_outcome(lambda cb: call(env, text, cb), server_may_refuse=judge is not LIBRARY)
    judged(name, outcome[0], judge, accepted, text)


def judged(name, err, judge, accepted, text):
    """Check the outcome `err` of `text` against the row's judge and the texts it accepts."""
    if judge is not SERVER and accepted is None and lone_surrogate(text):
        assert err is not None and err.type == ERR.LIBRARY_ERROR, name
    if accepted is not None:
        assert (err is None) == accepted(text), (name, err)


@pytest.fixture(scope="module")
def kinesalite_stream(kinesalite):
    return new_stream(kinesalite, 2)


@pytest.mark.parametrize(
    "hash_key, ok",
    [("0", True), (str(2**128 - 1), True), ("1" + "0" * 38, True), (str(2**128), False), ("007", False), ("00", False),
     ("-1", False), ("+1", False), (" 1", False), ("1 ", False), ("1.0", False), ("1e3", False), ("", False),
     ("\u0661", False), ("1\u0661", False), ("\uff11", False), ("1\n", False), ("9" * 40, False), ("9" * 5000, False)],
)
def test_explicit_hash_key_follows_aws_pattern_and_range(kinesalite, kinesalite_stream, hash_key, ok):
    # on kinesalite: moto answers HTTP 500 to the top key 2^128-1, which AWS takes
    p = producer(kinesalite, kinesalite_stream, retries=0)
    err, result = exactly_one_outcome(lambda cb: p.putRecord(Record(1, "k", hash_key), cb))
    assert (err is None) == ok, err
    if ok:
        assert result.shardId == ("shardId-000000000000" if int(hash_key) < 2**127 else "shardId-000000000001")
    else:
        assert "explicitHashKey" in err.details


HUGE = 10**6


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda env, cb: put(env, cb, 1, "k" * HUGE), "partitionKey"),
        (lambda env, cb: put(env, cb, "x" * HUGE * 2, "k"), "1 MiB"),
        (lambda env, cb: put(env, cb, 1, "k", "9" * HUGE), "explicitHashKey"),
        (lambda env, cb: put(env, cb, 1, "k", None, "9" * HUGE), "prevSequenceNumber"),
        (lambda env, cb: put(env, cb, 10**5000, "k"), "could not be encoded"),
        (lambda env, cb: put(env, cb, 1, "k", encoder=lambda value: "\ud800" * HUGE), "not valid Unicode"),
        (lambda env, cb: env.producer().putRecords([Record(1, "k")] * HUGE, cb), "at most 500"),
        (lambda env, cb: iterator(env, cb, kind=IT.AT_SEQUENCE_NUMBER, options={"startingSequenceNumber": "1" * HUGE}), "starting"),
        (lambda env, cb: iterator(env, cb, kind=IT.AT_TIMESTAMP, options={"timestamp": float("inf")}), "timestamp"),
        (lambda env, cb: env.consumer().getRecords({"shardIterator": "x", "limit": HUGE}, cb), "limit"),
    ],
    ids=["key", "data", "hash key", "prev", "huge int", "encoder", "records", "sequence", "timestamp", "limit"],
)
def test_huge_arguments_are_a_library_error(env, call, words):
    err = exactly_one_outcome(lambda cb: call(env, cb))[0]
    assert err is not None and words in err.details


def test_a_released_memoryview_is_a_library_error(env):
    view = memoryview(b"data")
    view.release()
    err = exactly_one_outcome(lambda cb: put(env, cb, view, "k"))[0]
    assert "bytes" in err.details


@pytest.mark.parametrize(
    "endpoint",
    ["http://\ud800", "http://", "http://127.0.0.1:99999", "http://a\x00b", "http://127.0.0.1:1/ x", "http://[::1"],
)
def test_an_endpoint_that_cannot_be_used_is_a_library_error_on_every_call(env, endpoint):
    p, c = env.producer(endpoint=endpoint), env.consumer(endpoint=endpoint)
    for call in (lambda cb: p.putRecord(Record(1, "k"), cb), lambda cb: p.putRecords([Record(1, "k")], cb), c.getShards):
        err = exactly_one_outcome(call)[0]
        assert err.type == ERR.LIBRARY_ERROR and "endpoint" in err.details


# -- the Worker: its constructor's strings and options ---------------------------------------------------------

# (name, Worker keywords made from the text, judge, accepted(text)) as in ARGUMENTS; a Worker's judge is its start callback
WORKER_ARGUMENTS = [
    ("applicationName", lambda text: {"applicationName": text}, CHECKED, None),
    ("workerId", lambda text: {"workerId": text}, CHECKED, None),
    ("streamName", lambda text: {"streamName": text}, SERVER, None),
    ("region", lambda text: {"region": text}, CHECKED, None),
    ("option name", lambda text: {"options": {text: text}}, LIBRARY, lambda text: text in ("applicationName", "workerId", "timestamp")),
    ("pace", lambda text: {"pace": text}, LIBRARY, lambda text: text in ("slow", "normal", "fast")),
    ("initialPosition", lambda text: {"initialPosition": text}, LIBRARY, lambda text: text in ("TRIM_HORIZON", "LATEST")),
    ("fanOut", lambda text: {"fanOut": text}, LIBRARY, lambda text: re.fullmatch(r"[a-zA-Z0-9_.-]{1,128}", text) is not None),
]


def start_and_stop(env, given):
    """Start a Worker made of `given` on a fresh SQLite store; its start and stop callbacks, one each."""
    path = str(env.folder / (uuid.uuid4().hex + ".sqlite3"))
    args, keywords = env.args(**{k: given.pop(k) for k in ("region", "streamName") if k in given})
    keywords.pop("retries")
    options = dict(leaseDuration=1.0, heartbeatPeriod=0.25, leaseStore=SQLiteLeaseStore(path), isBlob=True)
    options.update(given.pop("options", {}), processRecords=lambda records, cb: cb(None, True), **given)
    worker = AWSKinesisStreams.Worker(*args, options, **keywords)
    started, stopped = OneCallback(), OneCallback()
    errors = []
    worker.start(lambda err: (errors.append(err), started()))
    assert wait_for(lambda: started.calls == 1, 20)
    worker.stop(stopped)
    assert wait_for(lambda: stopped.calls == 1, 20)
    assert started.calls == 1 and stopped.calls == 1
    return errors[0]


@pytest.mark.parametrize("name, given, judge, accepted", WORKER_ARGUMENTS, ids=[row[0] for row in WORKER_ARGUMENTS])
@WORKER_FUZZ
@given(text=any_text)
def test_any_string_in_a_worker_gets_one_start_and_one_stop_callback(env, name, given, judge, accepted, text):
    err = start_and_stop(env, given(text))
    assert err is None or err.type == ERR.LIBRARY_ERROR, err  # the server's say comes later, through onError
    judged(name, err, judge, accepted, text)


@pytest.mark.parametrize(
    "option, value",
    [("leaseDuration", float("nan")), ("leaseDuration", float("inf")), ("leaseDuration", 10**400), ("leaseDuration", "x"),
     ("heartbeatPeriod", "x"), ("stuckAfter", 1e300), ("limit", True), ("pace", []), ("pace", {}), ("maxShards", -1),
     ((1, 2), 3), ("timestamp", float("inf")), ("timestamp", 10**400), ("leaseDuration", None), ("shardSyncPeriod", None)],
)
def test_a_worker_option_of_any_type_is_a_library_error_at_start(env, option, value):
    given = {"options": {option: value}}
    if option == "timestamp":
        given["initialPosition"] = IT.AT_TIMESTAMP
    err = start_and_stop(env, given)
    assert err is not None and err.type == ERR.LIBRARY_ERROR
    assert "Worker wrongly initialized" in err.details


@pytest.mark.parametrize("timeout", ["x", float("nan"), -1, 10**400, float("inf"), [], True])
def test_close_with_any_timeout_returns_and_then_refuses_calls(env, timeout):
    p = env.producer()
    assert p.close(timeout) is True  # nothing in flight: closed at once
    err = exactly_one_outcome(lambda cb: p.putRecord(Record(1, "k"), cb))[0]
    assert "closed" in err.details


class Hostile:
    """A value every question to which raises: its repr, truth, hash, length and equality."""

    def _raise(self, *args):
        raise RuntimeError("hostile")

    __repr__ = __bool__ = __hash__ = __len__ = __eq__ = __iter__ = _raise


@pytest.mark.parametrize(
    "call",
    [
        lambda env, cb: env.producer().putRecord(Hostile(), cb),
        lambda env, cb: put(env, cb, Hostile(), "k"),
        lambda env, cb: put(env, cb, 1, Hostile()),
        lambda env, cb: put(env, cb, 1, "k", Hostile()),
        lambda env, cb: put(env, cb, 1, "k", None, Hostile()),
        lambda env, cb: put(env, cb, 1, "k", encoder=Hostile()),
        lambda env, cb: put(env, cb, 1, "k", encoder=lambda value: Hostile()),
        lambda env, cb: env.producer().putRecords(Hostile(), cb),
        lambda env, cb: iterator(env, cb, Hostile()),
        lambda env, cb: iterator(env, cb, kind=Hostile()),
        lambda env, cb: iterator(env, cb, options=Hostile()),
        lambda env, cb: env.consumer().getRecords(Hostile(), cb),
        lambda env, cb: env.consumer().getRecords({"shardIterator": Hostile()}, cb),
        lambda env, cb: AWSKinesisStreams.Consumer(*env.args()[0], Hostile(), endpoint=env.server.endpoint).getShards(cb),
        lambda env, cb: AWSKinesisStreams.Consumer(*env.args()[0], deaggregate=Hostile(), endpoint=env.server.endpoint).getShards(cb),
    ],
)
def test_a_hostile_value_anywhere_is_a_library_error_that_says_what_is_wrong(env, call):
    err = exactly_one_outcome(lambda cb: call(env, cb))[0]
    assert "internal error" not in err.details and ("(no repr)" in err.details or "Hostile" in err.details)


@pytest.mark.parametrize(
    "use",
    [
        lambda: repr(Record(10**5000, 10**5000)),
        lambda: repr(Record(Hostile(), Hostile())),
        lambda: repr(AWSKinesisStreams.Producer(Hostile(), "k", "s", 10**5000)),
        lambda: AWSKinesisStreams.setDebug(Hostile()),
        lambda: AWSKinesisStreams.Consumer("us-east-1", "k", "s", "x").setDebug(Hostile()),
    ],
)
def test_repr_and_set_debug_never_raise(use):
    use()
    AWSKinesisStreams.setDebug(False)


@pytest.mark.parametrize("option", sorted(set(DEFAULTS) | set(CALLBACKS) - {"leaseStore", "processRecords"}))
def test_a_hostile_worker_option_is_a_library_error_at_start(env, option):
    given = {"options": {option: Hostile()}, "initialPosition": IT.AT_TIMESTAMP} if option == "timestamp" else {option: Hostile()}
    err = start_and_stop(env, given)
    assert err is not None and "Worker wrongly initialized" in err.details


@pytest.mark.parametrize("callback", ["not a function", 5])
def test_a_worker_start_callback_that_is_not_callable_is_reported_and_nothing_starts(env, callback):
    store, errors = SQLiteLeaseStore(str(env.folder / (uuid.uuid4().hex + ".sqlite3"))), []
    args, keywords = env.args()
    keywords.pop("retries")
    options = dict(leaseStore=store, processRecords=lambda records, cb: cb(None, True), onError=lambda shard, err: errors.append(err))
    worker = AWSKinesisStreams.Worker(*args, options, **keywords)
    worker.start(callback)
    assert wait_for(lambda: errors, 5) and errors[0].type == ERR.LIBRARY_ERROR and "callback" in errors[0].details
    stopped = OneCallback()
    worker.stop(stopped)
    assert wait_for(lambda: stopped.calls == 1, 20)
    store.prepare()
    assert store.list(worker.applicationName, env.stream) == []  # never started: no lease was made


@pytest.mark.parametrize(
    "given",
    [{"endpoint": 5}, {"endpoint": "ftp://x"}, {"endpoint": "http://\ud800"}, {"timeout": 5}, {"sessionToken": "\ud800"},
     {"region": "\ud800"}, {"region": "a/b"}, {"accessKeyId": "\u00e9"}, {"secretAccessKey": "\udfff"}, {"table": None}],
)
def test_a_dynamodb_lease_store_made_of_anything_fails_each_call_not_its_constructor(given):
    args = dict(table="t", region="us-east-1", accessKeyId="k", secretAccessKey="s", endpoint="http://127.0.0.1:9")
    args.update(given)
    store = DynamoDBLeaseStore(args.pop("table"), args.pop("region"), args.pop("accessKeyId"), args.pop("secretAccessKey"), **args)
    with pytest.raises(AWSKinesisStreams.Error) as raised:
        store.list("app", "stream")
    assert raised.value.type == ERR.LIBRARY_ERROR and "DynamoDBLeaseStore wrongly initialized" in raised.value.details
    assert "DynamoDBLeaseStore" in repr(store)


@pytest.mark.parametrize(
    "connect, read", [("x", 1), (0, 1), (1, -1), (float("nan"), 1), (1, float("inf")), (True, 1), (1e10, 1), (1, 10**400)]
)
def test_a_timeout_that_is_not_seconds_is_a_library_error_on_every_call(env, connect, read):
    timeout = AWSKinesisStreams.Timeout(connect, read)
    p = AWSKinesisStreams.Producer("us-east-1", "k", "s", env.stream, endpoint=env.server.endpoint, timeout=timeout)
    err = exactly_one_outcome(lambda cb: p.putRecord(Record(1, "k"), cb))[0]
    assert "timeout" in err.details
