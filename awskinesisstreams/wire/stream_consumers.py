"""Request/response mapping for enhanced fan-out: stream consumers and SubscribeToShard.

Like kinesis.py, each method checks its arguments at once (a LIBRARY_ERROR before anything
is sent) and returns what the worker thread runs. A subscription is read on the thread that
runs it: the answer is an event stream, decoded message by message as its chunks arrive.
"""

import json
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR, to_enum
from ..error import Error, library_error, unexpected_answer
from .eventstream import Decoder, EventStreamError, Message
from .kinesis import Kinesis, Send, starting_point
from .received_records import decode_records
from ..record import Record, _describe
from ..transport.signed_request import OpenStream

CONSUMER_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
REGISTER_WAIT = 300.0  # AWS usually has a consumer ACTIVE within seconds
REGISTER_POLL = (0.05, 2.0)  # first and longest pause between DescribeStreamConsumer calls
EVENT = "SubscribeToShardEvent"

# onEvent's arguments as the reader hands them on: records, millisBehindLatest, continuation; False stops it.
Emit = Callable[[List[Record], int, Optional[str]], bool]


def _json(body: Dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def description(consumer: Dict[str, Any]) -> Dict[str, Any]:
    """A consumer as the library describes it: name, ARN, status, creation time in int seconds."""
    created = consumer.get("ConsumerCreationTimestamp")
    return {
        "consumerName": consumer.get("ConsumerName"),
        "consumerARN": consumer.get("ConsumerARN"),
        "consumerStatus": consumer.get("ConsumerStatus"),
        "consumerCreationTimestamp": int(created) if isinstance(created, (int, float)) else None,
    }


def next_options(options: Dict[str, Any], continuation: str) -> Dict[str, Any]:
    """`options` moved on to read after `continuation` (a ContinuationSequenceNumber)."""
    moved = dict(options)
    moved.pop("timestamp", None)
    moved["type"] = ITERATOR.AFTER_SEQUENCE_NUMBER
    moved["startingSequenceNumber"] = continuation
    return moved


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not CONSUMER_NAME.match(name):
        raise library_error("consumerName must be 1 to 128 letters, digits, '_', '.' or '-', got %s" % _describe(name))
    return name


class StreamConsumers:
    """The stream consumers of one stream, whose ARN is looked up once from its name."""

    def __init__(self, kinesis: Kinesis) -> None:
        self.client = kinesis.client
        self.stream_name = kinesis.stream_name
        self._arn: Optional[str] = None

    def stream_arn(self) -> str:
        """The stream's ARN (DescribeStreamSummary the first time, then remembered)."""
        if self._arn is None:
            key = "StreamDescriptionSummary"
            answer = self.client.call("DescribeStreamSummary", _json({"StreamName": self.stream_name}), (key,))
            arn = answer[key].get("StreamARN") if isinstance(answer[key], dict) else None
            if not isinstance(arn, str) or not arn:
                raise unexpected_answer("DescribeStreamSummary", "has no StreamARN", answer)
            self._arn = arn
        return self._arn

    def _consumer_call(self, action: str, name: str, required: Tuple[str, ...] = ()) -> Dict[str, Any]:
        return self.client.call(action, _json({"StreamARN": self.stream_arn(), "ConsumerName": name}), required)

    def _describe(self, name: str) -> Dict[str, Any]:
        answer = self._consumer_call("DescribeStreamConsumer", name, ("ConsumerDescription",))
        if not isinstance(answer["ConsumerDescription"], dict):
            raise unexpected_answer("DescribeStreamConsumer", "is malformed", answer)
        return answer["ConsumerDescription"]

    def _existing(self, name: str, refused: Error) -> Dict[str, Any]:
        """The consumer a ResourceInUseException named as existing; if there is none, the stream was busy: `refused`."""
        try:
            return self._describe(name)
        except Error as error:
            if error.awsErrorType == "ResourceNotFoundException":
                raise refused from None
            raise

    def _register_or_existing(self, name: str) -> Dict[str, Any]:
        """RegisterStreamConsumer; where that name exists already, the consumer that holds it."""
        try:
            return self._consumer_call("RegisterStreamConsumer", name, ("Consumer",))["Consumer"]
        except Error as error:
            if error.awsErrorType != "ResourceInUseException":
                raise
            return self._existing(name, error)

    def register(self, name: object) -> Send[Dict[str, Any]]:
        """RegisterStreamConsumer, then DescribeStreamConsumer with growing pauses until it is ACTIVE.

        A consumer of that name that exists already is taken as it is (waited for if CREATING);
        one still DELETING (deregistered a moment ago) is waited out, then registered anew.
        """
        name = _check_name(name)

        def send() -> Dict[str, Any]:
            consumer = self._register_or_existing(name)
            pause, longest = REGISTER_POLL
            deadline = time.monotonic() + REGISTER_WAIT
            while isinstance(consumer, dict) and consumer.get("ConsumerStatus") in ("CREATING", "DELETING"):
                if time.monotonic() > deadline:
                    why = "consumer %s is not ACTIVE after %.0f s" % (name, REGISTER_WAIT)
                    raise Error(AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED, why)
                time.sleep(pause)
                pause = min(pause * 2, longest)
                consumer = self._describe(name) if consumer["ConsumerStatus"] == "CREATING" else self._register_or_existing(name)
            if not isinstance(consumer, dict):
                raise unexpected_answer("RegisterStreamConsumer", "is malformed", consumer)
            return description(consumer)

        return send

    def describe(self, name: object) -> Send[Dict[str, Any]]:
        """DescribeStreamConsumer by name."""
        name = _check_name(name)
        return lambda: description(self._describe(name))

    def deregister(self, name: object) -> Send[None]:
        """DeregisterStreamConsumer by name."""
        name = _check_name(name)
        return lambda: self._consumer_call("DeregisterStreamConsumer", name) and None

    def list(self) -> Send[List[Dict[str, Any]]]:
        """ListStreamConsumers, every page."""

        def send() -> List[Dict[str, Any]]:
            consumers: List[Dict[str, Any]] = []
            body: Dict[str, Any] = {"StreamARN": self.stream_arn()}
            while True:
                answer = self.client.call("ListStreamConsumers", _json(body), ("Consumers",))
                page = answer["Consumers"]
                if not isinstance(page, list) or not all(isinstance(consumer, dict) for consumer in page):
                    raise unexpected_answer("ListStreamConsumers", "is malformed", answer)
                consumers.extend(description(consumer) for consumer in page)
                token = answer.get("NextToken")
                if not token or not page:
                    return consumers
                body["NextToken"] = token

        return send

    def subscription(self, options: object, is_blob: bool, unpack: bool) -> "Subscription":
        """A SubscribeToShard call for `options` (consumerARN, shardId, type and its starting point), not yet made."""
        if not isinstance(options, dict):
            raise library_error(
                "options must be a table (dict) with consumerARN, shardId and type, got %s" % _describe(options)
            )
        for key in ("consumerARN", "shardId"):
            if not isinstance(options.get(key), str) or not options[key]:
                raise library_error("options.%s must be a non-empty string, got %s" % (key, _describe(options.get(key))))
        kind = to_enum(ITERATOR, options.get("type"))
        if kind is None:
            wrong = _describe(options.get("type"))
            raise library_error("options.type must be an AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE value, got %s" % wrong)
        number, timestamp = starting_point(kind, options, "options")
        position: Dict[str, Any] = {"Type": kind.name}
        if number is not None:
            position["SequenceNumber"] = number
        if timestamp is not None:
            position["Timestamp"] = timestamp
        body = _json({"ConsumerARN": options["consumerARN"], "ShardId": options["shardId"], "StartingPosition": position})
        return Subscription(self, dict(options), body, is_blob, unpack)


def _event_fields(event: Dict[str, Any]) -> Tuple[Optional[str], int, List[str]]:
    """A SubscribeToShardEvent's continuation, lag and child shard ids; UNEXPECTED_RESPONSE if one is malformed."""
    continuation = event.get("ContinuationSequenceNumber")
    millis = event.get("MillisBehindLatest") or 0
    children = event.get("ChildShards") or []
    ids = [child.get("ShardId") for child in children if isinstance(child, dict)] if isinstance(children, list) else [None]
    if (
        (continuation is not None and not isinstance(continuation, str))
        or isinstance(millis, bool)
        or not isinstance(millis, int)
        or not all(isinstance(shard, str) for shard in ids)
    ):
        raise unexpected_answer("SubscribeToShard", "event is malformed", event)
    return continuation, millis, ids


class Subscription:
    """One SubscribeToShard: `run(emit)` opens it and hands each event to `emit` until it ends; `close()` ends it now."""

    def __init__(
        self, consumers: StreamConsumers, options: Dict[str, Any], body: bytes, is_blob: bool, unpack: bool
    ) -> None:
        self.options = options
        self._client = consumers.client
        self._body = body
        self._is_blob = is_blob
        self._unpack = unpack
        self._lock = threading.Lock()
        self._stream: Optional[OpenStream] = None
        self.closed = False

    def close(self) -> None:
        """End the subscription at once, from any thread; `run` then returns as if the stream had ended."""
        with self._lock:
            self.closed = True
            stream = self._stream
        if stream is not None:
            stream.close()

    def run(self, emit: Emit) -> Optional[List[str]]:
        """Read the event stream to its end, handing each event to `emit` (which answers False to stop).

        Returns the child shard ids once the shard has been read to its end, else None (the
        stream ended, or was closed). Raises Error: REQUEST_FAILED for no answer, a non-2xx,
        an `exception` message (carrying its AWS error type) or a lost connection;
        UNEXPECTED_RESPONSE for a broken or cut-short event stream.
        """
        stream = self._client.open_stream("SubscribeToShard", self._body)
        with self._lock:
            self._stream = stream
            closed = self.closed
        try:
            if not closed:
                return self._read(stream, emit)
        except Exception:  # cut by close(): whatever the read raised, the stream simply ended
            if not self.closed:
                raise
        finally:
            stream.close()
        return None

    def _read(self, stream: OpenStream, emit: Emit) -> Optional[List[str]]:
        decoder = Decoder()
        try:
            for chunk in stream.chunks():
                for message in decoder.feed(chunk):
                    children = self._message(message, stream.status, emit)
                    if children:
                        return children
                    if self.closed:
                        return None
            decoder.end()
        except EventStreamError as exc:
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE,
                "SubscribeToShard answer is not a valid event stream: %s" % exc,
                stream.status,
            ) from None
        return None

    def _message(self, message: Message, status: int, emit: Emit) -> Optional[List[str]]:
        """Act on one message: [] to go on, the child shard ids at the shard's end; raises for an exception."""
        headers = message.headers
        kind = headers.get(":message-type")
        if kind == "event":
            if headers.get(":event-type") != EVENT:
                return []  # initial-response, or an event type this version does not know
            event = self._payload(message, status)
            continuation, millis, children = _event_fields(event)
            after = next_options(self.options, continuation) if continuation else None
            records = decode_records("SubscribeToShard", event, self._is_blob, self._unpack, after)
            if not emit(records, millis, continuation):
                self.close()
            return children
        if kind in ("exception", "error"):
            if kind == "exception":
                name = headers.get(":exception-type") or "exception"
                text = self._payload(message, status).get("message") or ""
            else:
                name, text = headers.get(":error-code") or "error", headers.get(":error-message") or ""
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED,
                "SubscribeToShard ended by %s: %s" % (name, text),
                status,
                {"__type": name, "message": text},
            )
        what = "SubscribeToShard sent a message of type %r" % kind
        raise Error(AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE, what, status)

    @staticmethod
    def _payload(message: Message, status: int) -> Dict[str, Any]:
        try:
            payload = json.loads(message.payload) if message.payload else {}
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise Error(
                AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE,
                "SubscribeToShard event payload is not a JSON object",
                status,
                message.payload.decode("utf-8", "replace"),
            )
        return payload
