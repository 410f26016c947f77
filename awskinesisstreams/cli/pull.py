"""`kinesis-streams pull`: read every shard of a stream (children after their parents) to files or standard output.

Each shard is read by a shard source on the library's loop, as the Worker reads it. Polling: a
shard that is behind is read again after 0.2 s (AWS allows 5 GetRecords per second per shard);
one that is caught up waits the -z pace. With --fan-out NAME, SubscribeToShard pushes them.
--checkpoint saves each shard's last sequence number after every batch written, so the next
run starts right after it. KPL aggregates are split into their user records unless
--no-deaggregate is given.
"""

import argparse
import base64
import datetime
import functools
import json
import os
import re
import sys
import threading
import time
from typing import IO, Any, Dict, List, Optional, Set, Tuple

from .target import Target, UsageError, positive
from ..enums import AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as ITERATOR
from ..error import Error
from ..wire.stream_consumers import StreamConsumers
from ..reading.fanout_source import FanOutSource, closed_shards
from ..wire.kinesis import MAX_GET_LIMIT
from ..loop import LOOP
from ..record import Record
from ..reading.source import Batch, PollingSource, Report, ShardSource

PACE = {"fast": 1.0, "normal": 2.0, "slow": 3.0}  # seconds between calls to a caught-up shard, as kine
MAX_FAILURES = 5  # consecutive failed calls on one shard before giving up
FATAL = ("ResourceNotFoundException", "AccessDeniedException")  # given up on at once
RELATIVE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:\s*ago)?")
MILLIS_FROM = 1e11  # a number this large is milliseconds: as seconds it would be the year 5138


def parse_timestamp(text: str, now: Optional[float] = None) -> float:
    """Seconds since the epoch from seconds or milliseconds, ISO 8601 (UTC if no zone), or a time ago like 1h10m."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        value = float(text)
        return value / 1000 if value >= MILLIS_FROM else value
    match = RELATIVE.fullmatch(text)
    if match and any(match.groups()):
        days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
        return (time.time() if now is None else now) - (((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    try:
        when = datetime.datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not a time: give seconds or milliseconds since the epoch, ISO 8601 "
            "(2024-05-01T12:00:00Z) or a time ago such as 1h10m" % text
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def record_line(record: Record, shard_id: Optional[str] = None) -> str:
    """One record as a JSON line: data as UTF-8 text (`data`) or, when it is not UTF-8, base64 (`dataBase64`).

    A user record out of an aggregate also has its `subSequenceNumber`, and its `explicitHashKey` if it has one.
    """
    entry: Dict[str, Any] = {"shardId": shard_id} if shard_id else {}
    entry["sequenceNumber"] = record.sequenceNumber
    if record.subSequenceNumber is not None:
        entry["subSequenceNumber"] = record.subSequenceNumber
    if record.timestamp is not None:
        entry["arrivalTime"] = datetime.datetime.fromtimestamp(record.timestamp, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    entry["partitionKey"] = record.partitionKey
    if record.explicitHashKey is not None:
        entry["explicitHashKey"] = record.explicitHashKey
    try:
        entry["data"] = record.data.decode("utf-8")
    except UnicodeDecodeError:
        entry["dataBase64"] = base64.b64encode(record.data).decode("ascii")
    return json.dumps(entry) + "\n"


def last_whole(written: List[Record], batch: List[Record]) -> Optional[str]:
    """The sequence number of the last Kinesis record all of whose user records are in `written`,
    the start of `batch` (None if there is none): -n may stop inside an aggregate."""
    last = written[-1].sequenceNumber
    if len(written) == len(batch) or batch[len(written)].sequenceNumber != last:
        return last
    return next((record.sequenceNumber for record in reversed(written) if record.sequenceNumber != last), None)


class Checkpoint:
    """The last sequence number written of each shard, and the closed shards read to their end, in a JSON file."""

    def __init__(self, path: Optional[str], stream: str) -> None:
        self.path = path
        self.stream = stream
        self.sequence: Dict[str, str] = {}
        self.finished: Set[str] = set()
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as file:
                    saved = json.load(file)
                self.sequence = dict(saved["sequenceNumbers"])
                self.finished = set(saved["finished"])
                saved_stream = saved["stream"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise UsageError("checkpoint %s is not a kinesis-streams checkpoint (%s)" % (path, exc)) from None
            if saved_stream != stream:
                raise UsageError("checkpoint %s belongs to stream %r, not %r" % (path, saved_stream, stream))

    def save(self) -> None:
        """Write the file whole, then rename it over the old one, so a crash leaves one or the other."""
        if not self.path:
            return
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(
                {"stream": self.stream, "sequenceNumbers": self.sequence, "finished": sorted(self.finished)}, file, indent=1
            )
        os.replace(temporary, self.path)


class Shard:
    """One shard being read: where its records go, its source, and how it is doing."""

    def __init__(self, description: Dict[str, Any], out: IO[str], own_file: bool) -> None:
        self.id: str = description["ShardId"]
        self.parents = {description.get(key) for key in ("ParentShardId", "AdjacentParentShardId")} - {None}
        self.out = out
        self.own_file = own_file
        self.source: Optional[ShardSource] = None
        self.count = 0
        self.behind: Optional[int] = None
        self.caught_up = False

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        if self.own_file:
            self.out.close()


class Puller:
    """Reads the chosen shards of a stream, each from a shard source on the library's loop, until a stop condition holds.

    Records are written before the checkpoint moves past them: after a crash, the next run
    may write a batch again, never skip one.
    """

    def __init__(self, target: Target, args: argparse.Namespace) -> None:
        self.args = args
        self.kinesis = target.kinesis()
        self.checkpoint = Checkpoint(args.checkpoint, target.stream)
        self.pace = PACE[args.speed]
        self.live = bool(args.output) and sys.stderr.isatty()
        descriptions = target.shards()
        self.closed = closed_shards(descriptions)
        self.fan_out: Optional[Tuple[StreamConsumers, str]] = None
        if args.fan_out is not None:
            consumers = StreamConsumers(self.kinesis)
            try:
                self.fan_out = consumers, consumers.register(args.fan_out)()["consumerARN"]
            except Error as error:
                if error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR:
                    raise UsageError("--fan-out: %s" % error.details) from None
                raise
        known = {d["ShardId"] for d in descriptions}
        unknown = [shard for shard in args.shard or () if shard not in known]
        if unknown:
            has = ", ".join(sorted(known))
            raise UsageError("stream %r has no shard %s (it has %s)" % (target.stream, ", ".join(unknown), has))
        chosen = [d for d in descriptions if not args.shard or d["ShardId"] in args.shard]
        if args.output:
            os.makedirs(args.output, exist_ok=True)
        mode = "a" if args.checkpoint else "w"
        self.waiting: Dict[str, Shard] = {}
        for description in chosen:
            if description["ShardId"] in self.checkpoint.finished:
                continue
            if args.output:
                out = open(os.path.join(args.output, description["ShardId"] + ".jsonl"), mode, encoding="utf-8")
                self.waiting[description["ShardId"]] = Shard(description, out, True)
            else:
                self.waiting[description["ShardId"]] = Shard(description, sys.stdout, False)
        self.active: Dict[str, Shard] = {}
        self.total = 0
        self.over = threading.Event()
        self.error: Optional[Error] = None

    # -- reading, on the library's loop ----------------------------------------------

    def _start_ready(self) -> None:
        """Start every waiting shard none of whose parents is still to be read."""
        for shard in list(self.waiting.values()):
            if not shard.parents & (set(self.waiting) | set(self.active)):
                del self.waiting[shard.id]
                self.active[shard.id] = shard
                after = self.checkpoint.sequence.get(shard.id)
                if after:
                    kind, options = ITERATOR.AFTER_SEQUENCE_NUMBER, {"startingSequenceNumber": after}
                else:
                    kind = ITERATOR[self.args.type]
                    options = {"timestamp": self.args.timestamp} if kind is ITERATOR.AT_TIMESTAMP else None
                shard.source = self._source(shard.id, kind, options, functools.partial(self._warn, shard))
                shard.source.next(functools.partial(self._got, shard))

    def _source(self, shard_id: str, kind: ITERATOR, options: Optional[Dict[str, Any]], warn: Report) -> ShardSource:
        """SubscribeToShard with --fan-out, else GetRecords at the -z pace."""
        settings: Dict[str, Any] = dict(
            isBlob=True, deaggregate=not self.args.no_deaggregate, maxFailures=MAX_FAILURES, fatal=FATAL
        )
        if self.fan_out is None:
            return PollingSource(self.kinesis, shard_id, kind, options, warn, pace=self.pace, **settings)
        consumers, arn = self.fan_out
        source = FanOutSource(consumers, arn, shard_id, kind, options, warn, **settings)
        if shard_id in self.closed:
            source.shard_closed(self.closed[shard_id])
        return source

    def _got(self, shard: Shard, error: Optional[Error], batch: Optional[Batch]) -> None:
        if self.over.is_set():
            return
        if batch is None:
            self._stop(error)
            return
        records = batch.records
        shard.behind = batch.millisBehindLatest
        shard.caught_up = shard.behind == 0 and len(records) < MAX_GET_LIMIT  # a full page may hide more, whatever it says
        if self.args.count is not None:
            records = records[: self.args.count - self.total]
        if records:
            shard.out.write("".join(record_line(r, None if shard.own_file else shard.id) for r in records))
            shard.out.flush()
            shard.count += len(records)
            self.total += len(records)
            whole = last_whole(records, batch.records)
            if whole:
                self.checkpoint.sequence[shard.id] = whole
        if batch.ended:
            self.checkpoint.finished.add(shard.id)
            del self.active[shard.id]
            shard.close()
            self._progress("%s: closed, read to its end (%d records)" % (shard.id, shard.count))
            self._start_ready()
        else:
            if records:
                self._progress("%s: %d records (%d in all), %d ms behind" % (shard.id, len(records), shard.count, shard.behind))
            assert shard.source is not None
            shard.source.next(functools.partial(self._got, shard))
        if records or batch.ended:
            self.checkpoint.save()
        if self._done():
            self._stop(None)

    def _warn(self, shard: Shard, error: Error) -> None:
        """A failed call the source tries again (throttling, an expired iterator): one line on standard error."""
        sys.stderr.write("%s%s: %s (trying again)\n" % ("\r\x1b[K" if self.live else "", shard.id, error))

    def _stop(self, error: Optional[Error]) -> None:
        """Stop every source and let `run` return (or raise `error`)."""
        if self.over.is_set():
            return
        self.error = error
        for shard in self.active.values():
            shard.close()
        self.over.set()

    def _done(self) -> bool:
        if not self.waiting and not self.active:
            return True
        if self.args.count is not None and self.total >= self.args.count:
            return True
        return bool(
            self.args.until_caught_up
            and not self.waiting
            and all(shard.caught_up for shard in self.active.values())
        )

    def run(self) -> int:
        """Read until a stop condition holds; returns the number of records written."""
        try:
            LOOP.deliver((), self._begin)
            self.over.wait()
        finally:
            LOOP.deliver((None,), self._stop).result()  # on the loop, so no batch is being written meanwhile
            self.checkpoint.save()
            if self.live:
                sys.stderr.write("\n")
            for shard in self.waiting.values():
                shard.close()
        if self.error is not None:
            raise self.error
        return self.total

    def _begin(self) -> None:
        self._start_ready()
        if self._done():
            self._stop(None)

    def _progress(self, line: str) -> None:
        """With -o, progress on standard error: kine-like lines, or one live line on a terminal."""
        if not self.args.output:
            return
        if self.live:
            behind = [s.behind for s in self.active.values() if s.behind is not None]
            sys.stderr.write(
                "\r\x1b[Kpulled %d records; %d shards reading, %d waiting for parents; at most %s ms behind"
                % (self.total, len(self.active), len(self.waiting), max(behind) if behind else "?")
            )
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("stream", metavar="STREAM", help="the stream's name")
    add("-t", dest="type", choices=("LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"),
        help="where to start (default LATEST; AT_TIMESTAMP if -d is given)")
    add("-d", dest="timestamp", type=parse_timestamp, metavar="TIME",
        help="for AT_TIMESTAMP: seconds or ms since the epoch, ISO 8601, or a time ago (1h10m)")
    add("-i", dest="shard", action="append", metavar="SHARD_ID",
        help="read only this shard (may be repeated; default every shard)")
    add("-o", dest="output", metavar="DIR",
        help="write one SHARD_ID.jsonl file per shard into DIR (default standard output)")
    add("-z", dest="speed", choices=tuple(PACE), default="normal",
        help="pause before asking a caught-up shard again: slow 3 s, normal 2 s, fast 1 s")
    add("-n", dest="count", type=positive, metavar="N", help="stop after N records")
    add("--until-caught-up", action="store_true",
        help="stop once every shard reports 0 ms behind (after a read that was not a full page)")
    add("--checkpoint", metavar="FILE", help="resume after the sequence numbers saved in FILE, and save them there")
    add("--no-deaggregate", action="store_true",
        help="write KPL aggregated records whole (by default each becomes its user records)")
    add("--fan-out", dest="fan_out", metavar="NAME",
        help="read by enhanced fan-out (SubscribeToShard) as stream consumer NAME, registered if missing")


def run(args: argparse.Namespace) -> int:
    if args.timestamp is not None and args.type in (None, "AT_TIMESTAMP"):
        args.type = "AT_TIMESTAMP"
    elif args.timestamp is not None:
        raise UsageError("-d is only for -t AT_TIMESTAMP")
    elif args.type == "AT_TIMESTAMP":
        raise UsageError("-t AT_TIMESTAMP needs -d TIME")
    args.type = args.type or "LATEST"
    target = Target.from_args(args)
    puller = Puller(target, args)
    started = time.monotonic()
    total = puller.run()
    sys.stderr.write("pulled %d records in %.1f s\n" % (total, time.monotonic() - started))
    return 0
