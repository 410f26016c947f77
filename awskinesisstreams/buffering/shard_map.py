"""The shard map: which open shard Kinesis routes a partition key or explicit hash key to.

Kinesis puts a record in the open shard whose hash key range holds its 128-bit hash key: the
explicitHashKey if given, else the MD5 of the UTF-8 partition key. The map is built from
ListShards (every page) and looked up with a binary search over the shards' ending keys.
"""

import hashlib
from bisect import bisect_left
from typing import Any, Dict, List, Optional

KEY_CACHE_SIZE = 1 << 16  # partition keys whose hash key is remembered; the cache starts over beyond it

_hash_keys: Dict[str, int] = {}


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis derives from a partition key (an MD5, remembered for the next record)."""
    value = _hash_keys.get(partition_key)
    if value is None:
        if len(_hash_keys) >= KEY_CACHE_SIZE:
            _hash_keys.clear()  # bounded: a stream of random keys must not grow it without end
        value = _hash_keys[partition_key] = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
    return value


def is_open(shard: Dict[str, Any]) -> bool:
    """Whether a ListShards entry is an open shard (no ending sequence number)."""
    return not (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")


class ShardMap:
    """The open shards of a stream, ordered by hash key range."""

    def __init__(self, shards: List[Dict[str, Any]]) -> None:
        ranges = sorted(
            (int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"]), shard["ShardId"])
            for shard in shards
            if is_open(shard)
        )
        if not ranges:
            raise ValueError("the stream has no open shard")
        self.ids: List[str] = [shard_id for _, _, shard_id in ranges]
        self.pins: List[str] = [str(start) for start, _, _ in ranges]  # a hash key inside each shard
        self._ends: List[int] = [end for _, end, _ in ranges]

    def index(self, partition_key: str, explicit_hash_key: Optional[str] = None) -> int:
        """The position in `ids` of the shard a record with these keys goes to."""
        key = hash_key(partition_key) if explicit_hash_key is None else int(explicit_hash_key)
        return min(bisect_left(self._ends, key), len(self._ends) - 1)

    def __len__(self) -> int:
        return len(self.ids)
