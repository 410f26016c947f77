"""AWSKinesisStreams.Record: one data record, as written by a Producer or read by a Consumer."""

import json
import math
from typing import Any, Callable, Optional, Union

from .enums import AWS_KINESIS_STREAMS_ENCRYPTION_TYPE
from .error import library_error

Encoder = Callable[[Any], Union[str, bytes]]

MAX_RECORD_BYTES = 1024 * 1024  # data plus partition key, as Kinesis counts it
MAX_PARTITION_KEY_CHARS = 256
MAX_HASH_KEY = 2**128 - 1
BYTES_LIKE = (bytes, bytearray, memoryview)


def json_encode(data: Any) -> str:
    """Compact JSON, as Squirrel's http.jsonencode writes it; NaN and Infinity are refused."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


class Record:
    """A record: `data` (bytes or any JSON-compatible value) and the `partitionKey` that picks its shard.

    Records read from a stream also carry `sequenceNumber`, `timestamp` (int seconds since
    the epoch) and `encryptionType`; a user record that came out of a KPL aggregate also
    its `subSequenceNumber` (its index in the aggregate; None for any other record).
    """

    __slots__ = (
        "data",
        "partitionKey",
        "explicitHashKey",
        "prevSequenceNumber",
        "encoder",
        "sequenceNumber",
        "timestamp",
        "encryptionType",
        "subSequenceNumber",
    )

    def __init__(
        self,
        data: Any,
        partitionKey: str,
        explicitHashKey: Optional[str] = None,
        prevSequenceNumber: Optional[str] = None,
        encoder: Optional[Encoder] = None,
    ) -> None:
        self.data = data
        self.partitionKey = partitionKey
        self.explicitHashKey = explicitHashKey
        self.prevSequenceNumber = prevSequenceNumber
        self.encoder = encoder
        self.sequenceNumber: Optional[str] = None
        self.timestamp: Optional[int] = None
        self.encryptionType: Optional[AWS_KINESIS_STREAMS_ENCRYPTION_TYPE] = None
        self.subSequenceNumber: Optional[int] = None

    @classmethod
    def received(
        cls,
        data: Any,
        partitionKey: str,
        sequenceNumber: str,
        timestamp: Optional[int],
        encryptionType: AWS_KINESIS_STREAMS_ENCRYPTION_TYPE,
        explicitHashKey: Optional[str] = None,
        subSequenceNumber: Optional[int] = None,
    ) -> "Record":
        """A record as a Consumer returns it (no checks: Kinesis or the aggregate's writer made them)."""
        record = cls.__new__(cls)
        record.data = data
        record.partitionKey = partitionKey
        record.explicitHashKey = explicitHashKey
        record.prevSequenceNumber = None
        record.encoder = None
        record.sequenceNumber = sequenceNumber
        record.timestamp = timestamp
        record.encryptionType = encryptionType
        record.subSequenceNumber = subSequenceNumber
        return record

    def encode(self) -> bytes:
        """The bytes Kinesis will store, after checking this record against the service limits.

        Raises a LIBRARY_ERROR Error for a wrong partition key, hash key, sequence number,
        encoder result, or data over 1 MiB.
        """
        key = self.partitionKey
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
            raise library_error(
                "partitionKey must be a string of 1 to %d characters, got %s"
                % (MAX_PARTITION_KEY_CHARS, _describe(key))
            )
        if self.explicitHashKey is not None:
            check_hash_key(self.explicitHashKey)
        if self.prevSequenceNumber is not None and not is_sequence_number(self.prevSequenceNumber):
            raise library_error(
                "prevSequenceNumber must be a sequence number string, got %s"
                % _describe(self.prevSequenceNumber)
            )
        data = self.data
        if isinstance(data, bytes):
            encoded = data
        elif isinstance(data, BYTES_LIKE):
            encoded = _bytes_of(data, "record data")
        else:
            encoded = self._encode_value(data)
        size = len(encoded) + key_bytes(key)
        if size > MAX_RECORD_BYTES:
            raise library_error("record of %d bytes (data and partition key) is over the 1 MiB Kinesis limit" % size)
        return encoded

    def _encode_value(self, data: Any) -> bytes:
        encoder = self.encoder if self.encoder is not None else json_encode
        if not callable(encoder):
            raise library_error("encoder must be callable, got %s" % _describe(encoder))
        try:
            text = encoder(data)
        except Exception as exc:  # the user's encoder, or a value JSON cannot hold
            raise library_error("record data could not be encoded: %s" % exc) from None
        if isinstance(text, str):
            try:
                return text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise library_error("encoder returned a string that is not valid Unicode: %s" % exc) from None
        if isinstance(text, BYTES_LIKE):
            return _bytes_of(text, "the encoder's result")
        raise library_error("encoder must return str or bytes, got %s" % _describe(text))

    def __repr__(self) -> str:
        return "AWSKinesisStreams.Record(data=%s, partitionKey=%s, sequenceNumber=%r)" % (
            _preview(self.data),
            safe_repr(self.partitionKey),
            self.sequenceNumber,
        )


def _bytes_of(value: Union[bytearray, memoryview], what: str) -> bytes:
    """bytes(value); a LIBRARY_ERROR naming `what` if it cannot be read (a released memoryview, say)."""
    try:
        return bytes(value)
    except (ValueError, TypeError, BufferError) as exc:
        raise library_error("%s could not be read as bytes: %s" % (what, exc)) from None


def key_bytes(key: str) -> int:
    """The length of a partition key in UTF-8 bytes, as Kinesis counts it (without encoding an ASCII key).

    Raises a LIBRARY_ERROR Error for a key UTF-8 cannot hold (a lone surrogate).
    """
    if key.isascii():
        return len(key)
    try:
        return len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise library_error("partitionKey must be valid Unicode: %s" % exc) from None


def check_hash_key(value: object) -> None:
    """Refuse an explicit hash key that is not as AWS's pattern `0|([1-9]\\d{0,38})` says, or over 2**128-1."""
    if value is None:
        return
    if not _decimal(value, 39) or int(value) > MAX_HASH_KEY:  # type: ignore[arg-type]
        raise library_error(
            "explicitHashKey must be a decimal string from 0 to 2^128-1 with no sign, space or leading zero, got %s"
            % _describe(value)
        )


def is_sequence_number(value: object) -> bool:
    """True for a string as AWS's sequence number pattern `0|([1-9]\\d{0,128})` says."""
    return _decimal(value, 129)


def _decimal(value: object, most: int) -> bool:
    """True for `0|([1-9]\\d{0,most-1})` with ASCII digits only: no sign, space or leading zero (faster than a regex)."""
    return (
        isinstance(value, str)
        and value.isdigit()
        and value.isascii()
        and len(value) <= most
        and (value[0] != "0" or value == "0")
    )


def is_finite_number(value: object) -> bool:
    """True for an int or float (not a bool) that a float holds finitely: not NaN, infinite or too large."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _describe(value: object) -> str:
    """A short, safe description of a wrong argument for an error message (even one whose repr raises)."""
    return "%s %s" % (type(value).__name__, _preview(value))


def _preview(value: object) -> str:
    """`safe_repr(value)`, cut to 60 characters."""
    text = safe_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def safe_repr(value: object) -> str:
    """repr(value), or "(no repr)" where that raises (an int of more than 4300 digits, say): a repr never raises."""
    try:
        return repr(value)
    except Exception:
        return "(no repr)"
