"""`kinesis-streams leases`: which worker reads each shard, its checkpoint and lag, from the lease store."""

import argparse
import json
import os
import sqlite3
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error
from ..leases.dynamodb import DynamoDBLeaseStore
from ..leases.store import Lease, LeaseStore, SQLiteLeaseStore
from .target import Target, UsageError, table, when


LEASE_COLUMNS = (
    ("shardId", "SHARD"),
    ("owner", "OWNER"),
    ("counter", "COUNTER"),
    ("checkpoint", "CHECKPOINT"),
    ("parents", "PARENTS"),
    ("millisBehindLatest", "MILLIS BEHIND"),
)


def _lease_store(args: argparse.Namespace, target: Target) -> Tuple[LeaseStore, str]:
    """The lease store the options name, and where it is in words; a missing SQLite file is not created."""
    if args.sqlite is not None:
        if not os.path.isfile(args.sqlite):
            raise UsageError("lease file %s does not exist" % args.sqlite)
        return SQLiteLeaseStore(args.sqlite), args.sqlite
    endpoint = args.dynamodb_endpoint
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise UsageError("--dynamodb-endpoint must be an http:// or https:// URL, got %r" % endpoint)
    store = DynamoDBLeaseStore(args.dynamodb, target.region, None, None, endpoint=endpoint, credentials=target.credentials)
    return store, "DynamoDB table %s" % args.dynamodb


def _checkpoint(lease: Lease) -> str:
    """The checkpoint as shown: a sequence number (with `/sub-sequence` inside an aggregate), SHARD_END or a start position."""
    sub = lease.subSequence
    return lease.checkpoint if sub is None else "%s/%d" % (lease.checkpoint, sub)


def lease_rows(shards: List[Dict[str, Any]], leases: List[Lease]) -> List[Dict[str, Any]]:
    """One row per listed shard: its lease's owner, counter, checkpoint and reported lag (all None without a lease)."""
    by_shard = {lease.shardId: lease for lease in leases}
    rows = []
    for shard in shards:
        lease = by_shard.get(shard["ShardId"])
        rows.append(
            {
                "shardId": shard["ShardId"],
                "owner": lease.owner if lease else None,
                "counter": lease.counter if lease else None,
                "checkpoint": _checkpoint(lease) if lease else None,
                "parents": [shard[key] for key in ("ParentShardId", "AdjacentParentShardId") if shard.get(key)],
                "millisBehindLatest": lease.millisBehindLatest if lease else None,
            }
        )
    return rows


def _cell(value: Any) -> str:
    if value is None or value == []:
        return "-"
    return " + ".join(value) if isinstance(value, list) else str(value)


def run(args: argparse.Namespace) -> int:
    """Every shard of the stream with its lease in an application's lease store, as a table or JSON;
    with --watch, redrawn every so many seconds until interrupted, the largest lag on top."""
    target = Target.from_args(args)
    store, where = _lease_store(args, target)
    if args.watch is None:
        _show(args, target, store, where)
        return 0
    while True:
        if sys.stdout.isatty():
            sys.stdout.write("\x1b[H\x1b[2J")  # home, clear: the table is redrawn in place
        _show(args, target, store, where, watching=True)
        sys.stdout.flush()
        time.sleep(args.watch)


def _show(args: argparse.Namespace, target: Target, store: LeaseStore, where: str, watching: bool = False) -> None:
    try:
        leases = store.list(args.app, args.stream)
    except sqlite3.Error as exc:
        raise UsageError("%s is not a lease file (%s)" % (where, exc)) from None
    except Error as error:
        if error.awsErrorType == "ResourceNotFoundException" or error.type == AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR:
            raise UsageError("%s: %s" % (where, error.details)) from None
        raise
    if not leases:
        raise UsageError("no leases of application %r on stream %r in %s" % (args.app, args.stream, where))
    rows = lease_rows(target.shards(), leases)
    if args.json:
        print(json.dumps(rows, indent=2) if not watching else json.dumps({"maxMillisBehindLatest": max_lag(rows), "shards": rows}))
        return
    if watching:
        lag = max_lag(rows)
        print("%s  application %s on %s: largest millisBehindLatest %s (every %g s, Ctrl-C stops)"
              % (when(time.time()), args.app, args.stream, "-" if lag is None else lag, args.watch))
    header = [title for _, title in LEASE_COLUMNS]
    print(table([header] + [[_cell(row[key]) for key, _ in LEASE_COLUMNS] for row in rows]))


def max_lag(rows: List[Dict[str, Any]]) -> Optional[int]:
    """The application's lag: the largest millisBehindLatest its workers stored."""
    lags = [row["millisBehindLatest"] for row in rows if row["millisBehindLatest"] is not None]
    return max(lags) if lags else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stream", metavar="STREAM", help="the stream's name")
    parser.add_argument("--app", required=True, metavar="NAME", help="the Worker's applicationName")
    store = parser.add_mutually_exclusive_group(required=True)
    store.add_argument("--sqlite", metavar="FILE", help="the SQLite lease file the workers share")
    store.add_argument("--dynamodb", metavar="TABLE", help="the DynamoDB lease table")
    parser.add_argument(
        "--dynamodb-endpoint", metavar="URL", help="DynamoDB endpoint (default AWS_ENDPOINT_URL_DYNAMODB, else AWS's)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per shard")
    parser.add_argument("--watch", nargs="?", type=_seconds, const=2.0, default=None, metavar="SECONDS",
                        help="redraw every SECONDS (default 2) until Ctrl-C, the application's largest lag on top")


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text)
    return value
