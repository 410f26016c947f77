"""Records as read: GetRecords answers and SubscribeToShard events become the Records a consumer gets.

Both read paths decode through here: base64 data, KPL aggregates unpacked into their user
records, and JSON decoded for a consumer that is not isBlob.
"""

import binascii
import json
from typing import Any, Dict, List, Optional

from .kpl_aggregation import MAGIC, deaggregate
from ..enums import AWS_KINESIS_STREAMS_ERROR, encryption_type
from ..error import Error, unexpected_answer
from ..record import Record


def decode_records(
    action: str, answer: Dict[str, Any], is_blob: bool, unpack: bool, next_options: Optional[Dict[str, Any]]
) -> List[Record]:
    """The Records of a GetRecords answer or a SubscribeToShard event, as a consumer delivers them.

    With `unpack`, KPL aggregates become their user records (see `user_records`). As bytes, or
    decoded JSON; one a JSON consumer cannot decode raises UNEXPECTED_RESPONSE carrying every
    record as bytes and `next_options`, where to read on from.
    """
    try:
        records = [_received(entry) for entry in answer["Records"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise unexpected_answer(action, "has a malformed record", answer) from None
    size = sum([len(record.data) for record in records])
    if unpack:
        records = user_records(records)
    if not is_blob:
        _decode_json(records, next_options)
    return Received(records, size)


class Received(list):
    """Records as read, and `size`: the bytes of data their Kinesis records carried (for the metrics)."""

    def __init__(self, records: List[Record], size: int) -> None:
        super().__init__(records)
        self.size = size


def size_of(records: List[Record]) -> int:
    """The bytes of data of records as read (0 for a list that did not come from decode_records)."""
    return getattr(records, "size", 0)


def _received(entry: Dict[str, Any]) -> Record:
    timestamp = entry.get("ApproximateArrivalTimestamp")
    return Record.received(
        binascii.a2b_base64(entry["Data"]),
        entry["PartitionKey"],
        entry["SequenceNumber"],
        int(timestamp) if timestamp is not None else None,
        encryption_type(entry.get("EncryptionType")),
    )


def user_records(records: List[Record]) -> List[Record]:
    """`records` (data still bytes) with each KPL aggregate replaced by its user records, in order.

    A user record keeps the Kinesis record's sequence number, timestamp and encryption, and
    gets its partition key, explicit hash key and subSequenceNumber (0..n-1) from the
    aggregate. A record that is not an aggregate, or fails its MD5 or protobuf check, stays
    whole. No user record is dropped, whatever shard its hash key belongs to.
    """
    out: List[Record] = []
    received = Record.received
    for record in records:
        data = record.data
        if data[:4] == MAGIC:
            unpacked = deaggregate(data)
            if unpacked is not None:
                sequence, timestamp, encryption = record.sequenceNumber, record.timestamp, record.encryptionType
                out += [
                    received(value, key, sequence, timestamp, encryption, hash_key, index)  # type: ignore[arg-type]
                    for index, (key, hash_key, value) in enumerate(unpacked)
                ]
                continue
        out.append(record)
    return out


_scan_json = json.JSONDecoder().scan_once


def _json_value(data: bytes) -> Any:
    """`json.loads(data)`, the same value or error, with a short cut for the usual record.

    For a small record json.loads spends most of its time guessing the encoding and skipping
    whitespace; UTF-8 JSON with no surrounding whitespace goes straight to its parser, and
    anything else (a BOM, UTF-16, spaces, not JSON at all) to json.loads itself.
    """
    try:
        text = data.decode("utf-8")
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except (ValueError, StopIteration):
        pass
    return json.loads(data)


def _decode_json(records: List[Record], next_options: Optional[Dict[str, Any]]) -> None:
    """Decode every record's bytes as JSON; if one fails, raise with all of them still bytes."""
    values = []
    for record in records:
        try:
            values.append(_json_value(record.data))
        except ValueError as exc:
            error = Error(
                AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE,
                "record %s is not JSON (%s); error.records has this call's records as bytes"
                % (record.sequenceNumber, exc),
                200,
            )
            error.records = records
            error.nextOptions = next_options
            raise error from None
    for record, value in zip(records, values):
        record.data = value
