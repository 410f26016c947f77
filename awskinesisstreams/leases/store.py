"""Shard leases: who reads which shard, how far it got, and the store that keeps them.

A lease is keyed by application name, stream and shard, so one store serves several
applications and streams. Every change is conditional on the lease's owner and counter
as the caller last saw them, and moves the counter on: a worker whose lease was taken (its
counter moved) can no longer renew it or write its checkpoint. `SQLiteLeaseStore` shares a
file between the processes of one machine; `dynamodb.DynamoDBLeaseStore` serves many machines.
"""

import json
import os
import sqlite3
from abc import ABC, abstractmethod
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any, List, Optional, Tuple

from ..error import library_error

# Where a shard with no checkpoint starts, and the mark of a shard read to its end.
TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
SHARD_END = "SHARD_END"
START_POSITIONS = (TRIM_HORIZON, LATEST, AT_TIMESTAMP)

KEEP: Any = object()  # "leave the owner as it is" in LeaseStore._change


def scope_of(application: str, stream: str) -> str:
    """The key that groups one application's leases on one stream (unambiguous for any names)."""
    return json.dumps([application, stream])


@dataclass(frozen=True)
class Lease:
    """One shard's lease as a store returned it.

    `checkpoint` is a sequence number (read on after it), a start position (TRIM_HORIZON,
    LATEST, AT_TIMESTAMP) for a shard never checkpointed, or SHARD_END. `wanted` names a
    worker that asked the owner to hand the lease over (fair spreading). `subSequence`, when
    not None, says the checkpoint is inside the aggregated record `checkpoint`: its user
    records up to and including that index are done, the rest are not. `millisBehindLatest`
    is the lag its owner last reported with a renewal (None until then), for monitoring.
    """

    application: str
    stream: str
    shardId: str
    owner: Optional[str] = None
    counter: int = 0
    checkpoint: str = TRIM_HORIZON
    parents: Tuple[str, ...] = field(default_factory=tuple)
    wanted: Optional[str] = None
    subSequence: Optional[int] = None
    millisBehindLatest: Optional[int] = None

    @property
    def scope(self) -> str:
        return scope_of(self.application, self.stream)

    @property
    def finished(self) -> bool:
        """True once the shard has been read to its end and checkpointed so."""
        return self.checkpoint == SHARD_END


def checkpoint_moves_forward(
    old: str, new: str, old_sub: Optional[int] = None, new_sub: Optional[int] = None
) -> bool:
    """True if (`new`, `new_sub`) may replace (`old`, `old_sub`): never back, never away from SHARD_END.

    Within one sequence number a sub-sequence (part of the aggregate done) comes before None
    (all of it done).
    """
    if old == SHARD_END:
        return False
    if new == SHARD_END or old in START_POSITIONS:
        return True
    if not new.isdigit() or int(new) < int(old):
        return False
    if int(new) > int(old) or new_sub is None:
        return True
    return old_sub is not None and new_sub >= old_sub


class LeaseStore(ABC):
    """The small interface every lease store offers; all of it blocks, so call it off the loop thread.

    Changes return the lease as now stored, or None when the condition failed (someone else
    changed the lease since `lease` was read): that is how a worker learns it lost a lease.
    Failures to reach the store raise `Error`.
    """

    def prepare(self) -> None:
        """Create what the store needs (a table) if it is not there yet."""

    @abstractmethod
    def list(self, application: str, stream: str) -> List[Lease]:
        """Every lease of one application on one stream."""

    @abstractmethod
    def get(self, application: str, stream: str, shardId: str) -> Optional[Lease]:
        """One lease, or None if there is none."""

    @abstractmethod
    def create(self, lease: Lease) -> bool:
        """Store a new lease; False if one already exists for that shard."""

    @abstractmethod
    def delete(self, lease: Lease) -> bool:
        """Remove a lease if its counter has not moved; False otherwise."""

    @abstractmethod
    def ask(self, lease: Lease, worker: str) -> bool:
        """Ask the lease's owner to hand it to `worker` (sets `wanted`, counter unchanged)."""

    @abstractmethod
    def _change(
        self, lease: Lease, owner: Any, checkpoint: Optional[str], clear_wanted: bool,
        *, sub: Optional[int] = None, millis: Optional[int] = None,
    ) -> Optional[Lease]:
        """The one conditional write: if owner and counter are still `lease`'s, set the given
        owner (unless KEEP) and checkpoint with its sub-sequence `sub` (unless checkpoint is
        None), and millisBehindLatest (unless None), clear `wanted` if asked, move the counter on."""

    def take(self, lease: Lease, owner: str) -> Optional[Lease]:
        """Make `owner` the owner of a free or expired lease."""
        return self._change(lease, owner, None, True)

    def renew(self, lease: Lease, millisBehindLatest: Optional[int] = None) -> Optional[Lease]:
        """The owner's heartbeat: the counter moves, and the lag it reports (if any) is stored in the same write."""
        return self._change(lease, KEEP, None, False, millis=millisBehindLatest)

    def checkpoint(self, lease: Lease, position: str, subSequence: Optional[int] = None) -> Optional[Lease]:
        """Record how far the owner has processed (a user record inside an aggregate if `subSequence`
        is given); refused (None) if the lease was lost or it would go back."""
        if position == SHARD_END:
            subSequence = None
        if not checkpoint_moves_forward(lease.checkpoint, position, lease.subSequence, subSequence):
            return None
        return self._change(lease, KEEP, position, False, sub=subSequence)

    def release(self, lease: Lease, to: Optional[str] = None) -> Optional[Lease]:
        """Give the lease up: free, or handed straight to worker `to`."""
        return self._change(lease, to, None, True)


# Columns added after the first schema, with their types: `prepare` adds them to an older file.
ADDED_COLUMNS = (("subsequence", "INTEGER"), ("millis_behind", "INTEGER"))


class SQLiteLeaseStore(LeaseStore):
    """Leases in an SQLite file, safe for several processes on one machine.

    Each change is one `BEGIN IMMEDIATE` transaction (a write lock taken before the read),
    so the check of owner and counter and the write cannot interleave with another process.
    """

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        self.path = os.path.abspath(path) if isinstance(path, str) and path else ""
        self._busy_timeout = busy_timeout

    def _connect(self) -> sqlite3.Connection:
        if not self.path:
            raise library_error("SQLiteLeaseStore wrongly initialized: path must be a non-empty string")
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    def prepare(self) -> None:
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS leases (scope TEXT NOT NULL, shard TEXT NOT NULL, owner TEXT,"
                " counter INTEGER NOT NULL, checkpoint TEXT NOT NULL, parents TEXT NOT NULL, wanted TEXT,"
                " PRIMARY KEY (scope, shard))"
            )
            for name, kind in ADDED_COLUMNS:
                if name not in {column["name"] for column in db.execute("PRAGMA table_info(leases)")}:
                    try:
                        db.execute("ALTER TABLE leases ADD COLUMN %s %s" % (name, kind))
                    except sqlite3.OperationalError:  # another process added it first
                        pass

    @staticmethod
    def _lease(row: sqlite3.Row) -> Lease:
        application, stream = json.loads(row["scope"])
        return Lease(
            application,
            stream,
            row["shard"],
            row["owner"],
            row["counter"],
            row["checkpoint"],
            tuple(json.loads(row["parents"])),
            row["wanted"],
            subSequence=_added(row, "subsequence"),
            millisBehindLatest=_added(row, "millis_behind"),
        )

    def list(self, application: str, stream: str) -> List[Lease]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM leases WHERE scope = ? ORDER BY shard", (scope_of(application, stream),))
            return [self._lease(row) for row in rows]

    def get(self, application: str, stream: str, shardId: str) -> Optional[Lease]:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM leases WHERE scope = ? AND shard = ?", (scope_of(application, stream), shardId)
            ).fetchone()
            return self._lease(row) if row else None

    def create(self, lease: Lease) -> bool:
        with closing(self._connect()) as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO leases (scope, shard, owner, counter, checkpoint, parents, wanted, subsequence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    lease.scope,
                    lease.shardId,
                    lease.owner,
                    lease.counter,
                    lease.checkpoint,
                    json.dumps(lease.parents),
                    None,
                    lease.subSequence,
                ),
            )
            return cursor.rowcount == 1

    def delete(self, lease: Lease) -> bool:
        with closing(self._connect()) as db:
            cursor = db.execute(
                "DELETE FROM leases WHERE scope = ? AND shard = ? AND counter = ?", (lease.scope, lease.shardId, lease.counter)
            )
            return cursor.rowcount == 1

    def ask(self, lease: Lease, worker: str) -> bool:
        with closing(self._connect()) as db:
            cursor = db.execute(
                "UPDATE leases SET wanted = ? WHERE scope = ? AND shard = ? AND owner IS ?",
                (worker, lease.scope, lease.shardId, lease.owner),
            )
            return cursor.rowcount == 1

    def _change(
        self, lease: Lease, owner: Any, checkpoint: Optional[str], clear_wanted: bool,
        *, sub: Optional[int] = None, millis: Optional[int] = None,
    ) -> Optional[Lease]:
        new = replace(lease, owner=lease.owner if owner is KEEP else owner, counter=lease.counter + 1)
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT * FROM leases WHERE scope = ? AND shard = ? AND counter = ? AND owner IS ?",
                    (lease.scope, lease.shardId, lease.counter, lease.owner),
                ).fetchone()
                if row is None:
                    return None
                new = replace(
                    new,
                    checkpoint=checkpoint or row["checkpoint"],
                    subSequence=sub if checkpoint else row["subsequence"],
                    wanted=None if clear_wanted else row["wanted"],
                    millisBehindLatest=row["millis_behind"] if millis is None else millis,
                )
                db.execute(
                    "UPDATE leases SET owner = ?, counter = ?, checkpoint = ?, subsequence = ?, wanted = ?, millis_behind = ?"
                    " WHERE scope = ? AND shard = ?",
                    (
                        new.owner,
                        new.counter,
                        new.checkpoint,
                        new.subSequence,
                        new.wanted,
                        new.millisBehindLatest,
                        lease.scope,
                        lease.shardId,
                    ),
                )
            finally:
                db.execute("COMMIT")
            return new

    def __repr__(self) -> str:
        return "SQLiteLeaseStore(%r)" % self.path


def _added(row: sqlite3.Row, column: str) -> Any:
    """A column of ADDED_COLUMNS, or None in a file that does not have it yet (read before any `prepare`)."""
    return row[column] if column in row.keys() else None

