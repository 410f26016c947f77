"""Enhanced fan-out on kinesis-mock: stream consumers and subscribeToShard, end to end."""

import json
import threading
import time

import pytest

from awskinesisstreams import AWSKinesisStreams, AWS_KINESIS_STREAMS_ERROR as ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from conftest import consumer, new_stream, producer, wait_for

SHARD = "shardId-000000000000"


@pytest.fixture
def mock_stream(kinesis_mock):
    return new_stream(kinesis_mock, 1)


def registered(server, stream, name="app", **kwargs):
    """A Consumer of `stream` and the description of its registered stream consumer `name`."""
    reader = consumer(server, stream, **kwargs)
    error, description = reader.registerStreamConsumer(name, None).result(60)
    assert error is None, error
    return reader, description


def put(server, stream, values):
    writer = producer(server, stream)
    for value in values:
        error, _ = writer.putRecord(AWSKinesisStreams.Record(value, "key"), None).result(30)
        assert error is None, error


def subscribe(reader, options, on_event, retries=20):
    """subscribeToShard, again after a ResourceInUseException (AWS's answer within 5 s of the last subscription)."""
    for _ in range(retries):
        outcome = reader.subscribeToShard(options, on_event, None).result(60)
        error = outcome[0]
        if error is None or error.awsErrorType != "ResourceInUseException":
            return outcome
        time.sleep(0.5)
    return outcome


def test_consumer_lifecycle(kinesis_mock, mock_stream):
    reader = consumer(kinesis_mock, mock_stream)
    name = "app-" + mock_stream  # kinesis-mock can leave a deregistered name DELETING where other streams use it
    assert reader.listStreamConsumers(None).result(30) == (None, [])
    error, first = reader.registerStreamConsumer(name, None).result(60)
    assert error is None
    assert first["consumerName"] == name and first["consumerStatus"] == "ACTIVE"
    assert first["consumerARN"].startswith("arn:aws:kinesis:") and "/consumer/%s:" % name in first["consumerARN"]
    assert isinstance(first["consumerCreationTimestamp"], int) and abs(first["consumerCreationTimestamp"] - time.time()) < 600
    assert reader.registerStreamConsumer(name, None).result(60) == (None, first)  # an existing name, as it is
    assert reader.describeStreamConsumer(name, None).result(30) == (None, first)
    error, other = reader.registerStreamConsumer("other.app-2", None).result(60)
    assert error is None
    error, listed = reader.listStreamConsumers(None).result(30)
    assert error is None and sorted(d["consumerARN"] for d in listed) == sorted([first["consumerARN"], other["consumerARN"]])
    assert reader.deregisterStreamConsumer(name, None).result(30) == (None,)
    assert wait_for(lambda: [d["consumerName"] for d in reader.listStreamConsumers(None).result(30)[1]] == ["other.app-2"])
    error, _ = reader.describeStreamConsumer(name, None).result(30)
    assert error.type == ERROR.REQUEST_FAILED and error.awsErrorType == "ResourceNotFoundException"


def through_proxy(stream, proxy):
    return AWSKinesisStreams.Consumer("us-east-1", "testing", "testing", stream, endpoint=proxy.endpoint)


def test_the_stream_arn_is_looked_up_once(kinesis_mock, mock_stream):
    from stream_proxy import StreamProxy

    with StreamProxy(kinesis_mock.endpoint) as proxy:
        reader = through_proxy(mock_stream, proxy)
        reader.registerStreamConsumer("app", None).result(60)
        reader.describeStreamConsumer("app", None).result(30)
        reader.listStreamConsumers(None).result(30)
        assert proxy.calls.count("DescribeStreamSummary") == 1
        assert proxy.calls[0] == "DescribeStreamSummary"



def test_register_waits_with_growing_pauses_while_the_consumer_is_creating(kinesis_mock, mock_stream):
    """kinesis-mock (0 ms here) has a consumer ACTIVE at once; the proxy shows it CREATING, as AWS does for seconds."""
    from proxy import Proxy

    answers = []

    def creating_three_times(call, status, payload):
        if call.action in ("RegisterStreamConsumer", "DescribeStreamConsumer"):
            answers.append(time.monotonic())
            if len(answers) <= 3:
                return payload.replace(b'"ACTIVE"', b'"CREATING"')
        return payload

    with Proxy(kinesis_mock.endpoint, on_answer=creating_three_times) as proxy:
        error, description = through_proxy(mock_stream, proxy).registerStreamConsumer("app", None).result(60)
        actions = proxy.actions()
    assert error is None and description["consumerStatus"] == "ACTIVE"
    assert actions == ["DescribeStreamSummary", "RegisterStreamConsumer"] + ["DescribeStreamConsumer"] * 3
    pauses = [later - earlier for earlier, later in zip(answers, answers[1:])]
    assert pauses[0] >= 0.05 and pauses[1] >= 0.1 and pauses[2] >= 0.2  # each pause twice the last


def test_register_waits_out_a_consumer_still_deleting_then_registers_it_anew(kinesis_mock, mock_stream):
    """AWS keeps a deregistered consumer DELETING for seconds, refusing its name meanwhile; kinesis-mock drops it at once."""
    from proxy import Proxy, Reply, aws_error

    old = {"ConsumerName": "app", "ConsumerARN": "arn:aws:kinesis:old/consumer/app:1", "ConsumerStatus": "DELETING",
           "ConsumerCreationTimestamp": 1, "StreamARN": "arn:aws:kinesis:old"}
    refused = []  # when each RegisterStreamConsumer was refused; the third goes to the server

    def deleting_twice(call):
        if call.action == "RegisterStreamConsumer":
            refused.append(time.monotonic())
            return aws_error(400, "ResourceInUseException", "Consumer app exists") if len(refused) <= 2 else None
        if call.action == "DescribeStreamConsumer" and len(refused) <= 2:
            return Reply(200, {"ConsumerDescription": old})
        return None

    with Proxy(kinesis_mock.endpoint, rule=deleting_twice) as proxy:
        error, description = through_proxy(mock_stream, proxy).registerStreamConsumer("app", None).result(60)
        actions = proxy.actions()
    assert error is None and description["consumerStatus"] == "ACTIVE"
    assert description["consumerARN"] != old["ConsumerARN"]
    assert actions[:6] == ["DescribeStreamSummary"] + ["RegisterStreamConsumer", "DescribeStreamConsumer"] * 2 + ["RegisterStreamConsumer"]
    assert set(actions[6:]) <= {"DescribeStreamConsumer"}  # kinesis-mock may answer CREATING first
    assert refused[1] - refused[0] >= 0.05  # a pause between tries
    error, now = consumer(kinesis_mock, mock_stream).describeStreamConsumer("app", None).result(30)
    assert error is None and now["consumerARN"] == description["consumerARN"]


def test_register_on_a_busy_stream_gives_the_refusal_not_a_missing_consumer(kinesis_mock, mock_stream):
    """AWS answers ResourceInUseException both for a name that exists and for a stream that is not ACTIVE."""
    from proxy import Proxy, aws_error

    def busy(call):
        if call.action == "RegisterStreamConsumer":
            return aws_error(400, "ResourceInUseException", "Stream is UPDATING")
        return None

    with Proxy(kinesis_mock.endpoint, rule=busy) as proxy:
        error, description = through_proxy(mock_stream, proxy).registerStreamConsumer("app", None).result(60)
        actions = proxy.actions()
    assert error.type == ERROR.REQUEST_FAILED and error.awsErrorType == "ResourceInUseException"
    assert "UPDATING" in error.details and description is None
    assert actions == ["DescribeStreamSummary", "RegisterStreamConsumer", "DescribeStreamConsumer"]


def test_list_stream_consumers_reads_every_page(kinesis_mock, mock_stream):
    """The proxy pages kinesis-mock's whole list one consumer a page (kinesis-mock's own paging drops some)."""
    from proxy import Proxy

    names = ["c%d" % n for n in range(4)]
    reader = consumer(kinesis_mock, mock_stream)
    assert all(reader.registerStreamConsumer(name, None).result(60)[0] is None for name in names)

    def whole_list(call):
        if call.action == "ListStreamConsumers":
            call.raw = json.dumps({"StreamARN": call.body["StreamARN"]}).encode()

    def one_a_page(call, status, payload):
        if call.action != "ListStreamConsumers" or status != 200:
            return payload
        consumers, at = json.loads(payload)["Consumers"], int(call.body.get("NextToken", 0))
        page = {"Consumers": consumers[at : at + 1]}
        if at + 1 < len(consumers):
            page["NextToken"] = str(at + 1)
        return json.dumps(page).encode()

    with Proxy(kinesis_mock.endpoint, rule=whole_list, on_answer=one_a_page) as proxy:
        error, listed = through_proxy(mock_stream, proxy).listStreamConsumers(None).result(30)
        pages = [call.body for call in proxy.calls if call.action == "ListStreamConsumers"]
    assert error is None and sorted(d["consumerName"] for d in listed) == names
    assert [page.get("NextToken") for page in pages] == [None, "1", "2", "3"]
    assert all(page["StreamARN"] == pages[0]["StreamARN"] for page in pages)


def test_order_and_continuation_across_a_resubscription(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream)
    put(kinesis_mock, mock_stream, range(10))
    got = []
    continuations = []

    def first(records, millis, continuation):
        got.extend(records)
        continuations.append(continuation)
        return not records  # end after the first event with records

    error, next_options, children = subscribe(
        reader, {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": ITERATOR.TRIM_HORIZON}, first
    )
    assert error is None and children == []
    assert [r.data for r in got] == list(range(10))
    assert next_options["type"] == ITERATOR.AFTER_SEQUENCE_NUMBER
    assert next_options["startingSequenceNumber"] == continuations[-1]
    put(kinesis_mock, mock_stream, range(10, 25))

    def rest(records, millis, continuation):
        got.extend(records)
        assert isinstance(millis, int)
        return len(got) < 25

    error, _, _ = subscribe(reader, next_options, rest)
    assert error is None
    assert [r.data for r in got] == list(range(25))  # none twice, none skipped, in order
    numbers = [int(r.sequenceNumber) for r in got]
    assert numbers == sorted(set(numbers))
    assert all(r.partitionKey == "key" and isinstance(r.timestamp, int) for r in got)


def test_blob_records_come_back_as_bytes(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream, isBlob=True)
    blobs = [b"\x00\xff\x10", b"not json {", bytes(range(256))]
    put(kinesis_mock, mock_stream, blobs)
    got = []

    def on_event(records, millis, continuation):
        got.extend(records)
        return len(got) < 3

    error, _, _ = subscribe(reader, {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": 3}, on_event)
    assert error is None and [r.data for r in got] == blobs


@pytest.mark.parametrize("deaggregate", [True, False])
def test_aggregated_records_are_deaggregated_as_get_records_does(kinesis_mock, mock_stream, deaggregate):
    from test_deaggregation import aggregated, write

    users = [("pk-%d" % i, None, b'{"n":%d}' % i) for i in range(4)]
    sequences = write(kinesis_mock, mock_stream, [aggregated(users), ("plain", None, b'{"n":9}')])
    reader, description = registered(kinesis_mock, mock_stream, isBlob=not deaggregate, deaggregate=deaggregate)
    got = []

    def on_event(records, millis, continuation):
        got.extend(records)
        return not got

    error, _, _ = subscribe(reader, {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": 3}, on_event)
    assert error is None
    if deaggregate:
        assert [(r.data, r.partitionKey, r.sequenceNumber, r.subSequenceNumber) for r in got] == [
            ({"n": i}, "pk-%d" % i, sequences[0], i) for i in range(4)
        ] + [({"n": 9}, "plain", sequences[1], None)]
    else:
        assert [(r.data[:4], r.subSequenceNumber) for r in got] == [(b"\xf3\x89\x9a\xc2", None), (b'{"n"', None)]


def test_a_json_consumer_that_meets_a_blob_ends_with_the_records_as_bytes(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream)
    put(kinesis_mock, mock_stream, [{"n": 1}, b"\xff\xfe"])
    error, next_options, _ = subscribe(
        reader, {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": ITERATOR.TRIM_HORIZON}, lambda *a: True
    )
    assert error.type == ERROR.UNEXPECTED_RESPONSE and next_options is None
    assert [r.data for r in error.records] == [b'{"n":1}', b"\xff\xfe"]
    assert error.nextOptions["startingSequenceNumber"] >= error.records[-1].sequenceNumber


def test_on_event_false_ends_it_at_once_and_no_event_follows(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream)
    calls = []
    ended = threading.Event()

    def on_event(records, millis, continuation):
        calls.append(continuation)
        return False

    def callback(error, next_options, children):
        ended.set()
        calls.append(("end", error, next_options["startingSequenceNumber"], children))

    options = {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": ITERATOR.LATEST}
    future = None
    for _ in range(20):
        future = reader.subscribeToShard(options, on_event, callback)
        if wait_for(ended.is_set, 30) and calls[-1][1] is None:
            break
        ended.clear()
        calls.clear()
        time.sleep(0.5)
    assert calls == [calls[0], ("end", None, calls[0], [])]
    assert future.result(1) == (None, dict(options, type=ITERATOR.AFTER_SEQUENCE_NUMBER, startingSequenceNumber=calls[0]), [])
    time.sleep(2.5)  # kinesis-mock pushes once a second: an onEvent after the end would show by now
    assert len(calls) == 2


def test_errors_from_the_service(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream)
    unknown = description["consumerARN"].replace("/consumer/app:", "/consumer/nobody:")
    error, next_options, children = reader.subscribeToShard(
        {"consumerARN": unknown, "shardId": SHARD, "type": ITERATOR.LATEST}, lambda *a: True, None
    ).result(60)
    assert error.type == ERROR.REQUEST_FAILED and error.awsErrorType == "ResourceNotFoundException"
    assert (next_options, children) == (None, [])
    # kinesis-mock checks no shard id (it streams empty events for any), but refuses an ARN that is not one
    error, _, _ = reader.subscribeToShard(
        {"consumerARN": "arn:not-an-arn", "shardId": SHARD, "type": ITERATOR.LATEST}, lambda *a: True, None
    ).result(60)
    assert error.type == ERROR.REQUEST_FAILED and error.httpStatus == 400
    assert isinstance(error.httpResponse, dict) and error.awsErrorType
    assert consumer(kinesis_mock, "no-such-stream").listStreamConsumers(None).result(30)[0].awsErrorType == "ResourceNotFoundException"


def test_a_second_subscription_to_the_same_shard_is_refused(kinesis_mock, mock_stream):
    reader, description = registered(kinesis_mock, mock_stream)
    options = {"consumerARN": description["consumerARN"], "shardId": SHARD, "type": ITERATOR.LATEST}
    first_events = []
    first = reader.subscribeToShard(options, lambda *event: first_events.append(event) or len(first_events) < 3, None)
    assert wait_for(lambda: first_events, 30)
    error, _, _ = reader.subscribeToShard(options, lambda *a: True, None).result(60)
    assert error.type == ERROR.REQUEST_FAILED and error.awsErrorType == "ResourceInUseException"
    assert first.result(60)[0] is None


BAD_ARGUMENTS = [
    ("not a dict", "options must be a table"),
    ({"shardId": SHARD, "type": 3}, "options.consumerARN"),
    ({"consumerARN": "arn", "shardId": "", "type": 3}, "options.shardId"),
    ({"consumerARN": "arn", "shardId": SHARD, "type": "LATEST"}, "options.type"),
    ({"consumerARN": "arn", "shardId": SHARD, "type": True}, "options.type"),
    ({"consumerARN": "arn", "shardId": SHARD, "type": ITERATOR.AT_SEQUENCE_NUMBER}, "options.startingSequenceNumber"),
    ({"consumerARN": "arn", "shardId": SHARD, "type": ITERATOR.AT_TIMESTAMP}, "options.timestamp is required"),
]


@pytest.mark.parametrize("options, message", BAD_ARGUMENTS)
def test_wrong_subscription_arguments_are_a_library_error(options, message):
    reader = AWSKinesisStreams.Consumer("us-east-1", "k", "s", "stream", endpoint="http://127.0.0.1:9")
    seen = []
    error, next_options, children = reader.subscribeToShard(options, lambda *a: True, lambda *args: seen.append(args)).result(5)
    assert error.type == ERROR.LIBRARY_ERROR and message in error.details
    assert (next_options, children) == (None, []) and seen == [(error, None, [])]


def test_wrong_consumer_arguments_are_a_library_error():
    reader = AWSKinesisStreams.Consumer("us-east-1", "k", "s", "stream", endpoint="http://127.0.0.1:9")
    options = {"consumerARN": "arn", "shardId": SHARD, "type": 3}
    assert reader.subscribeToShard(options, "not callable", None).result(5)[0].details == "onEvent must be callable"
    for call in (reader.registerStreamConsumer, reader.describeStreamConsumer, reader.deregisterStreamConsumer):
        for name in ("", None, "bad name", "x" * 129, 7):
            error = call(name, None).result(5)[0]
            assert error.type == ERROR.LIBRARY_ERROR and "consumerName" in error.details
    assert reader.listStreamConsumers("not callable").result(5)[0].type == ERROR.LIBRARY_ERROR
    broken = AWSKinesisStreams.Consumer("us-east-1", None, "s", "stream")
    assert broken.listStreamConsumers(None).result(5)[0].type == ERROR.LIBRARY_ERROR
    assert broken.subscribeToShard(options, lambda *a: True, None).result(5)[0].type == ERROR.LIBRARY_ERROR


# -- the event stream as AWS sends it, scripted through a loopback proxy ------------------------

RECORD = {"Data": "eyJuIjoxfQ==", "PartitionKey": "k", "SequenceNumber": "100", "ApproximateArrivalTimestamp": 1700000000.5}


def scripted(kinesis_mock, pieces, timeout=None):
    """A Consumer whose SubscribeToShard is answered with `pieces`, and the outcome and events of one subscription."""
    from stream_proxy import StreamProxy

    events = []
    with StreamProxy(kinesis_mock.endpoint, script=lambda body: pieces) as proxy:
        reader = AWSKinesisStreams.Consumer(
            "us-east-1", "testing", "testing", "any", endpoint=proxy.endpoint, timeout=timeout
        )
        options = {"consumerARN": "arn:aws:kinesis:us-east-1:1:stream/any/consumer/c:1", "shardId": SHARD, "type": 3}
        outcome = reader.subscribeToShard(options, lambda *event: events.append(event), None).result(60)
        assert proxy.subscriptions == [
            {"ConsumerARN": options["consumerARN"], "ShardId": SHARD, "StartingPosition": {"Type": "TRIM_HORIZON"}}
        ]
    return outcome, events


def test_subscribe_to_shard_is_signed_as_botocore_signs_it(kinesis_mock):
    import datetime
    from unittest import mock

    import eventstream_bytes as es
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from stream_proxy import StreamProxy

    with StreamProxy(kinesis_mock.endpoint, script=lambda body: [es.shard_event([], "117")]) as proxy:
        reader = AWSKinesisStreams.Consumer("eu-west-1", "AKID", "secret", "any", endpoint=proxy.endpoint, sessionToken="tok")
        options = {"consumerARN": "arn:aws:kinesis:eu-west-1:1:stream/any/consumer/c:1", "shardId": SHARD, "type": 3}
        assert reader.subscribeToShard(options, lambda *event: True, None).result(30)[0] is None
    ((headers, body),) = proxy.requests
    theirs = AWSRequest("POST", proxy.endpoint + "/", {k: headers[k] for k in ("Content-Type", "X-Amz-Target")}, body)
    sent_at = datetime.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=sent_at):
        SigV4Auth(Credentials("AKID", "secret", "tok"), "kinesis", "eu-west-1").add_auth(theirs)
    assert headers["X-Amz-Target"] == "Kinesis_20131202.SubscribeToShard"
    assert headers["X-Amz-Security-Token"] == "tok" and headers["Authorization"] == theirs.headers["Authorization"]


def test_initial_response_is_accepted_and_the_shard_end_gives_the_children(kinesis_mock):
    import eventstream_bytes as es

    children = [{"ShardId": "shardId-000000000001", "ParentShards": [SHARD], "HashKeyRange": {}}, {"ShardId": "shardId-000000000002"}]
    pieces = [
        es.event({}, "initial-response"),
        es.shard_event([RECORD], "100", 5),
        es.event({"future": 1}, "SomeNewEvent"),
        es.shard_event([], None, 0, children),
    ]
    (error, next_options, child_ids), events = scripted(kinesis_mock, pieces)
    assert error is None and next_options is None and child_ids == ["shardId-000000000001", "shardId-000000000002"]
    assert [(len(r), m, c) for r, m, c in events] == [(1, 5, "100"), (0, 0, None)]
    assert events[0][0][0].data == {"n": 1} and events[0][0][0].timestamp == 1700000000


def test_the_end_of_the_stream_continues_after_the_last_event(kinesis_mock):
    import eventstream_bytes as es

    (error, next_options, children), events = scripted(kinesis_mock, [es.shard_event([RECORD], "100"), es.shard_event([], "117")])
    assert error is None and children == [] and len(events) == 2
    assert (next_options["type"], next_options["startingSequenceNumber"]) == (ITERATOR.AFTER_SEQUENCE_NUMBER, "117")


@pytest.mark.parametrize("where", ["prelude", "message"])
def test_a_bad_crc_ends_it_with_unexpected_response(kinesis_mock, where):
    import eventstream_bytes as es

    good = es.shard_event([RECORD], "100")
    bad = bytearray(es.shard_event([], "117"))
    bad[9 if where == "prelude" else -1] ^= 1
    (error, next_options, _), events = scripted(kinesis_mock, [good, bytes(bad)])
    assert error.type == ERROR.UNEXPECTED_RESPONSE and "%s CRC" % where in error.details
    assert next_options is None and error.nextOptions["startingSequenceNumber"] == "100"
    assert len(events) == 1


@pytest.mark.parametrize(
    "fields", [{"ContinuationSequenceNumber": 117}, {"MillisBehindLatest": "5"}, {"ChildShards": 5}, {"ChildShards": [{}]}]
)
def test_a_malformed_event_ends_it_with_unexpected_response(kinesis_mock, fields):
    import eventstream_bytes as es

    (error, _, _), events = scripted(kinesis_mock, [es.shard_event([RECORD], "100"), es.event(dict({"Records": []}, **fields))])
    assert error.type == ERROR.UNEXPECTED_RESPONSE and "event is malformed" in error.details and len(events) == 1
    assert error.nextOptions["startingSequenceNumber"] == "100"


def test_a_message_cut_short_ends_it_with_unexpected_response(kinesis_mock):
    import eventstream_bytes as es

    (error, _, _), events = scripted(kinesis_mock, [es.shard_event([RECORD], "100"), es.shard_event([], "117")[:30]])
    assert error.type == ERROR.UNEXPECTED_RESPONSE and "ended inside a message" in error.details and len(events) == 1


@pytest.mark.parametrize(
    "kind",
    [
        "ResourceInUseException",
        "ResourceNotFoundException",
        "LimitExceededException",
        "InternalFailureException",
        "KMSThrottlingException",
        "KMSAccessDeniedException",
    ],
)
def test_an_exception_message_ends_it_with_its_aws_error_type(kinesis_mock, kind):
    import eventstream_bytes as es

    (error, _, _), events = scripted(kinesis_mock, [es.shard_event([RECORD], "100"), es.exception(kind, "why")])
    assert error.type == ERROR.REQUEST_FAILED and error.awsErrorType == kind and "why" in error.details
    assert len(events) == 1 and error.nextOptions["startingSequenceNumber"] == "100"


def test_a_silent_stream_ends_at_the_read_timeout(kinesis_mock):
    import eventstream_bytes as es

    started = time.monotonic()
    (error, _, _), events = scripted(
        kinesis_mock, [es.shard_event([RECORD], "100"), 10], timeout=AWSKinesisStreams.Timeout(connect=5, read=1)
    )
    assert error.type == ERROR.REQUEST_FAILED and "read timed out" in error.details and len(events) == 1
    assert time.monotonic() - started < 8
