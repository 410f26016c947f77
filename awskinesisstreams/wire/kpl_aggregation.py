"""The KPL aggregated-record format: many user records packed into one Kinesis record.

Layout: the magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`, then the MD5 of that
protobuf. The two messages are frozen, so they are written and read here by hand:

    AggregatedRecord { repeated string partition_key_table = 1;
                       repeated string explicit_hash_key_table = 2;
                       repeated Record records = 3; }
    Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
             required bytes data = 3; repeated Tag tags = 4; }

Both directions sit on a per-user-record path, so they avoid the protobuf package (a
dependency, and slower here) and do the least work each record needs.
"""

import hashlib
from typing import Dict, List, Optional, Tuple

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16
DEFAULT_MAX_BYTES = 51200  # the KPL's AggregationMaxSize

UserRecord = Tuple[str, Optional[str], bytes]

# Wire tags (field number << 3 | wire type) of the fields we write or read.
_KEY_TABLE = 0x0A  # AggregatedRecord.partition_key_table, length-delimited
_HASH_TABLE = 0x12  # AggregatedRecord.explicit_hash_key_table, length-delimited
_RECORDS = 0x1A  # AggregatedRecord.records, length-delimited
_KEY_INDEX = 0x08  # Record.partition_key_index, varint
_HASH_INDEX = 0x10  # Record.explicit_hash_key_index, varint
_DATA = 0x1A  # Record.data, length-delimited


def _varint(value: int) -> bytes:
    """`value` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Field headers for the small numbers nearly every record uses, built once.
_SMALL = 2048
_LENGTH_FIELD = [bytes((_DATA,)) + _varint(n) for n in range(_SMALL)]  # tag 0x1A + length: data, records
_KEY_FIELD = [bytes((_KEY_INDEX,)) + _varint(n) for n in range(_SMALL)]
_HASH_FIELD = [bytes((_HASH_INDEX,)) + _varint(n) for n in range(_SMALL)]


def _length_field(n: int) -> bytes:
    return _LENGTH_FIELD[n] if n < _SMALL else bytes((_DATA,)) + _varint(n)


class Aggregate:
    """One aggregated record being filled, with its exact encoded size kept as it grows.

    `count` is the number of user records in it and `size` the length `encode()` would
    return now (magic and MD5 included). `add` refuses a record that would take `size`
    over `max_bytes`, except into an empty aggregate, which takes any one record.
    """

    __slots__ = ("max_bytes", "count", "size", "_keys", "_hash_keys", "_key_table", "_hash_table", "_records")

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.count = 0
        self.size = len(MAGIC) + DIGEST_BYTES
        self._keys: Dict[str, bytes] = {}  # partition key -> its encoded partition_key_index field
        self._hash_keys: Dict[str, bytes] = {}  # explicit hash key -> its encoded index field
        self._key_table: List[bytes] = []  # encoded partition_key_table entries, in index order
        self._hash_table: List[bytes] = []  # encoded explicit_hash_key_table entries
        self._records: List[bytes] = []  # the encoded records field, in pieces

    def add(self, partition_key: str, explicit_hash_key: Optional[str], data: bytes) -> bool:
        """Append one user record; False (and nothing added) when it does not fit."""
        keys = self._keys
        key_field = keys.get(partition_key)
        if key_field is None:
            new_key = _KEY_ENTRIES.get(partition_key) or _key_entry(partition_key)
            n = len(keys)
            key_field = _KEY_FIELD[n] if n < _SMALL else bytes((_KEY_INDEX,)) + _varint(n)
            grow = len(new_key)
        else:
            new_key = None
            grow = 0
        n = len(data)
        data_field = _LENGTH_FIELD[n] if n < _SMALL else _length_field(n)
        if explicit_hash_key is None:
            body = len(key_field) + len(data_field) + n
            record_field = _LENGTH_FIELD[body] if body < _SMALL else _length_field(body)
            grow += len(record_field) + body
            if self.size + grow > self.max_bytes and self.count:
                return False
            self._records += (record_field, key_field, data_field, data)
        else:
            hash_field = self._hash_keys.get(explicit_hash_key)
            new_hash = None
            if hash_field is None:
                new_hash = _table_entry(_HASH_TABLE, explicit_hash_key)
                n = len(self._hash_keys)
                hash_field = _HASH_FIELD[n] if n < _SMALL else bytes((_HASH_INDEX,)) + _varint(n)
                grow += len(new_hash)
            body = len(key_field) + len(hash_field) + len(data_field) + len(data)
            record_field = _LENGTH_FIELD[body] if body < _SMALL else _length_field(body)
            grow += len(record_field) + body
            if self.size + grow > self.max_bytes and self.count:
                return False
            if new_hash is not None:
                self._hash_keys[explicit_hash_key] = hash_field
                self._hash_table.append(new_hash)
            self._records += (record_field, key_field, hash_field, data_field, data)
        if new_key is not None:
            keys[partition_key] = key_field
            self._key_table.append(new_key)
        self.size += grow
        self.count += 1
        return True

    def encode(self) -> bytes:
        """The aggregated record: magic, protobuf, MD5 of the protobuf."""
        body = b"".join(self._key_table + self._hash_table + self._records)
        return MAGIC + body + hashlib.md5(body).digest()


def _table_entry(tag: int, key: str) -> bytes:
    raw = key.encode("utf-8")
    return bytes((tag,)) + _varint(len(raw)) + raw


_KEY_ENTRIES: Dict[str, bytes] = {}  # partition key -> its partition_key_table entry, for the next aggregate
_KEY_ENTRIES_SIZE = 1 << 16


def _key_entry(partition_key: str) -> bytes:
    """A partition_key_table entry, remembered: most aggregates hold the keys the one before held."""
    if len(_KEY_ENTRIES) >= _KEY_ENTRIES_SIZE:
        _KEY_ENTRIES.clear()  # bounded: random keys must not grow it without end
    entry = _KEY_ENTRIES[partition_key] = _table_entry(_KEY_TABLE, partition_key)
    return entry


class _Malformed(ValueError):
    """The bytes are not a well-formed AggregatedRecord."""


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    """The varint at `pos` and the position after it (at most 10 bytes, as protobuf allows)."""
    value = shift = 0
    for pos in range(pos, pos + 10):
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
    raise _Malformed("varint over 10 bytes")


def _skip(data: bytes, pos: int, end: int) -> int:
    """Skip the unknown field whose tag is at `pos`; the position after it."""
    tag, pos = _read_varint(data, pos)
    wire = tag & 7
    if tag >> 3 == 0:
        raise _Malformed("field number 0")
    if wire == 0:
        _, pos = _read_varint(data, pos)
    elif wire == 2:
        length, pos = _read_varint(data, pos)
        pos += length
    elif wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    else:
        raise _Malformed("group or unknown wire type %d" % wire)
    if pos > end:
        raise _Malformed("field runs past its message")
    return pos


def deaggregate(data: bytes) -> Optional[List[UserRecord]]:
    """The user records (partition key, explicit hash key or None, data) packed in `data`, in order.

    None when `data` is not a KPL aggregate: no magic, too short, wrong MD5, or a protobuf
    that is malformed, truncated, or points outside its key tables. Never raises.
    """
    if len(data) <= len(MAGIC) + DIGEST_BYTES or data[:4] != MAGIC:
        return None
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data) - DIGEST_BYTES
    if hashlib.md5(memoryview(data)[4:end]).digest() != data[end:]:
        return None
    try:
        return _parse(data, end)
    except (IndexError, ValueError):  # ValueError: _Malformed, or a key that is not UTF-8
        return None


def _parse(data: bytes, end: int) -> Optional[List[UserRecord]]:
    """Parse the AggregatedRecord in data[4:end].

    Records laid out as writers lay out the usual record (key index, then data, no explicit hash
    key) take an inline path; any other go through `_record`.
    """
    keys: List[str] = []
    hash_keys: List[str] = []
    found: List[Tuple[int, Optional[int], bytes]] = []  # indexes resolved once the tables are all read
    append = found.append
    add_key = keys.append
    pos = 4
    while pos < end:
        tag = data[pos]
        if tag == _RECORDS:
            length = data[pos + 1]
            if length < 0x80:
                pos += 2
            else:
                length, pos = _read_varint(data, pos + 1)
            start = pos
            stop = pos + length
            if stop > end:
                return None
            if data[pos] == _KEY_INDEX:
                key = data[pos + 1]
                if key < 0x80:
                    pos += 2
                elif data[pos + 2] < 0x80:  # indexes 128 to 16383: two bytes
                    key = key - 0x80 + (data[pos + 2] << 7)
                    pos += 3
                else:
                    key, pos = _read_varint(data, pos + 1)
                if data[pos] == _DATA:
                    length = data[pos + 1]
                    if length < 0x80:
                        pos += 2
                    else:
                        length, pos = _read_varint(data, pos + 1)
                    if pos + length == stop:
                        append((key, None, data[pos:stop]))
                        pos = stop
                        continue
            append(_record(data, start, stop))
            pos = stop
        elif tag == _KEY_TABLE or tag == _HASH_TABLE:
            length = data[pos + 1]
            if length < 0x80:
                start = pos + 2
            else:
                length, start = _read_varint(data, pos + 1)
            pos = start + length
            if pos > end:
                return None
            if tag == _KEY_TABLE:
                add_key(data[start:pos].decode())
            else:
                hash_keys.append(data[start:pos].decode())
        else:
            pos = _skip(data, pos, end)
    if pos != end:
        return None
    return [(keys[k], None if h is None else hash_keys[h], v) for k, h, v in found]


def _record(data: bytes, pos: int, stop: int) -> Tuple[int, Optional[int], bytes]:
    """One Record message in data[pos:stop], its fields in any order, tags and unknown fields skipped."""
    key = hash_key = value = None
    while pos < stop:
        tag = data[pos]
        if tag == _KEY_INDEX:
            key, pos = _read_varint(data, pos + 1)
        elif tag == _HASH_INDEX:
            hash_key, pos = _read_varint(data, pos + 1)
        elif tag == _DATA:
            length, pos = _read_varint(data, pos + 1)
            value = data[pos : pos + length]
            pos += length
        else:
            pos = _skip(data, pos, stop)
    if pos != stop or key is None or value is None:  # both are required fields
        raise _Malformed("record truncated or missing a required field")
    return key, hash_key, value
