"""`kinesis-streams`: look into a stream (ls), read it (pull), write lines into it (put), see who reads it
(leases), manage its fan-out consumers (consumers), or run one locally (local).

Every user mistake ends in one line on standard error and exit status 2; a failure of the
service or the network in one line and status 1; Ctrl-C (or SIGTERM) in status 130, except
for `local`, whose normal end that is (status 0).
"""

import argparse
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from .. import __version__
from . import consumers as consumers_command, leases as leases_command, pull as pull_command, put as put_command
from .target import Target, UsageError, positive, table, when
from ..enums import AWS_KINESIS_STREAMS_ERROR
from ..error import Error
from ..local import LocalKinesis, create_stream

PROG = "kinesis-streams"
KEYSPACE = 2**128


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "%s: error: %s (see %s --help)\n" % (self.prog, message, self.prog))


# -- ls -----------------------------------------------------------------------------


def _shard_row(shard: Dict[str, Any]) -> List[str]:
    keys = shard["HashKeyRange"]
    low, high = int(keys["StartingHashKey"]), int(keys["EndingHashKey"])
    sequence = shard["SequenceNumberRange"]
    ending = sequence.get("EndingSequenceNumber")
    parents = [shard[key] for key in ("ParentShardId", "AdjacentParentShardId") if shard.get(key)]
    return [
        shard["ShardId"],
        " + ".join(parents) or "-",
        "closed" if ending else "open",
        "%s..%s" % (low, high),
        "%.1f%%" % ((high - low + 1) * 100 / KEYSPACE),
        sequence["StartingSequenceNumber"],
        ending or "-",
    ]


def run_ls(args: argparse.Namespace) -> int:
    """The stream's summary and its shards, as text or JSON."""
    target = Target.from_args(args)
    summary = target.summary()
    shards = target.shards()
    if args.json:
        print(json.dumps({"stream": summary, "shards": shards}, indent=2))
        return 0
    mode = summary.get("StreamModeDetails") or {}
    closed = sum(1 for shard in shards if shard["SequenceNumberRange"].get("EndingSequenceNumber"))
    encryption = summary.get("EncryptionType") or "NONE"
    if summary.get("KeyId"):
        encryption += " (key %s)" % summary["KeyId"]
    lines = [
        ["stream", "%s (%s)" % (summary.get("StreamName"), summary.get("StreamARN"))],
        ["status", "%s, %s" % (summary.get("StreamStatus"), mode.get("StreamMode", "PROVISIONED"))],
        ["created", when(summary.get("StreamCreationTimestamp"))],
        ["retention", "%s hours" % summary.get("RetentionPeriodHours")],
        ["encryption", encryption],
        ["shards", "%d open, %d closed" % (len(shards) - closed, closed)],
    ]
    print(table(lines))
    print()
    header = ["SHARD", "PARENTS", "STATE", "HASH KEY RANGE", "SHARE", "STARTING SEQUENCE", "ENDING SEQUENCE"]
    print(table([header] + [_shard_row(shard) for shard in shards]))
    return 0


# -- local --------------------------------------------------------------------------


def run_local(args: argparse.Namespace) -> int:
    """Run the embedded local Kinesis with the named streams until interrupted."""
    if args.port:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", args.port))
            except OSError:
                raise UsageError("port %d on 127.0.0.1 is taken" % args.port) from None
    local = LocalKinesis(port=args.port)
    try:
        local.start()
        for name in args.streams:
            create_stream(local.client(), name, args.shards)
        print("local Kinesis listening on %s" % local.endpoint)
        if args.streams:
            shards = "%d shard%s" % (args.shards, "" if args.shards == 1 else "s")
            print("streams: %s (%s%s)" % (", ".join(args.streams), shards, " each" if len(args.streams) > 1 else ""))
        print("to use it from another shell:")
        print(
            "  export AWS_ENDPOINT_URL_KINESIS=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s"
            % (local.endpoint, local.accessKeyId, local.secretAccessKey, local.region)
        )
        print("Ctrl-C stops it (and its streams are gone).", flush=True)
        while True:
            time.sleep(3600)
    except RuntimeError as exc:  # moto missing, or the port taken
        print("%s local: %s" % (PROG, exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0
    finally:
        local.stop()


# -- the parser and main ------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    where = common.add_argument_group("where and as whom")
    where.add_argument("--endpoint", metavar="URL", help="Kinesis endpoint (default AWS_ENDPOINT_URL_KINESIS, else AWS's)")
    where.add_argument("--region", help="AWS region (default AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config)")
    where.add_argument("--profile", help="profile in ~/.aws/credentials and ~/.aws/config (default AWS_PROFILE)")
    parser = Parser(prog=PROG, description="Look into, read, write and run Amazon Kinesis data streams.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ls = commands.add_parser("ls", parents=[common], help="show a stream and its shards")
    ls.add_argument("stream", metavar="STREAM", help="the stream's name")
    ls.add_argument("--json", action="store_true", help="print the stream and shards as JSON")
    ls.set_defaults(run=run_ls)

    for name, command, what in (
        ("pull", pull_command, "read records to standard output or files"),
        ("put", put_command, "write one record per line of a file or standard input"),
        ("leases", leases_command, "show who reads each shard, how far and how far behind"),
        ("consumers", consumers_command, "list, register or deregister enhanced fan-out consumers"),
    ):
        subcommand = commands.add_parser(name, parents=[common], help=what)
        command.add_arguments(subcommand)
        subcommand.set_defaults(run=command.run)

    local = commands.add_parser("local", help="run a local Kinesis on 127.0.0.1 until interrupted")
    local.add_argument("streams", nargs="*", metavar="STREAM", help="streams to create")
    local.add_argument("--shards", type=positive, default=1, help="shards per stream (default 1)")
    local.add_argument("--port", type=positive, default=0, help="port to listen on (default a free one)")
    local.set_defaults(run=run_local)
    return parser


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell starts `cmd &` with it ignored
        signal.signal(signum, _interrupt)
    prefix = "%s %s: " % (PROG, args.command)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(prefix + str(exc), file=sys.stderr)
        return 2
    except Error as error:
        if error.type is AWS_KINESIS_STREAMS_ERROR.LIBRARY_ERROR:  # a setting of the user's (no credentials, say)
            print(prefix + error.details, file=sys.stderr)
            return 2
        if error.awsErrorType == "ResourceNotFoundException":
            print(prefix + "stream %r not found (%s)" % (args.stream, error.details), file=sys.stderr)
            return 2
        print(prefix + str(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(prefix + "interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (pull | head): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file or folder the command cannot write or read
        print(prefix + str(exc), file=sys.stderr)
        return 1
