"""Request/response mapping for the Kinesis Data Streams API (JSON 1.1, Kinesis_20131202).

Each method checks its arguments and builds the request body at once, raising a
LIBRARY_ERROR Error before anything is sent, and returns a `send()` function that the
loop runs on a worker thread: it makes the signed call and turns the answer into the
library's objects.
"""

import binascii
import datetime
import json
from json.encoder import encode_basestring_ascii as json_string
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from ..enums import (
    AWS_KINESIS_STREAMS_ENCRYPTION_TYPE as ENCRYPTION,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR,
    encryption_type,
    to_enum,
)
from ..error import Error, library_error, unexpected_answer
from ..put_record_result import PutRecordResult
from ..record import Record, _describe, is_finite_number, is_sequence_number, key_bytes
from .received_records import decode_records
from ..transport.signed_request import AwsJsonClient
from ..transport.retry import RETRIED_RECORD_ERRORS, Attempts

T = TypeVar("T")
Send = Callable[[], T]

TARGET_PREFIX = "Kinesis_20131202"
JSON_VERSION = "1.1"
MAX_RECORDS_PER_PUT = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
MAX_GET_LIMIT = 10000
LIST_SHARDS_PAGE = 10000
SEQUENCE_ITERATORS = (ITERATOR.AT_SEQUENCE_NUMBER, ITERATOR.AFTER_SEQUENCE_NUMBER)


def _result(entry: Dict[str, Any], encryption: ENCRYPTION) -> PutRecordResult:
    """One PutRecords/PutRecord answer entry as a PutRecordResult, written with `encryption`."""
    error = entry.get("ErrorCode")
    if error:
        return PutRecordResult(error, entry.get("ErrorMessage"))
    return PutRecordResult(None, None, entry.get("ShardId"), entry.get("SequenceNumber"), encryption)


def _fail(results: List[PutRecordResult], pending: List[int], error: Error) -> None:
    """Give each record still pending the error that ended its retries, as its own outcome."""
    code = error.awsErrorType or error.type.name
    for index in pending:
        results[index] = PutRecordResult(code, error.details)


def record_entry(data: bytes, key: str, explicit_hash_key: Optional[str]) -> str:
    """The start of a PutRecords entry or PutRecord body (no closing brace) for checked data and keys."""
    text = '{"Data":"%s","PartitionKey":%s' % (binascii.b2a_base64(data, newline=False).decode("ascii"), json_string(key))
    if explicit_hash_key is not None:
        text += ',"ExplicitHashKey":"%s"' % explicit_hash_key
    return text


def _record_json(record: Record) -> Tuple[str, int]:
    """A record as the start of a PutRecords entry or PutRecord body, and its size as Kinesis counts it."""
    raw = record.encode()
    key = record.partitionKey
    return record_entry(raw, key, record.explicitHashKey), len(raw) + key_bytes(key)


def timestamp_seconds(value: object) -> float:
    """Seconds since the epoch from an int, a float or an aware datetime."""
    if isinstance(value, datetime.datetime):
        try:  # a naive datetime has no offset, whatever its tzinfo; an application's tzinfo may fail
            seconds = None if value.utcoffset() is None else value.timestamp()
        except Exception as exc:
            raise library_error("timestamp could not be read: %s" % _describe(exc)) from None
        if seconds is None:
            raise library_error("timestamp must be an aware datetime (a naive one has no time zone)")
        return seconds
    if not is_finite_number(value):
        raise library_error("timestamp must be seconds since the epoch, got %s" % _describe(value))
    return value  # type: ignore[return-value]


class Kinesis:
    """The Kinesis actions of one stream, on one signed client."""

    def __init__(self, client: AwsJsonClient, stream_name: str) -> None:
        self.client = client
        self.stream_name = stream_name
        self._stream_json = json_string(stream_name)

    # -- writing --------------------------------------------------------------------

    def put_record(self, record: object) -> Send[PutRecordResult]:
        """PutRecord of one Record."""
        if not isinstance(record, Record):
            raise library_error("record must be an AWSKinesisStreams.Record, got %s" % _describe(record))
        body = _record_json(record)[0]
        if record.prevSequenceNumber is not None:
            body += ',"SequenceNumberForOrdering":"%s"' % record.prevSequenceNumber
        payload = ('%s,"StreamName":%s}' % (body, self._stream_json)).encode("ascii")

        def send() -> PutRecordResult:
            answer = self.client.call("PutRecord", payload, ("ShardId", "SequenceNumber"))
            return _result(answer, encryption_type(answer.get("EncryptionType")))

        return send

    def put_records(self, records: object) -> Send[Tuple[int, List[PutRecordResult]]]:
        """PutRecords of 1 to 500 Records, at most 5 MiB in all; answers one result per record, in order.

        Records throttled or failed inside a 200 are sent again, alone and in their order, in
        later requests within the client's retry policy; each result is its record's final
        outcome. If such a later request fails outright, its records get that error as result.
        """
        if not isinstance(records, list) or not records:
            raise library_error("records must be a non-empty list of AWSKinesisStreams.Record, got %s" % _describe(records))
        if len(records) > MAX_RECORDS_PER_PUT:
            raise library_error("putRecords takes at most %d records, got %d" % (MAX_RECORDS_PER_PUT, len(records)))
        entries = []
        size = 0
        for index, record in enumerate(records):
            if not isinstance(record, Record):
                raise library_error("records[%d] must be an AWSKinesisStreams.Record, got %s" % (index, _describe(record)))
            entry, record_size = _record_json(record)
            entries.append(entry)
            size += record_size
        if size > MAX_PUT_BYTES:
            raise library_error("putRecords request of %d bytes is over the 5 MiB Kinesis limit" % size)
        count = len(records)

        def send() -> Tuple[int, List[PutRecordResult]]:
            results: List[PutRecordResult] = [PutRecordResult()] * count
            pending = list(range(count))
            attempts = self.client.retry.start()
            first_round = True
            while True:
                try:
                    answered = self._put_pending(entries, pending, attempts)
                except Error as error:
                    if first_round:
                        raise
                    _fail(results, pending, error)  # earlier rounds already wrote the others
                    break
                for index, result in zip(pending, answered):
                    results[index] = result
                retry = [index for index in pending if results[index].errorCode in RETRIED_RECORD_ERRORS]
                if not retry or not attempts.wait("PutRecords", "%d of %d records failed" % (len(retry), len(pending))):
                    break
                pending, first_round = retry, False
            return sum(1 for result in results if result.errorCode is not None), results

        return send

    def _put_pending(
        self, entries: List[str], pending: Sequence[int], attempts: Optional[Attempts] = None
    ) -> List[PutRecordResult]:
        """One PutRecords request of the entries at `pending`; one result per record, in order.

        AWS says the encryption once, beside the entries (they carry none), for every record written.
        """
        payload = '{"Records":[%s}],"StreamName":%s}' % ("},".join(entries[index] for index in pending), self._stream_json)
        answer = self.client.call("PutRecords", payload.encode("ascii"), ("Records",), attempts)
        answered = answer["Records"]
        if not isinstance(answered, list) or len(answered) != len(pending):
            raise unexpected_answer("PutRecords", "does not have one result per record", answer)
        encryption = encryption_type(answer.get("EncryptionType"))
        try:
            return [_result(entry, encryption) for entry in answered]
        except AttributeError:
            raise unexpected_answer("PutRecords", "has a result that is not an object", answer) from None

    def put_entries(self, entries: List[str]) -> Send[List[PutRecordResult]]:
        """One PutRecords request of prepared `record_entry` texts (at most 500, 5 MiB), with no record resent.

        For a caller that retries failed records itself (the buffered producer's sender).
        """

        def send() -> List[PutRecordResult]:
            return self._put_pending(entries, range(len(entries)))

        return send

    # -- reading --------------------------------------------------------------------

    def list_shards(self) -> Send[List[Dict[str, Any]]]:
        """Every shard of the stream, open and closed, through all ListShards pages.

        AWS refuses StreamName beside NextToken, so later pages send the token alone.
        """
        first = ('{"MaxResults":%d,"StreamName":%s}' % (LIST_SHARDS_PAGE, self._stream_json)).encode("ascii")

        def send() -> List[Dict[str, Any]]:
            shards: List[Dict[str, Any]] = []
            payload = first
            while True:
                answer = self.client.call("ListShards", payload, ("Shards",))
                page = answer["Shards"]
                if not isinstance(page, list) or not all(isinstance(s, dict) and "ShardId" in s for s in page):
                    raise unexpected_answer("ListShards", "has a malformed Shards list", answer)
                shards.extend(page)
                token = answer.get("NextToken")
                if not token:
                    return shards
                payload = json.dumps({"MaxResults": LIST_SHARDS_PAGE, "NextToken": token}).encode("utf-8")

        return send

    def get_shard_iterator(self, shard_id: object, type: object, options: object) -> Send[str]:
        """GetShardIterator for any of the five iterator types."""
        if not isinstance(shard_id, str) or not shard_id:
            raise library_error("shardId must be a non-empty string, got %s" % _describe(shard_id))
        kind = to_enum(ITERATOR, type)
        if kind is None:
            raise library_error("type must be an AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE value, got %s" % _describe(type))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise library_error("typeOptions must be a table (dict) or None, got %s" % _describe(options))
        body: Dict[str, Any] = {"ShardId": shard_id, "ShardIteratorType": kind.name, "StreamName": self.stream_name}
        number, timestamp = starting_point(kind, options, "typeOptions")
        if number is not None:
            body["StartingSequenceNumber"] = number
        if timestamp is not None:
            body["Timestamp"] = timestamp
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")

        def send() -> str:
            answer = self.client.call("GetShardIterator", payload, ("ShardIterator",))
            iterator = answer["ShardIterator"]
            if not isinstance(iterator, str) or not iterator:
                raise unexpected_answer("GetShardIterator", "has no usable ShardIterator", answer)
            return iterator

        return send

    def get_records(
        self, options: object, is_blob: bool, unpack: bool = False
    ) -> Send[Tuple[List[Record], int, Optional[Dict[str, Any]]]]:
        """GetRecords: the records (bytes, or decoded JSON), millisBehindLatest and the next options.

        With `unpack`, KPL aggregates come back as their user records (see `user_records`).
        The next options are None once a closed shard has been read to its end. A record a
        JSON consumer cannot decode fails the call with UNEXPECTED_RESPONSE; the error then
        carries every record of the call as bytes, and the options to read on from.
        """
        if not isinstance(options, dict):
            raise library_error("options must be a table (dict) with a shardIterator, got %s" % _describe(options))
        iterator = options.get("shardIterator")
        if not isinstance(iterator, str) or not iterator:
            raise library_error("options.shardIterator must be a non-empty string, got %s" % _describe(iterator))
        limit = options.get("limit")
        body: Dict[str, Any] = {"ShardIterator": iterator}
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_GET_LIMIT:
                raise library_error("options.limit must be an integer from 1 to %d, got %s" % (MAX_GET_LIMIT, _describe(limit)))
            body["Limit"] = limit
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        options = dict(options)

        def send() -> Tuple[List[Record], int, Optional[Dict[str, Any]]]:
            answer = self.client.call("GetRecords", payload, ("Records",))
            entries = answer["Records"]
            if not isinstance(entries, list):
                raise unexpected_answer("GetRecords", "has a Records field that is not a list", answer)
            next_iterator = answer.get("NextShardIterator")
            next_options = None
            if next_iterator:
                next_options = dict(options)
                next_options["shardIterator"] = next_iterator
            millis = answer.get("MillisBehindLatest") or 0
            return decode_records("GetRecords", answer, is_blob, unpack, next_options), millis, next_options

        return send


def starting_point(kind: ITERATOR, options: Dict[str, Any], where: str) -> Tuple[Optional[str], Optional[float]]:
    """The sequence number (AT_/AFTER_SEQUENCE_NUMBER) or timestamp (AT_TIMESTAMP) that `kind` needs from `options`."""
    if kind in SEQUENCE_ITERATORS:
        number = options.get("startingSequenceNumber")
        if not is_sequence_number(number):
            raise library_error(
                "%s.startingSequenceNumber (a sequence number string) is required for %s, got %s"
                % (where, kind.name, _describe(number))
            )
        return number, None
    if kind is ITERATOR.AT_TIMESTAMP:
        if "timestamp" not in options:
            raise library_error("%s.timestamp is required for AT_TIMESTAMP" % where)
        return None, timestamp_seconds(options["timestamp"])
    return None, None


def stream_admin(client: AwsJsonClient, action: str, body: Dict[str, Any], required: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """A stream management call (CreateStream, DescribeStreamSummary, ...), for tools rather than agents."""
    return client.call(action, json.dumps(body).encode("utf-8"), required)
