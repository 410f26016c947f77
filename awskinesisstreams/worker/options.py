"""The Worker's options: their defaults, and the checks a Worker makes of them when it is built."""

import threading
from typing import Any, Callable, Dict, List, Optional

from ..enums import AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR, to_enum
from ..error import Error
from ..wire.stream_consumers import CONSUMER_NAME
from ..wire.kinesis import timestamp_seconds
from ..leases.store import START_POSITIONS, LeaseStore
from ..transport.signed_request import is_seconds
from ..transport.sigv4 import is_unicode

PACES = {"slow": 3.0, "normal": 2.0, "fast": 1.0}  # seconds between polls of a caught-up shard, as kine's -z
DEFAULT_STORE = "awskinesisstreams-leases.sqlite3"
CALLBACKS = ("init", "processRecords", "onShardClosed", "onError")
DEFAULTS: Dict[str, Any] = {
    "applicationName": None,  # the stream's name
    "workerId": None,  # host:pid:random
    "leaseStore": None,  # SQLiteLeaseStore(DEFAULT_STORE) in the current folder
    "initialPosition": ITERATOR.TRIM_HORIZON,
    "timestamp": None,
    "maxShards": None,
    "limit": 1000,
    "leaseDuration": 10.0,
    "heartbeatPeriod": None,  # a third of leaseDuration
    "shardSyncPeriod": 60.0,
    "stuckAfter": 60.0,
    "pace": "normal",
    "isBlob": False,
    "deaggregate": True,  # KPL aggregates delivered as their user records
    "fanOut": None,  # a stream consumer's name: read by SubscribeToShard (enhanced fan-out), registered if missing
}


def check_options(opts: Dict[str, Any], callbacks: Dict[str, Optional[Callable[..., Any]]]) -> List[str]:
    """What is wrong with a Worker's options and callbacks (empty if nothing); `initialPosition` is made an enum."""
    wrong: List[str] = []
    if not callable(callbacks["processRecords"]):
        wrong.append("processRecords(records, cb) is required")
    wrong += [
        "%s must be callable" % name
        for name, fn in callbacks.items()
        if fn is not None and not callable(fn)
    ]
    position = opts["initialPosition"]
    position = ITERATOR[position] if isinstance(position, str) and position in START_POSITIONS else to_enum(ITERATOR, position)
    if position is None or position.name not in START_POSITIONS:
        wrong.append("initialPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP")
    else:
        opts["initialPosition"] = position
    if position is ITERATOR.AT_TIMESTAMP:
        try:
            timestamp_seconds(opts["timestamp"])
        except Error as error:
            wrong.append(error.details)
    numbers = ("leaseDuration", "heartbeatPeriod", "shardSyncPeriod", "stuckAfter", "maxShards")
    optional = ("heartbeatPeriod", "stuckAfter", "maxShards")  # None: a third of leaseDuration, never stuck, no limit
    bad_numbers = [name for name in numbers if not (opts[name] is None and name in optional) and not is_seconds(opts[name])]
    wrong += ["%s must be a positive number of at most %d" % (name, threading.TIMEOUT_MAX) for name in bad_numbers]
    limit = opts["limit"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
        wrong.append("limit must be an integer from 1 to 10000")
    wrong += ["%s must be a boolean" % name for name in ("isBlob", "deaggregate") if not isinstance(opts[name], bool)]
    if opts["fanOut"] is not None and (not isinstance(opts["fanOut"], str) or not CONSUMER_NAME.match(opts["fanOut"])):
        wrong.append("fanOut must be None or a consumer name of 1 to 128 letters, digits, '_', '.' or '-'")
    if not isinstance(opts["pace"], str) or opts["pace"] not in PACES:
        wrong.append("pace must be slow, normal or fast")
    if not bad_numbers and opts["heartbeatPeriod"] and opts["heartbeatPeriod"] * 2 > opts["leaseDuration"]:
        wrong.append("heartbeatPeriod must be at most half of leaseDuration")
    for name in ("applicationName", "workerId"):
        value = opts[name]
        if value is not None and (not isinstance(value, str) or not value or not is_unicode(value)):
            wrong.append("%s must be a non-empty, valid Unicode string" % name)
    if opts["leaseStore"] is not None and not isinstance(opts["leaseStore"], LeaseStore):
        wrong.append("leaseStore must be a LeaseStore")
    return wrong
