"""The three enums of the Squirrel library, with its exact ordinal values."""

import enum
from typing import Optional, Type, TypeVar

E = TypeVar("E", bound=enum.IntEnum)


class AWS_KINESIS_STREAMS_ERROR(enum.IntEnum):
    """What kind of failure an AWSKinesisStreams.Error reports."""

    LIBRARY_ERROR = 0
    REQUEST_FAILED = 1
    UNEXPECTED_RESPONSE = 2


class AWS_KINESIS_STREAMS_ENCRYPTION_TYPE(enum.IntEnum):
    """How Kinesis stored a record: in the clear or under a KMS key."""

    NONE = 0
    KMS = 1


# Looked up once: reading an Enum member off its class costs 0.1 us, paid for every record read or written.
_KMS, _NOT_ENCRYPTED = AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.KMS, AWS_KINESIS_STREAMS_ENCRYPTION_TYPE.NONE


def encryption_type(name: Optional[str]) -> AWS_KINESIS_STREAMS_ENCRYPTION_TYPE:
    """The EncryptionType an answer names ("KMS", "NONE" or absent) as the enum."""
    return _KMS if name == "KMS" else _NOT_ENCRYPTED


class AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE(enum.IntEnum):
    """Where a shard iterator starts reading."""

    AT_SEQUENCE_NUMBER = 0
    AFTER_SEQUENCE_NUMBER = 1
    AT_TIMESTAMP = 2
    TRIM_HORIZON = 3
    LATEST = 4


def to_enum(enum_type: Type[E], value: object) -> Optional[E]:
    """The member for `value` (a member or its plain int), or None for anything else.

    Squirrel enums are ints, so ported code may pass 3 for TRIM_HORIZON; a bool is an int
    to Python but never an enum to Squirrel, so it is refused.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return enum_type(value)
    except ValueError:
        return None
