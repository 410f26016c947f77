"""The Retry policy: its arithmetic, what it retries and what never, and putRecords resending only failed records."""

import itertools
import json
import logging

import pytest

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWSKinesisStreams
from awskinesisstreams.local import free_port
from awskinesisstreams.transport.retry import Retry
from proxy import Faults, Proxy, Reply, aws_error

Record = AWSKinesisStreams.Record


def quiet(total, **kwargs):
    """A policy on a fake clock that its sleeps move forward at once; and the list of those sleeps."""
    sleeps = []
    return Retry(total, sleep=sleeps.append, clock=lambda: sum(sleeps), **kwargs), sleeps


def test_backoff_is_capped_exponential_with_full_jitter():
    top = Retry(6, backoff=0.1, cap=1.0, random=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    half = Retry(3, backoff=0.1, cap=1.0, random=lambda: 0.5)
    assert half.delay(3) == pytest.approx(0.2)
    assert Retry(3, random=lambda: 0.0).delay(3) == 0.0
    assert Retry(5000, cap=3.0, random=lambda: 1.0).delay(4000) == 3.0  # no overflow however many retries


def test_attempts_stop_at_the_count_and_at_the_budget():
    policy, sleeps = quiet(3, backoff=1.0, cap=1.0, random=lambda: 1.0)
    attempts = policy.start()
    assert [attempts.wait("X", "why") for _ in range(5)] == [True, True, True, False, False]
    assert sleeps == [1.0, 1.0, 1.0]
    over, sleeps = quiet(3, backoff=1.0, cap=1.0, budget=1.5, random=lambda: 1.0)
    attempts = over.start()
    assert [attempts.wait("X", "why") for _ in range(3)] == [True, False, False]
    assert Retry(0).start().wait("X", "why") is False


def test_policy_is_immutable_and_checked():
    policy = Retry(2)
    with pytest.raises(AttributeError):
        policy.total = 5
    for wrong in ({"total": -1}, {"total": True}, {"backoff": -0.1}, {"budget": "1"}, {"cap": float("nan")}):
        with pytest.raises(ValueError):
            Retry(**wrong)
    assert Retry.of(None) == Retry() and Retry.of(4) == Retry(4) and Retry.of(policy) is policy


@pytest.mark.parametrize("retries", [-1, True, "3", 1.5, object()])
def test_wrong_retries_keyword_is_a_library_error(retries):
    p = AWSKinesisStreams.Producer("us-east-1", "k", "s", "stream", endpoint="http://127.0.0.1:9", retries=retries)
    err, result = p.putRecord(Record(1, "k")).result(5)
    assert err.type == ERR.LIBRARY_ERROR and "retries" in err.details and result is None


def failing_first(n, reply):
    """A proxy rule answering `reply` to the first `n` calls, then forwarding."""
    counter = itertools.count()
    return lambda call: reply if next(counter) < n else None


@pytest.mark.parametrize(
    "reply",
    [
        aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard"),
        aws_error(400, "LimitExceededException", "Rate exceeded"),
        aws_error(400, "KMSThrottlingException", "KMS is busy"),
        aws_error(500, "InternalFailure", "oops"),
        aws_error(502, "BadGateway", "oops"),
        aws_error(503, "ServiceUnavailable", "oops"),
        aws_error(504, "GatewayTimeout", "oops"),
    ],
    ids=lambda reply: "%d-%s" % (reply.status, reply.body["__type"]),
)
def test_throttles_and_5xx_are_retried_until_success(moto_server, stream, reply):
    policy, sleeps = quiet(3)
    with Proxy(moto_server.endpoint, rule=failing_first(2, reply)) as proxy:
        p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=policy)
        err, result = p.putRecord(Record({"n": 1}, "k")).result(10)
    assert err is None and result.sequenceNumber
    assert proxy.actions() == ["PutRecord"] * 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "reply",
    [
        aws_error(400, "ValidationException", "bad"),
        aws_error(400, "ResourceNotFoundException", "no stream"),
        aws_error(400, "ExpiredIteratorException", "expired"),
        aws_error(403, "AccessDeniedException", "no"),
        aws_error(404, "UnknownOperationException", "no"),
        aws_error(501, "NotImplemented", "no"),
        Reply(200, b"not json"),
    ],
    ids=lambda reply: "%d-%s" % (reply.status, reply.body["__type"] if isinstance(reply.body, dict) else "garbled"),
)
def test_other_failures_are_never_retried(moto_server, stream, reply):
    policy, sleeps = quiet(3)
    with Proxy(moto_server.endpoint, rule=failing_first(5, reply)) as proxy:
        p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=policy)
        err, result = p.putRecord(Record({"n": 1}, "k")).result(10)
    assert err is not None and err.httpStatus == reply.status
    assert proxy.actions() == ["PutRecord"] and sleeps == []


def test_retries_zero_turns_retrying_off_and_budget_runs_out(moto_server, stream):
    throttle = aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded")
    with Proxy(moto_server.endpoint, rule=failing_first(99, throttle)) as proxy:
        off = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=0)
        err, _ = off.putRecord(Record(1, "k")).result(10)
        assert err.awsErrorType == "ProvisionedThroughputExceededException" and proxy.actions() == ["PutRecord"]
        policy, sleeps = quiet(50, backoff=1.0, cap=1.0, budget=3.5, random=lambda: 1.0)
        budgeted = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=policy)
        err, _ = budgeted.putRecord(Record(1, "k")).result(10)
    assert err.type == ERR.REQUEST_FAILED and sleeps == [1.0, 1.0, 1.0]


def test_no_answer_at_all_is_retried_and_then_reported():
    policy, sleeps = quiet(2)
    p = AWSKinesisStreams.Producer("us-east-1", "k", "s", "x", endpoint="http://127.0.0.1:%d" % free_port(), retries=policy)
    err, _ = p.putRecord(Record(1, "k")).result(10)
    assert err.type == ERR.REQUEST_FAILED and err.httpStatus is None and "connection failed" in err.details
    assert len(sleeps) == 2


def test_consumer_calls_are_retried_too(moto_server, stream):
    policy, sleeps = quiet(3)
    throttle = aws_error(400, "LimitExceededException", "Rate exceeded")
    with Proxy(moto_server.endpoint, rule=failing_first(1, throttle)) as proxy:
        c = AWSKinesisStreams.Consumer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=policy)
        err, shards = c.getShards(None).result(10)
    assert err is None and shards == ["shardId-000000000000"] and len(sleeps) == 1


def test_retries_show_in_debug_output(moto_server, stream, caplog):
    throttle = aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard")
    with Proxy(moto_server.endpoint, rule=failing_first(1, throttle)) as proxy:
        p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=quiet(2)[0])
        AWSKinesisStreams.setDebug(True)
        try:
            with caplog.at_level(logging.DEBUG, logger="awskinesisstreams"):
                err, _ = p.putRecord(Record(1, "k")).result(10)
        finally:
            AWSKinesisStreams.setDebug(False)
    assert err is None
    assert any("PutRecord: retry 1 of 2" in m and "ProvisionedThroughputExceededException" in m for m in caplog.messages)


def put_batch(endpoint, stream, policy, count=10):
    p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=endpoint, retries=policy)
    records = [Record({"i": i}, "pk-%d" % i) for i in range(count)]
    return p.putRecords(records).result(20)


def sent_keys(proxy):
    return [[r["PartitionKey"] for r in call.body["Records"]] for call in proxy.calls if call.action == "PutRecords"]


def test_put_records_resends_only_failed_records_in_order(moto_server, stream):
    faults = Faults(fail_records=0.5, seed=7, actions=frozenset({"PutRecords"}))
    with Proxy(moto_server.endpoint, faults=faults) as proxy:
        err, failed, results = put_batch(proxy.endpoint, stream, quiet(20)[0])
    assert err is None and failed == 0 and proxy.injected["fail_records"] > 0
    rounds = sent_keys(proxy)
    assert len(rounds) > 1 and rounds[0] == ["pk-%d" % i for i in range(10)]
    for earlier, later in zip(rounds, rounds[1:]):
        assert len(later) <= len(earlier) and later == [key for key in earlier if key in later]
    assert all(r.errorCode is None and r.sequenceNumber for r in results)
    assert len({r.sequenceNumber for r in results}) == 10
    numbers = [int(r.sequenceNumber) for r in results]
    assert sorted(numbers) != numbers  # resent records landed after the others, yet results are in input order


def test_put_records_counts_only_final_failures(moto_server, stream):
    faults = Faults(fail_records=0.5, seed=3, actions=frozenset({"PutRecords"}))
    with Proxy(moto_server.endpoint, faults=faults) as proxy:
        err, failed, results = put_batch(proxy.endpoint, stream, quiet(1)[0])
    rounds = sent_keys(proxy)
    assert err is None and len(rounds) == 2
    final = [r for r in results if r.errorCode is not None]
    assert failed == len(final) > 0 and len(final) < len(rounds[1])
    assert all(r.errorCode == "ProvisionedThroughputExceededException" and r.errorMessage for r in final)


def test_put_records_round_failing_outright_fails_only_its_records(moto_server, stream):
    counter = itertools.count()

    def second_call_refused(call):
        return aws_error(400, "ValidationException", "refused") if next(counter) == 1 else None

    faults = Faults(fail_records=0.3, seed=5, actions=frozenset({"PutRecords"}))
    with Proxy(moto_server.endpoint, rule=second_call_refused, faults=faults) as proxy:
        err, failed, results = put_batch(proxy.endpoint, stream, quiet(3)[0])
    rounds = sent_keys(proxy)
    assert err is None and len(rounds) == 2
    refused = [r for r in results if r.errorCode is not None]
    assert len(refused) == failed == len(rounds[1]) > 0
    assert all(r.errorCode == "ValidationException" for r in refused)
    assert sum(1 for r in results if r.sequenceNumber) == 10 - failed


def test_put_records_whole_request_throttled_is_retried(moto_server, stream):
    throttle = aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded")
    with Proxy(moto_server.endpoint, rule=failing_first(2, throttle)) as proxy:
        err, failed, results = put_batch(proxy.endpoint, stream, quiet(3)[0], 3)
    assert err is None and failed == 0 and len(results) == 3 and len(sent_keys(proxy)) == 3
    assert json.loads(proxy.calls[-1].raw)["StreamName"] == stream


def test_default_policy_retries_three_times(moto_server, stream):
    throttle = aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded")
    for failures, succeeds in ((3, True), (4, False)):
        with Proxy(moto_server.endpoint, rule=failing_first(failures, throttle)) as proxy:
            p = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint)
            err, _ = p.putRecord(Record(1, "k")).result(10)
        assert (err is None) == succeeds and proxy.actions() == ["PutRecord"] * 4
