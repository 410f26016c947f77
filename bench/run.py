"""Benchmark: this library against boto3 and the KPL's Python peers, side by side, on local servers.

    python bench/run.py                  # the full run (about 2 to 3 minutes on 2 cores)
    python bench/run.py --quick          # fewer rounds and records (about a minute)
    python bench/run.py --only fanout    # one part: core, aggregation or fanout
    python bench/run.py --profile        # where the producer's and the reader's CPU goes (a full
                                         # run prints it anyway wherever a target is missed)
    python bench/run.py --against HEAD~1 # this tree's library beside an earlier commit's, in one run

Client CPU is the measured process's own CPU time (all its threads; every server runs in a
process of its own), so it does not depend on a server's speed. Each client runs in a fresh
process, so none pays for another's imports and garbage; the clients alternate round after
round, so a busy spell on a shared machine hits them all; each figure is the median.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from importlib.metadata import version
from typing import Dict, List, Optional, Tuple

import aggregation
import core
import fanout
from common import AWSKinesisStreams, LocalKinesis, StubKinesis, run_child

PARTS = ("core", "aggregation", "fanout")
ARGS = argparse.Namespace(against=None)  # what the report needs of the command line
PROFILE_LINES = 25
ROUND_SIDES = ("library", "boto3", "kpl-agg", "fanout")


def sizes(quick: bool) -> Dict[str, int]:
    """How many records each measure uses, per round where it runs every round."""
    if quick:
        return {"put": 20_000, "aiokpl": 2_000, "throughput": 200_000, "memory": 200_000, "fanout": 2_000}
    return {"put": 50_000, "aiokpl": 5_000, "throughput": 300_000, "memory": 1_000_000, "fanout": 5_000}


# -- in a child process ---------------------------------------------------------------


def child_figures(args: argparse.Namespace) -> Dict:
    """What one child measures: a client's figures, the memory run, the throughput run or a profile."""
    ports = json.loads(args.ports)
    moto, stub, mock = (LocalKinesis(ports.get(name, 0)) for name in ("moto", "stub", "mock"))
    count = sizes(args.quick)
    if args.child == "fanout":
        return fanout.measure(mock, args.round, count["fanout"])
    if args.child == "memory":
        return core.memory_run(stub.endpoint, args.memory_records or count["memory"])
    if args.child == "throughput":
        return aggregation.throughput(count["throughput"])
    if args.child == "profile-put":
        return {"profile": aggregation.profile_put(stub, count["put"], PROFILE_LINES)}
    if args.child == "profile-read":
        return {"profile": aggregation.profile_read(moto, PROFILE_LINES)}
    figures = {}
    if "core" in args.parts and args.child != "kpl-agg":
        figures.update(core.measure(args.child, moto, stub))
    if "aggregation" in args.parts:
        figures.update(aggregation.measure(args.child, stub, moto, count["put"]))
    return figures


# -- in the parent --------------------------------------------------------------------


BEGAN = time.perf_counter()


def progress(what: str) -> None:
    """A line on standard error, so a long run shows where it is."""
    print("[%5.1f s] %s" % (time.perf_counter() - BEGAN, what), file=sys.stderr, flush=True)


def against_tree(rev: str) -> str:
    """A checkout of the library at commit `rev` (a git worktree under bench/, made once), for --against."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=top, capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(top, "bench", ".against-" + commit)
    if not os.path.isdir(tree):
        subprocess.run(["git", "worktree", "add", "--detach", tree, commit], cwd=top, capture_output=True, check=True)
    return tree


def child(kind: str, args: argparse.Namespace, ports: Dict[str, int], round_number: int = 0) -> Dict:
    """Run this script as a `kind` child in a fresh process and return the JSON it prints.

    The side "against" is the library side run with the --against commit's package first on the path.
    """
    progress("%s%s" % (kind, " (round %d)" % (round_number + 1) if kind in ROUND_SIDES + ("against",) else ""))
    env = None
    if kind == "against":
        env = dict(os.environ, PYTHONPATH=against_tree(args.against))
        kind = "library"
    command = [sys.executable, os.path.abspath(__file__), "--child", kind, "--ports", json.dumps(ports),
               "--round", str(round_number), "--only", *args.parts]
    if args.quick:
        command.append("--quick")
    if args.memory_records:
        command += ["--memory-records", str(args.memory_records)]
    return json.loads(run_child(command, timeout=600, env=env))


def run_rounds(args: argparse.Namespace, ports: Dict[str, int], stub: Optional[LocalKinesis]) -> Tuple[Dict, List[str]]:
    """Every client's figures, each the median of the rounds, as {side: {key: value}}; and what was left out."""
    sides = [] if args.parts == ["fanout"] else ["library", "boto3"]
    notes = []
    python = None
    if "aggregation" in args.parts:
        sides.append("kpl-agg")
        python, why = aggregation.aiokpl_python()
        if python is None:
            notes.append("aiokpl is left out: its environment could not be made (%s)" % why)
    if "fanout" in args.parts:
        sides.append("fanout")
    if args.against and sides[:1] == ["library"]:
        sides.insert(1, "against")
    rounds: List[Dict[str, Dict[str, float]]] = []
    for round_number in range(args.repeats):
        figures = {side: child(side, args, ports, round_number) for side in sides}
        if python is not None and stub is not None:
            progress("aiokpl (round %d)" % (round_number + 1))
            try:
                figures["aiokpl"] = {"agg_put": aggregation.aiokpl_put(python, stub, sizes(args.quick)["aiokpl"])}
            except Exception as error:  # its own environment: say so and go on without it
                notes.append("aiokpl is left out from round %d on: %s" % (round_number + 1, error))
                python = None
        rounds.append(figures)
    last = {side: figures for r in rounds for side, figures in r.items()}
    medians = {
        side: {key: statistics.median(r[side][key] for r in rounds if side in r) for key in figures}
        for side, figures in last.items()
    }
    return medians, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds and fewer records (200,000 in the memory run)")
    parser.add_argument("--only", nargs="+", choices=("all",) + PARTS, default=["all"], help="which parts to run")
    parser.add_argument("--profile", action="store_true", help="print where the producer's and the reader's CPU goes")
    parser.add_argument("--memory-records", type=int, default=None, help="records in the memory run (1,000,000)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5, --quick 3)")
    parser.add_argument("--against", metavar="REV", help="also measure the library as it was at commit REV (a git worktree)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.parts = list(PARTS) if "all" in args.only else [part for part in PARTS if part in args.only]
    args.repeats = args.repeats or (3 if args.quick else 5)
    ARGS.against = args.against
    if args.child:
        print(json.dumps(child_figures(args)))
        return
    with ExitStack() as servers:
        progress("servers and streams")
        ports: Dict[str, int] = {}
        stub = None
        if args.parts != ["fanout"]:
            moto = servers.enter_context(LocalKinesis())
            stub = servers.enter_context(StubKinesis())
            ports.update(moto=moto.port, stub=stub.port)
        if "core" in args.parts:
            core.fill(moto)
        if "aggregation" in args.parts:
            aggregation.fill_aggregated(moto)
        if "fanout" in args.parts:
            from servers import KinesisMock

            mock = servers.enter_context(KinesisMock())
            ports["mock"] = mock.port
            fanout.fill(mock, sizes(args.quick)["fanout"])
        medians, notes = run_rounds(args, ports, stub)
        extra = {}
        if "core" in args.parts:
            extra["memory"] = child("memory", args, ports)
        if "aggregation" in args.parts:
            extra["throughput"] = child("throughput", args, ports)
            # Where a target is missed, the full run shows why; --quick only with --profile.
            explain_misses = not args.quick
            if args.profile or (explain_misses and not all(met for _line, met in producer_targets(medians))):
                extra["profile-put"] = child("profile-put", args, ports)["profile"]
            if args.profile or (explain_misses and not reader_target(medians)[1]):
                extra["profile-read"] = child("profile-read", args, ports)["profile"]
    report(args, medians, extra, notes, time.perf_counter() - BEGAN)


# -- the report -----------------------------------------------------------------------


def report(args: argparse.Namespace, medians: Dict, extra: Dict, notes: List[str], seconds: float) -> None:
    """Print every table of the parts that ran, and what was left out."""
    print("awskinesisstreams %s, Python %s, %s, %d cores (nproc), median of %d alternating rounds" % (
        AWSKinesisStreams.VERSION, platform.python_version(), platform.machine(), os.cpu_count() or 0, args.repeats))
    print(what_ran(args.parts))
    if "core" in args.parts:
        print("\n## The faithful calls against boto3's")
        print("(moto closes the connection after each answer; the stub server keeps it open, as AWS does)\n")
        ours, theirs = medians["library"], medians["boto3"]
        print(markdown(["measure", "awskinesisstreams", "boto3", "ratio"], [
            [label, _num(ours[key] * scale, unit), _num(theirs[key] * scale, unit),
             "%.1fx" % (theirs[key] / ours[key] if smaller else ours[key] / theirs[key])]
            for key, label, unit, scale, smaller in core.MEASURES
        ]))
        print_memory(extra["memory"]["marks"])
    if "aggregation" in args.parts:
        print_aggregation(medians, extra, sizes(args.quick)["put"])
    if "fanout" in args.parts:
        polled, pushed = medians["fanout"]["poll_cpu"], medians["fanout"]["fanout_cpu"]
        print("\n## Enhanced fan-out against polling: client CPU per record delivered")
        print("(%s records of 100 B in one shard, kinesis-mock, both read from TRIM_HORIZON in the same process)\n" % (
            "{:,}".format(sizes(args.quick)["fanout"])))
        print(markdown(["reader", "client CPU per record", "against polling"], [
            ["getRecords polling, one call", _num(polled * 1e6, "us"), "1.0x"],
            ["subscribeToShard (enhanced fan-out)", _num(pushed * 1e6, "us"), "%.2fx" % (pushed / polled)],
        ]))
        print("\n" + fanout.LATENCY_NOTE + ".")
    for note in notes:
        print("\n" + note)
    print("\nran in %.0f s" % seconds)


def print_memory(marks: Dict[str, Dict[str, float]]) -> None:
    last = max(marks, key=int)
    print("\nmemory of this library, %s records through putRecords (%d in flight, stub server, fresh process):" % (
        "{:,}".format(int(last)), core.IN_FLIGHT))
    for mark in sorted(marks, key=int):
        m = marks[mark]
        print("  after %9s records: RSS %5.1f MiB (peak so far %5.1f MiB), "
              "traced %4.2f MiB (peak since the line above %4.2f MiB)" % (
                  "{:,}".format(int(mark)), m["rss"], m["peak_rss"], m["traced"], m["traced_peak"]))


def producer_targets(medians: Dict) -> List[Tuple[str, bool]]:
    """The producer targets of issue 11, each as (what was measured, met?)."""
    ours = medians["library"]["agg_put"]
    lines = [("producer %.2f us per user record (target <= %.0f us)" % (ours * 1e6, aggregation.TARGET_PRODUCER_US),
              ours * 1e6 <= aggregation.TARGET_PRODUCER_US)]
    for side, name, target in (("boto3", "boto3 put_records", aggregation.TARGET_VS_BOTO3),
                               ("kpl-agg", "aws-kinesis-agg aggregating alone", aggregation.TARGET_VS_AGGREGATOR)):
        ratio = medians[side]["agg_put"] / ours
        lines.append(("%.1fx cheaper than %s (target >= %.0fx)" % (ratio, name, target), ratio >= target))
    return lines


def reader_target(medians: Dict) -> Tuple[str, bool]:
    """The reader target of issue 11, as (what was measured, met?)."""
    ratio = medians["boto3"]["agg_read"] / medians["library"]["agg_read"]
    target = aggregation.TARGET_READER_VS_PEER
    return "reader %.1fx cheaper than boto3 + aws-kinesis-agg (target >= %.0fx)" % (ratio, target), ratio >= target


def print_aggregation(medians: Dict, extra: Dict, put_records: int) -> None:
    ours = medians["library"]["agg_put"]
    print("\n## KPL aggregation: client CPU per user record (100 B, 1000 partition keys, a callback each)")
    print("(producers: the stub server, 4 shards; readers: %s user records in %d-byte aggregates on moto)\n" % (
        "{:,}".format(aggregation.READ_USER_RECORDS), aggregation.AGGREGATE_BYTES))
    rows = [
        ("awskinesisstreams BufferedProducer(aggregate=True), putRecord each", "library"),
        ("boto3 put_records, 500 a call, not aggregated", "boto3"),
        ("aws-kinesis-agg RecordAggregator, aggregating alone, nothing sent", "kpl-agg"),
        ("aiokpl 0.2.0 Producer, put_record each, outcome awaited", "aiokpl"),
    ]
    table = [[label, _num(medians[side]["agg_put"] * 1e6, "us"), "%.1fx" % (medians[side]["agg_put"] / ours)]
             for label, side in rows if side in medians]
    reader, peer = medians["library"]["agg_read"], medians["boto3"]["agg_read"]
    table += [
        ["awskinesisstreams Consumer(deaggregate=True).getRecords", _num(reader * 1e6, "us"), "1.0x"],
        ["boto3 get_records + aws-kinesis-agg deaggregate", _num(peer * 1e6, "us"), "%.1fx" % (peer / reader)],
    ]
    print(markdown(["client", "client CPU per user record", "against awskinesisstreams"], table))
    if "against" in medians:
        before = medians["against"]
        print("\nthis tree against %s, in this run: producer %.3f us per user record (was %.3f: %+.3f us), "
              "deaggregating reader %.3f us (was %.3f: %+.3f us)" % (
                  ARGS.against, ours * 1e6, before["agg_put"] * 1e6, (ours - before["agg_put"]) * 1e6,
                  reader * 1e6, before["agg_read"] * 1e6, (reader - before["agg_read"]) * 1e6))
    targets = producer_targets(medians) + [reader_target(medians)]
    print("\ntargets:")
    for line, met in targets:
        print("  %s %s" % ("met:   " if met else "MISSED:", line))
    if not all(met for _line, met in targets) and not extra.keys() & {"profile-put", "profile-read"}:
        print("  (--profile shows where the time goes; a full run shows it wherever a target is missed)")
    t = extra["throughput"]
    print("\nthroughput, BufferedProducer at default settings into a 4-shard kinesalite stream, "
          "%s user records in %.1f s:" % ("{:,}".format(t["records"]), t["seconds"]))
    print("  steady (the second half): %s user records/s, %.2f MiB/s as Kinesis counts it (aggregates and their keys),"
          " %.0f%% of the 4 MiB/s that rateLimit=1.0 allows on 4 shards; %.2f MiB/s of user data and keys" % (
              _num(t["steady_rps"], ""), t["steady_kinesis_mibps"], 100 * t["steady_kinesis_mibps"] / 4,
              t["steady_user_mibps"]))
    print("  overall, the start's burst included: %s user records/s, %.2f MiB/s" % (
        _num(t["overall_rps"], ""), t["overall_kinesis_mibps"]))
    for key, what, records, measured in (
        ("profile-put", "buffered producer", put_records, medians["library"]["agg_put"]),
        ("profile-read", "deaggregating reader", 4 * aggregation.READ_USER_RECORDS, reader),
    ):
        if key in extra:
            print("\nwhere the %s's CPU goes: cProfile of every thread, %s user records, the %d functions with "
                  "the most CPU of their own (the profiler's own cost taken out), each as its share and that share "
                  "of the %.2f us a user record measured above:" % (
                      what, "{:,}".format(records), PROFILE_LINES, measured * 1e6))
            print("  %6s %8s %9s  %s" % ("share", "~us/rec", "calls/rec", "function"))
            for where, calls, share in extra[key]:
                print("  %5.1f%% %8.3f %9.3f  %s" % (100 * share, share * measured * 1e6, calls, where))


def what_ran(parts: List[str]) -> str:
    """The peers and servers the parts that ran use, with their versions."""
    import servers

    peers, local = [], []
    if parts != ["fanout"]:
        peers.append("boto3 %s" % version("boto3"))
        local += ["moto %s" % version("moto"), "bench/stub.py"]
    if "aggregation" in parts:
        peers += ["aws-kinesis-agg %s" % version("aws-kinesis-agg"), aggregation.AIOKPL + " (own environment)"]
        local.append("kinesalite %s" % servers.KINESALITE_VERSION)
    if "fanout" in parts:
        local.append("kinesis-mock (npm kinesis-local %s)" % servers.KINESIS_MOCK_VERSION)
    return "peers: %s; servers: %s" % (", ".join(peers) or "none", ", ".join(local))


def markdown(header: List[str], rows: List[List[str]]) -> str:
    """A Markdown table, the first column left-aligned and the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _num(value: float, unit: str) -> str:
    text = "{:,.0f}".format(value) if value >= 1000 else "%.2f" % value if value < 10 else "%.1f" % value
    return (text + " " + unit).strip()


if __name__ == "__main__":
    main()
