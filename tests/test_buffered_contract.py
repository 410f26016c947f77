"""BufferedProducer against the contract's promises, one by one, on real servers: futures after callbacks,
flush and close semantics (also from the library's thread), an exact outstandingRecords, putRecords answered
as Producer.putRecords answers, where each record went, the 1 MiB edge, maxBufferedTime, refused streams and
credentials, debug output, and exactly one outcome per record under concurrent putRecord, flush and close."""

import logging
import threading
import time
import uuid
from collections import Counter

import pytest
from conftest import OneCallback, new_stream, producer, wait_for
from proxy import Proxy, aws_error
from test_buffered_producer import buffered, read_back, user_records

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams, imp
from awskinesisstreams.record import MAX_RECORD_BYTES

Record = AWSKinesisStreams.Record
SECRET_MARK = "SECRETxKEYx"


@pytest.fixture(params=["moto_server", "kinesalite", "kinesis_mock"])
def every_server(request):
    """Each of the three Kinesis implementations the library is checked against, in turn."""
    return request.getfixturevalue(request.param)


def test_each_future_resolves_to_its_callbacks_arguments_after_the_callback_returned(moto_server):
    stream = new_stream(moto_server, 1)
    p = buffered(moto_server, stream, maxBufferedTime=0.05)
    seen = []
    futures = {}
    stored = threading.Event()

    def call(name, method, *args):
        def callback(*outcome):
            assert stored.wait(5)
            time.sleep(0.02)  # a future resolved before the callback returned would show as done here
            seen.append((name, futures[name].done(), outcome))

        futures[name] = method(*args, callback)
        stored.set()
        futures[name].result(10)
        stored.clear()

    call("put", p.putRecord, Record(b"a", "k"))
    call("puts", p.putRecords, [Record(b"b", "k"), Record(b"c", "j")])
    call("flush", p.flush)
    call("refused", p.putRecord, "not a record")
    call("refused list", p.putRecords, [])
    assert p.close(10)
    call("closed", p.putRecord, Record(b"d", "k"))
    assert [name for name, _, _ in seen] == ["put", "puts", "flush", "refused", "refused list", "closed"]
    for name, done_in_callback, outcome in seen:
        assert not done_in_callback, name
        assert futures[name].exception(0) is None and futures[name].result(0) == outcome, name
    assert seen[0][2][0] is None and seen[1][2][:2] == (None, 0) and seen[2][2] == (None,)
    assert [outcome[0].type for _, _, outcome in seen[3:]] == [ERR.LIBRARY_ERROR] * 3


def test_flush_answers_after_every_earlier_record_also_with_nothing_buffered_and_from_the_loop(moto_server):
    stream = new_stream(moto_server, 2)
    p = buffered(moto_server, stream, maxBufferedTime=30.0)
    order = []
    empty = OneCallback()
    assert p.flush(empty).result(10) == (None,) and empty.calls == 1  # nothing buffered: answered at once
    assert p.putRecord(Record(b"map", "k")) and p.flush().result(10) == (None,)  # the shard map is known from here
    for n in range(20):
        p.putRecord(Record(b"%d" % n, "k%d" % n), lambda e, r, n=n: order.append(("record", n, e)))
    first = p.flush(lambda e: order.append(("flush", 1, e)))
    later = p.putRecord(Record(b"later", "k"), lambda e, r: order.append(("record", "later", e)))
    assert first.result(10) == (None,)
    assert sorted(n for kind, n, e in order[:-1]) == list(range(20)) and order[-1] == ("flush", 1, None)
    assert all(e is None for _, _, e in order) and not later.done()  # given after the flush: not waited for

    inside = []

    def flushes_from_its_callback(error, result):  # on the library's thread: one flush with a record left, one empty
        inside.append(p.flush(lambda e: order.append(("flush", "inside", e))))

    p.putRecord(Record(b"x", "k"), flushes_from_its_callback)
    assert p.flush().result(10) == (None,)
    assert wait_for(lambda: inside and inside[0].done()) and inside[0].result(0) == (None,)
    assert later.result(0)[0] is None  # the outer flush sent it: given before
    assert imp.wakeup(0, lambda: inside.append(p.flush())) and wait_for(lambda: len(inside) == 2)
    assert inside[1].result(10) == (None,)

    many = [p.flush() for _ in range(500)]  # flushes in a row, each with records before it: in order, at once
    for n in range(500):
        p.putRecord(Record(b"m", "k%d" % (n % 7)))
        many.append(p.flush())
    assert all(f.result(20) == (None,) for f in many) and p.close(10)


def test_outstanding_records_counts_given_and_not_yet_answered_at_every_moment(moto_server):
    stream = new_stream(moto_server, 2)
    p = buffered(moto_server, stream, maxBufferedTime=30.0)
    assert p.outstandingRecords == 0
    during = []
    futures = [p.putRecord(Record(b"r", "k%d" % n), lambda e, r: during.append(p.outstandingRecords)) for n in range(40)]
    assert p.outstandingRecords == 40
    batch = p.putRecords([Record(b"s", "k%d" % n) for n in range(5)], lambda e, f, rs: during.append(("batch", p.outstandingRecords)))
    assert p.outstandingRecords == 45
    assert p.putRecord("wrong").result(10)[0].type is ERR.LIBRARY_ERROR and p.putRecords([1]).result(10)[1] == 1
    assert p.outstandingRecords == 45  # a refused call gives nothing to the buffer
    assert p.flush().result(10) == (None,)
    numbers = [n for n in during if not isinstance(n, tuple)]
    assert sorted(numbers, reverse=True) == numbers and len(set(numbers)) == 40 and min(numbers) >= 0
    assert during.count(("batch", min(numbers))) <= 1 and p.outstandingRecords == 0
    assert all(f.done() for f in futures) and batch.done()
    one = p.putRecord(Record(b"t", "k"))
    assert p.outstandingRecords == 1
    p.flush()
    assert one.result(5)[0] is None
    assert p.outstandingRecords == 0  # its future resolved: it was answered before
    assert p.close(10) and p.outstandingRecords == 0


TIMEOUTS = [None, 10, 10.0, 10**400, float("inf"), float("nan"), -1, "x", True, []]


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=["none", "10", "10.0", "10**400", "inf", "nan", "-1", "x", "True", "[]"])
def test_close_returns_a_bool_for_any_timeout_and_then_refuses_records_through_the_callback(moto_server, timeout):
    stream = new_stream(moto_server, 1)
    p = buffered(moto_server, stream, maxBufferedTime=30.0)
    sent = p.putRecord(Record(b"x", "k"))
    closed = p.close(timeout)
    assert closed is True or (closed is False and timeout in (-1, "x", True, []) or timeout != timeout)
    assert sent.result(10)[0] is None and p.close(10) is True and p.outstandingRecords == 0
    callback = OneCallback()
    error, result = p.putRecord(Record(b"y", "k"), callback).result(10)
    assert callback.calls == 1 and error.type is ERR.LIBRARY_ERROR and "closed" in error.details and result is None
    error, failed, results = p.putRecords([Record(b"y", "k")]).result(10)
    assert error.type is ERR.LIBRARY_ERROR and "closed" in error.details and (failed, results) == (1, [])


def test_close_from_the_loop_thread_returns_at_once_and_a_held_server_makes_close_time_out(moto_server):
    stream = new_stream(moto_server, 1)
    release = threading.Event()
    with Proxy(moto_server.endpoint, rule=lambda call: (release.wait(20), None)[1] if call.action == "PutRecords" else None) as proxy:
        p = buffered(moto_server, stream, proxy.endpoint)
        answers = []
        imp.wakeup(0, lambda: answers.append(p.putRecord(Record(b"x", "k"))) or answers.append(p.close()))
        assert wait_for(lambda: len(answers) == 2, 10) and answers[1] is False  # the loop cannot wait for itself
        started = time.monotonic()
        assert p.close(0.5) is False and time.monotonic() - started < 3  # the write is held: not answered yet
        release.set()
        assert p.close(20) is True and answers[0].result(0)[0] is None


def test_the_context_manager_flushes_waits_and_closes(moto_server):
    stream = new_stream(moto_server, 1)
    with buffered(moto_server, stream, maxBufferedTime=30.0) as p:
        futures = [p.putRecord(Record(b"%d" % n, "k")) for n in range(10)]
    assert all(f.done() and f.result(0)[0] is None for f in futures) and p.outstandingRecords == 0
    assert p.putRecord(Record(b"x", "k")).result(10)[0].type is ERR.LIBRARY_ERROR


WRONG_LISTS = [[], (Record(b"x", "k"),), "records", None, 5, [Record(b"x", "k"), None], [Record(b"x", "")],
               [Record(b"x", "k", "007")], [Record(float("nan"), "k")], [Record(b"x", "\ud800")]]


@pytest.mark.parametrize("records", WRONG_LISTS, ids=range(len(WRONG_LISTS)))
def test_put_records_refuses_what_producer_put_records_refuses_with_the_same_answer(moto_server, records):
    stream = new_stream(moto_server, 1)
    p = buffered(moto_server, stream)
    error, failed, results = p.putRecords(records).result(10)
    plain_error, plain_failed, plain_results = producer(moto_server, stream).putRecords(records).result(10)
    assert error.type is plain_error.type is ERR.LIBRARY_ERROR
    assert (failed, results) == (plain_failed, plain_results) == (len(records) if isinstance(records, list) else 0, [])
    assert p.outstandingRecords == 0 and p.close(5)


@pytest.mark.parametrize("aggregate", [True, False])
def test_results_in_order_name_the_kinesis_record_and_hash_keys_pick_the_shard(every_server, aggregate):
    stream = new_stream(every_server, 4)
    quarter = 2**126
    records = [Record(b"%d" % n, "key-%d" % n, str(quarter * (n % 4) + n) if n % 2 else None) for n in range(40)]
    with buffered(every_server, stream, aggregate=aggregate) as p:
        error, failed, results = p.putRecords(records).result(15)
        single = p.putRecord(Record(b"alone", "z", str(3 * quarter))).result(15)[1]
    assert error is None and failed == 0 and len(results) == 40
    assert single.shardId == "shardId-000000000003"
    at, _ = user_records(read_back(every_server, stream))
    for n, (record, result) in enumerate(zip(records, results)):
        assert isinstance(result.subSequenceNumber, int) and (aggregate or result.subSequenceNumber == 0)
        assert at[result.shardId, result.sequenceNumber, result.subSequenceNumber] == ("key-%d" % n, b"%d" % n)
        if record.explicitHashKey is not None:
            assert result.shardId == "shardId-00000000000%d" % (n % 4)


@pytest.mark.parametrize("aggregate", [True, False])
def test_a_record_of_one_mib_with_its_key_goes_alone_and_one_byte_more_is_refused(every_server, aggregate):
    stream = new_stream(every_server, 1)
    key = "k" * 256
    with buffered(every_server, stream, aggregate=aggregate) as p:
        small = p.putRecord(Record(b"small", "s"))
        big = p.putRecord(Record(b"b" * (MAX_RECORD_BYTES - len(key)), key))
        over = p.putRecord(Record(b"o" * (MAX_RECORD_BYTES - len(key) + 1), key))
        error, result = big.result(30)
    assert error is None and result.subSequenceNumber == 0 and small.result(0)[0] is None
    assert over.result(0)[0].type is ERR.LIBRARY_ERROR and "1 MiB" in over.result(0)[0].details
    found = {record["SequenceNumber"]: record for _, record in read_back(every_server, stream)}
    assert found[result.sequenceNumber]["Data"] == b"b" * (MAX_RECORD_BYTES - len(key))  # whole, not aggregated


def test_a_lone_record_goes_within_max_buffered_time(moto_server):
    stream = new_stream(moto_server, 1)
    p = buffered(moto_server, stream, maxBufferedTime=0.5)
    assert p.flush().result(10) == (None,) and p.putRecord(Record(b"map", "k")) and p.flush().result(10)  # map known
    stamps = []
    started = time.monotonic()
    p.putRecord(Record(b"x", "k"), lambda e, r: stamps.append((time.monotonic() - started, e)))
    assert wait_for(lambda: stamps, 10)
    assert 0.45 <= stamps[0][0] < 2.0 and stamps[0][1] is None  # sent by the timer, not by a flush
    assert p.close(5)


@pytest.mark.parametrize("aggregate", [True, False])
def test_a_stream_that_does_not_exist_fails_each_record_once_at_once(every_server, aggregate):
    p = buffered(every_server, "no-such-stream-%d" % time.time_ns(), aggregate=aggregate)
    outcomes = Counter()
    started = time.monotonic()
    futures = [p.putRecord(Record(b"x", "k%d" % n), lambda e, r: outcomes.update([e.awsErrorType])) for n in range(30)]
    batch = p.putRecords([Record(b"y", "k"), Record(b"z", "j")])
    assert p.flush().result(10) == (None,) and p.close(10)
    assert time.monotonic() - started < 5  # refused for good: not retried until recordTtl
    assert outcomes == {"ResourceNotFoundException": 30}
    assert all(f.result(0)[0].type is ERR.REQUEST_FAILED and f.result(0)[0].httpStatus == 400 for f in futures)
    error, failed, results = batch.result(0)
    assert error is None and failed == 2 and [r.errorCode for r in results] == ["ResourceNotFoundException"] * 2


@pytest.mark.parametrize("action", ["", "PutRecords"])
def test_credentials_the_server_refuses_fail_each_record_once_at_once(moto_server, action):
    stream = new_stream(moto_server, 1)
    refuse = lambda call: aws_error(403, "UnrecognizedClientException", "The security token included in the request is invalid") \
        if not action or call.action == action else None  # noqa: E731
    with Proxy(moto_server.endpoint, rule=refuse) as proxy:
        p = buffered(moto_server, stream, proxy.endpoint)
        started = time.monotonic()
        futures = [p.putRecord(Record(b"x", "k%d" % n)) for n in range(20)]
        assert p.close(10) and time.monotonic() - started < 5
    errors = [f.result(0)[0] for f in futures]
    assert all(e.type is ERR.REQUEST_FAILED and e.httpStatus == 403 and e.awsErrorType == "UnrecognizedClientException" for e in errors)


def test_set_debug_on_the_instance_logs_its_work_and_never_a_secret(moto_server, caplog):
    stream = new_stream(moto_server, 1)
    secret = SECRET_MARK + "wJalrXUtnFEMI"
    p = AWSKinesisStreams.BufferedProducer(moto_server.region, "AKIDTEST", secret, stream, endpoint=moto_server.endpoint,
                                           sessionToken=SECRET_MARK + "token")
    try:
        with caplog.at_level(logging.DEBUG, logger="awskinesisstreams"):
            p.setDebug(True)
            assert logging.getLogger("awskinesisstreams").isEnabledFor(logging.DEBUG)
            assert p.putRecord(Record(b"x", "k")).result(10)[0] is None
            p.putRecord("wrong").result(10)
    finally:
        p.setDebug(False)
    assert not logging.getLogger("awskinesisstreams").isEnabledFor(logging.DEBUG)
    assert any("PutRecords" in r.getMessage() for r in caplog.records)
    shown = "\n".join(r.getMessage() for r in caplog.records) + repr(p) + str(p.__dict__.get("_kinesis"))
    assert SECRET_MARK not in shown and "BufferedProducer" in repr(p) and p.close(5)


def test_many_threads_putting_while_another_flushes_and_closes_get_one_outcome_each(kinesalite):
    stream = new_stream(kinesalite, 2)
    p = buffered(kinesalite, stream, maxBufferedBytes=60000, maxBufferedTime=0.02)
    outcomes = Counter()
    lock = threading.Lock()
    futures = []
    go = threading.Event()

    def writer(w):
        go.wait(5)
        for n in range(400):
            tag = (w, n)
            future = p.putRecord(Record({"w": w, "n": n}, "k%d-%d" % (w, n % 9)), lambda e, r, tag=tag: record(tag, e))
            with lock:
                futures.append(future)

    def record(tag, error):
        with lock:
            outcomes[tag, None if error is None else error.type] += 1

    def closer():
        go.wait(5)
        for _ in range(20):
            p.flush()
            time.sleep(0.01)
        closed.append(p.close(30))

    closed = []
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)] + [threading.Thread(target=closer)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(40)
    assert not any(thread.is_alive() for thread in threads) and closed == [True]
    # a record given while close ran may be refused (LIBRARY_ERROR) after close returned: its callback follows at once
    assert wait_for(lambda: all(f.done() for f in futures), 5) and len(futures) == 2400
    per_record = Counter(tag for tag, _ in outcomes.elements())
    assert len(per_record) == 2400 and set(per_record.values()) == {1}
    kinds = Counter(kind for _, kind in outcomes)
    assert set(kinds) <= {None, ERR.LIBRARY_ERROR} and kinds[None] > 0  # written, or refused once closed
    assert p.outstandingRecords == 0
    _, ordered = user_records(read_back(kinesalite, stream))
    assert len(ordered) == kinds[None]  # every success is in the stream, once


def test_put_records_on_the_loop_thread_gets_buffer_full_when_the_list_cannot_fit_even_an_empty_buffer(moto_server):
    stream = new_stream(moto_server, 1)
    p = buffered(moto_server, stream, maxBufferedBytes=3000)
    records = [Record(b"x" * 500, "k%d" % n) for n in range(3)]
    on_loop = []
    imp.wakeup(0, lambda: on_loop.append(p.putRecords(records)))
    assert wait_for(lambda: on_loop and on_loop[0].done())
    error, failed, results = on_loop[0].result(0)
    assert error.type is ERR.LIBRARY_ERROR and "buffer full" in error.details and (failed, results) == (3, [])
    assert p.putRecords(records).result(15)[:2] == (None, 0)  # off the loop it waits for room instead
    assert p.close(10)


def test_while_the_shard_map_is_rebuilt_the_timer_does_not_spin(moto_server):
    stream = new_stream(moto_server, 1)

    def elsewhere(call, status, payload):  # every record "lands" in a shard the map does not have: the map is rebuilt each time
        return payload.replace(b"shardId-000000000000", b"shardId-000000000009") if call.action == "PutRecords" else payload

    with Proxy(moto_server.endpoint, on_answer=elsewhere) as proxy:
        p = buffered(moto_server, stream, proxy.endpoint, aggregate=False, maxBufferedTime=0.01)
        sender = p._sender
        ticks = []
        tick = sender._tick
        sender._tick = lambda: (ticks.append(1), tick())
        futures = [p.putRecord(Record(b"x", "k%d" % n)) for n in range(2000)]  # four requests, each then a ListShards
        assert p.close(20)
        listings = proxy.actions().count("ListShards")
    assert all(f.result(0)[0] is None for f in futures) and listings >= 4
    assert len(ticks) < 50, len(ticks)  # a timer armed for records that cannot go until the map is back would fire ~1000/s


def test_records_that_never_get_a_shard_map_fail_at_record_ttl_with_the_last_error(moto_server):
    stream = new_stream(moto_server, 1)
    failing = lambda call: aws_error(503, "ServiceUnavailable", "try later") if call.action == "ListShards" else None  # noqa: E731
    with Proxy(moto_server.endpoint, rule=failing) as proxy:
        p = buffered(moto_server, stream, proxy.endpoint, recordTtl=1.0)
        started = time.monotonic()
        futures = [p.putRecord(Record(b"x", "k%d" % n)) for n in range(10)]
        assert p.close(10)
        elapsed = time.monotonic() - started
        listings = proxy.actions().count("ListShards")
    errors = [f.result(0)[0] for f in futures]
    assert 1.0 <= elapsed < 5 and listings >= 2  # retried with backoff, given up at recordTtl
    assert all(e.type is ERR.REQUEST_FAILED and "recordTtl" in e.details and e.httpStatus == 503 for e in errors)
    assert all(e.awsErrorType == "ServiceUnavailable" for e in errors)


def test_a_missing_stream_fails_its_records_then_lists_no_more(moto_server):
    with Proxy(moto_server.endpoint) as proxy:
        p = buffered(moto_server, "missing-" + uuid.uuid4().hex[:8], proxy.endpoint, recordTtl=1.0)
        error = p.putRecord(Record(1, "k")).result(10)[0]
        assert error.type is ERR.REQUEST_FAILED and error.awsErrorType == "ResourceNotFoundException"
        assert imp.run(3)  # idle: nothing left to list the shards for
        time.sleep(0.3)
        assert proxy.actions().count("ListShards") == 1
        assert p.close(5)
