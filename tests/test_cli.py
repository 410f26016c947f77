"""The kinesis-streams command, run as a user runs it: the installed script in a subprocess, against real local servers."""

import argparse
import base64
import datetime
import json
import os
import pathlib
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from conftest import aws_free_environ, boto_kinesis, new_stream, wait_for
from proxy import Proxy, Reply, aws_error

from awskinesisstreams.wire.kpl_aggregation import MAGIC, deaggregate
from awskinesisstreams.cli.pull import parse_timestamp
from awskinesisstreams.wire.kinesis import stream_admin

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def env(moto_server, tmp_path):
    """An environment with the venv's bin first, HOME in a fresh folder, and the local server's settings."""
    base = {k: v for k, v in aws_free_environ().items() if k not in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    home = tmp_path / "home"  # its .aws holds the shared files of the tests that write them
    home.mkdir()
    return dict(
        base,
        PATH=BIN + os.pathsep + base.get("PATH", ""),
        HOME=str(home),
        AWS_ENDPOINT_URL_KINESIS=moto_server.endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
    )


def run(env, *args, input=None, timeout=60):
    """Run the installed kinesis-streams with `args`; stdin from `input` (bytes)."""
    command = shutil.which("kinesis-streams", path=env["PATH"])
    assert command and command.startswith(BIN)
    return subprocess.run([command, *args], env=env, input=input or b"", capture_output=True, timeout=timeout)


def lines_of(folder):
    """Every record line of every shard file in `folder`, decoded, by shard."""
    return {
        name[: -len(".jsonl")]: [json.loads(line) for line in (folder / name).read_text().splitlines()]
        for name in sorted(os.listdir(folder))
    }


def assert_user_error(result, words):
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert words in err, err


# -- put and pull -------------------------------------------------------------------


def test_put_10000_lines_then_pull_every_one_back(env, moto_server, tmp_path):
    stream = new_stream(moto_server, 2)
    sent = ['{"n": %d, "text": "line %d"}' % (i, i) for i in range(10000)]
    put = run(env, "put", stream, input="\n".join(sent).encode() + b"\n")
    assert put.returncode == 0, put.stderr
    assert b"10000 written, 0 failed" in put.stdout
    out = tmp_path / "out"
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--until-caught-up")
    assert pull.returncode == 0, pull.stderr
    by_shard = lines_of(out)
    assert sorted(by_shard) == ["shardId-000000000000", "shardId-000000000001"]
    got = [record["data"] for records in by_shard.values() for record in records]
    assert sorted(got) == sorted(sent)
    first = by_shard["shardId-000000000000"][0]
    assert set(first) == {"sequenceNumber", "arrivalTime", "partitionKey", "data"}
    assert abs(datetime.datetime.strptime(first["arrivalTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() - time.time()) < 120
    assert len({record["partitionKey"] for records in by_shard.values() for record in records}) == 10000
    progress = pull.stderr.decode()
    assert "shardId-000000000000: " in progress and "ms behind" in progress and "pulled 10000 records" in progress


def test_put_aggregate_packs_lines_into_kpl_records_in_key_order(env, moto_server, tmp_path):
    stream = new_stream(moto_server, 2)
    sent = [b'{"k": "key-%d", "n": %d}' % (i % 13, i) for i in range(3000)]
    too_big = b'{"k": "big", "pad": "%s"}' % (b"x" * (1024 * 1024))
    failed = tmp_path / "failed"
    put = run(env, "put", stream, "--aggregate", "--key-field", "k", "--failed", str(failed),
              input=b"\n".join(sent[:1500] + [too_big] + sent[1500:]) + b"\n")
    assert put.returncode == 1, put.stderr
    assert b"3001 records into" in put.stdout and b"3000 written, 1 failed" in put.stdout
    assert b"over the 1 MiB Kinesis limit" in put.stdout and failed.read_bytes() == too_big + b"\n"
    kinesis = boto_kinesis(moto_server)
    records = []
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += kinesis.get_records(ShardIterator=iterator)["Records"]
    assert 2 <= len(records) < 20 and all(record["Data"].startswith(MAGIC) for record in records)
    unpacked = [(key, data) for record in records for key, _, data in deaggregate(record["Data"])]
    assert sorted(data for _, data in unpacked) == sorted(sent)
    for key in {key for key, _ in unpacked}:
        numbers = [json.loads(data)["n"] for k, data in unpacked if k == key]
        assert numbers == sorted(numbers) and all(json.loads(data)["k"] == key for k, data in unpacked if k == key)


def test_put_keys_binary_data_and_failed_lines(env, moto_server, tmp_path):
    stream = new_stream(moto_server, 2)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"id": "a", "v": 1}\n\n{"id": "b", "v": 2}\nnot json\n{"id": 7}\n')
    failed = tmp_path / "failed.txt"
    put = run(env, "put", stream, str(source), "--key-field", "id", "--failed", str(failed))
    assert put.returncode == 1
    assert b"4 records into %s" % stream.encode() in put.stdout and b"3 written, 1 failed" in put.stdout
    assert failed.read_bytes() == b"not json\n"
    put = run(env, "put", stream, "-k", "fixed", input=b"\xff\xfe binary\n")
    assert put.returncode == 0, put.stderr
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "-n", "4")
    assert pull.returncode == 0, pull.stderr
    records = [json.loads(line) for line in pull.stdout.decode().splitlines()]
    assert {r["partitionKey"]: r.get("data", r.get("dataBase64")) for r in records} == {
        "a": '{"id": "a", "v": 1}',
        "b": '{"id": "b", "v": 2}',
        "7": '{"id": 7}',
        "fixed": base64.b64encode(b"\xff\xfe binary").decode(),
    }
    assert all(r["shardId"].startswith("shardId-") for r in records)


def test_put_retries_failed_records_and_keeps_those_that_never_get_in(env, moto_server, tmp_path):
    """Behind a proxy that fails some records inside a 200, as AWS does when throttling."""
    stream = new_stream(moto_server, 1)
    failed_entry = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
    failed_once = set()

    def rule(call):
        if call.action != "PutRecords":
            return None
        entries = call.body["Records"]
        call.failing = set()
        for index, entry in enumerate(entries):
            data = base64.b64decode(entry["Data"])
            if data == b"always" or (data.startswith(b"once") and data not in failed_once):
                failed_once.add(data)
                call.failing.add(index)
        kept = [entry for index, entry in enumerate(entries) if index not in call.failing]
        if not kept:
            return Reply(200, {"FailedRecordCount": len(entries), "Records": [failed_entry] * len(entries)})
        call.raw = json.dumps(dict(call.body, Records=kept)).encode()
        return None

    def on_answer(call, status, payload):
        if call.action != "PutRecords":
            return payload
        answer = json.loads(payload)
        written = iter(answer["Records"])
        answer["Records"] = [failed_entry if i in call.failing else next(written) for i in range(len(call.body["Records"]))]
        answer["FailedRecordCount"] = len(call.failing)
        return json.dumps(answer).encode()

    failed = tmp_path / "failed.txt"
    with Proxy(moto_server.endpoint, rule, on_answer) as proxy:
        put = run(env, "put", stream, "--endpoint", proxy.endpoint, "--failed", str(failed), input=b"one\nonce-a\nalways\nonce-b\ntwo\n")
        puts = [call for call in proxy.calls if call.action == "PutRecords"]
    assert put.returncode == 1
    assert b"5 records into" in put.stdout and b"4 written, 1 failed" in put.stdout
    assert b"1 ProvisionedThroughputExceededException" in put.stdout
    assert failed.read_bytes() == b"always\n"
    assert [len(call.body["Records"]) for call in puts] == [5, 3, 1, 1]  # four tries, each of only what failed before
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "--until-caught-up")
    assert sorted(json.loads(line)["data"] for line in pull.stdout.decode().splitlines()) == ["once-a", "once-b", "one", "two"]


def test_progress_is_one_live_line_on_a_terminal(env, moto_server, tmp_path):
    stream = new_stream(moto_server, 2)
    assert run(env, "put", stream, input=b"".join(b"r%d\n" % i for i in range(300))).returncode == 0
    for command in (["put", stream], ["pull", stream, "-t", "TRIM_HORIZON", "-o", str(tmp_path / "out"), "--until-caught-up"]):
        leader, follower = pty.openpty()
        done = subprocess.run(
            [shutil.which("kinesis-streams", path=env["PATH"]), *command],
            env=env, input=b"x\n", stdout=subprocess.PIPE, stderr=follower, timeout=60,
        )
        os.close(follower)
        shown = os.read(leader, 65536).decode()
        os.close(leader)
        assert done.returncode == 0
        updates = shown.split("\r\x1b[K")
        assert len(updates) >= 2 and not any("\n" in update for update in updates[:-1]), shown
    assert "pulled 301 records" in shown and "shardId-000000000000:" not in shown  # no kine lines on a terminal


def test_put_retries_a_failed_call_but_stops_on_a_refusal(env, moto_server):
    stream = new_stream(moto_server, 1)
    answers = iter([aws_error(500, "InternalFailure", "try later"), None])

    def flaky(call):
        return next(answers, None) if call.action == "PutRecords" else None

    with Proxy(moto_server.endpoint, flaky) as proxy:
        put = run(env, "put", stream, "--endpoint", proxy.endpoint, input=b"a\nb\n")
        assert put.returncode == 0 and b"2 written, 0 failed" in put.stdout
        assert proxy.actions().count("PutRecords") == 2

    def refuse(call):
        return aws_error(400, "AccessDeniedException", "not for you") if call.action == "PutRecords" else None

    with Proxy(moto_server.endpoint, refuse) as proxy:
        put = run(env, "put", stream, "--endpoint", proxy.endpoint, input=b"a\nb\n")
        assert proxy.actions().count("PutRecords") == 1
    err = put.stderr.decode()
    assert put.returncode == 1 and "Traceback" not in err and "AccessDeniedException not for you" in err


def test_pull_rides_out_an_expired_iterator_and_throttling(env, moto_server):
    """Behind a proxy that pages GetRecords by 10, expires the second iterator and throttles once, as AWS may.

    The CLI gets a new iterator after the last record it wrote; the throttle is retried by the core.
    """
    stream = new_stream(moto_server, 1)
    for tens in range(3):  # moto counts ms behind from arrival times: let them differ
        assert run(env, "put", stream, "-k", "k", input=b"".join(b"r%d\n" % i for i in range(tens * 10, tens * 10 + 10))).returncode == 0
        time.sleep(0.05)
    gets = []

    def rule(call):
        if call.action != "GetRecords":
            return None
        gets.append(call)
        if len(gets) == 2:
            return aws_error(400, "ExpiredIteratorException", "Iterator expired")
        if len(gets) == 3:
            return aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard")
        call.raw = json.dumps(dict(call.body, Limit=10)).encode()
        return None

    with Proxy(moto_server.endpoint, rule) as proxy:
        pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "--until-caught-up", "--endpoint", proxy.endpoint)
        iterators = [call.body for call in proxy.calls if call.action == "GetShardIterator"]
    assert pull.returncode == 0, pull.stderr
    records = [json.loads(line) for line in pull.stdout.decode().splitlines()]
    assert [r["data"] for r in records] == ["r%d" % i for i in range(30)]
    assert [i["ShardIteratorType"] for i in iterators] == ["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"]
    assert iterators[1]["StartingSequenceNumber"] == records[9]["sequenceNumber"]
    warnings = [line for line in pull.stderr.decode().splitlines() if "trying again" in line]
    assert len(warnings) == 1 and "ExpiredIteratorException" in warnings[0]
    assert warnings[0].startswith("shardId-000000000000: ") and warnings[0].endswith("(trying again)")
    # the throttled call was resent by the consumer's own retry policy, with the same iterator
    assert gets[3].body["ShardIterator"] == gets[2].body["ShardIterator"]


def test_pull_n_stops_after_n_records(env, moto_server):
    stream = new_stream(moto_server, 1)
    assert run(env, "put", stream, "-k", "k", input=b"".join(b"r%d\n" % i for i in range(50))).returncode == 0
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "-n", "7")
    assert pull.returncode == 0, pull.stderr
    assert [json.loads(line)["data"] for line in pull.stdout.decode().splitlines()] == ["r%d" % i for i in range(7)]


def test_checkpoint_resumes_after_the_last_record_written(env, moto_server, tmp_path):
    stream = new_stream(moto_server, 2)
    out, checkpoint = tmp_path / "out", tmp_path / "checkpoint.json"
    args = ("pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--until-caught-up", "--checkpoint", str(checkpoint))
    assert run(env, "put", stream, input=b"a\nb\nc\nd\ne\n").returncode == 0
    first = run(env, *args)
    assert first.returncode == 0 and b"pulled 5 records" in first.stderr
    saved = json.loads(checkpoint.read_text())
    assert saved["stream"] == stream and set(saved["sequenceNumbers"]) <= set(lines_of(out))
    assert run(env, "put", stream, input=b"f\ng\nh\n").returncode == 0
    second = run(env, *args)
    assert second.returncode == 0 and b"pulled 3 records" in second.stderr
    got = [r["data"] for records in lines_of(out).values() for r in records]
    assert sorted(got) == list("abcdefgh")
    other = new_stream(moto_server, 1)
    wrong = run(env, "pull", other, "--checkpoint", str(checkpoint))
    assert_user_error(wrong, "belongs to stream %r" % stream)


# -- AT_TIMESTAMP -------------------------------------------------------------------


def test_timestamps_in_every_form():
    now = 1_700_000_000.0
    assert parse_timestamp("1499476500") == 1499476500
    assert parse_timestamp("1499476500000") == 1499476500
    assert parse_timestamp("1499476500.25") == 1499476500.25
    assert parse_timestamp("2017-07-08T01:15:00Z") == 1499476500
    assert parse_timestamp("2017-07-08T03:15:00+02:00") == 1499476500
    assert parse_timestamp("2017-07-08 01:15:00") == 1499476500  # no zone: UTC
    assert parse_timestamp("1h10m", now) == now - 4200
    assert parse_timestamp("2d", now) == now - 172800
    assert parse_timestamp("90s ago", now) == now - 90
    assert parse_timestamp("1d2h3m4s", now) == now - 93784
    for wrong in ("", "yesterday", "1x", "2017-13-40", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_timestamp(wrong, now)


def test_pull_at_timestamp_on_the_server(env, moto_server):
    stream = new_stream(moto_server, 1)
    assert run(env, "put", stream, "-k", "k", input=b"old1\nold2\n").returncode == 0
    time.sleep(1.1)
    between = time.time()
    time.sleep(0.1)
    assert run(env, "put", stream, "-k", "k", input=b"new1\nnew2\n").returncode == 0
    iso = datetime.datetime.fromtimestamp(between, datetime.timezone.utc).isoformat()
    for given in (iso, "%d" % (between * 1000)):
        pull = run(env, "pull", stream, "-t", "AT_TIMESTAMP", "-d", given, "--until-caught-up")
        assert pull.returncode == 0, pull.stderr
        assert [json.loads(line)["data"] for line in pull.stdout.decode().splitlines()] == ["new1", "new2"], given
    pull = run(env, "pull", stream, "-d", "10m", "--until-caught-up")  # -d alone means AT_TIMESTAMP
    assert [json.loads(line)["data"] for line in pull.stdout.decode().splitlines()] == ["old1", "old2", "new1", "new2"]


# -- ls -----------------------------------------------------------------------------


def test_ls_text_and_json(env, moto_server):
    stream = new_stream(moto_server, 2)
    text = run(env, "ls", stream)
    assert text.returncode == 0, text.stderr
    out = text.stdout.decode()
    for words in ("ACTIVE", "24 hours", "NONE", "2 open, 0 closed", "shardId-000000000001", "50.0%", "STARTING SEQUENCE"):
        assert words in out
    rows = [line.split() for line in out.splitlines() if line.startswith("shardId-")]
    assert [row[:3] for row in rows] == [["shardId-000000000000", "-", "open"], ["shardId-000000000001", "-", "open"]]
    as_json = run(env, "ls", stream, "--json")
    described = json.loads(as_json.stdout)
    assert described["stream"]["StreamName"] == stream and described["stream"]["OpenShardCount"] == 2
    assert [s["ShardId"] for s in described["shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    assert described["shards"][1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)


def test_resharded_stream_ls_and_children_read_after_parent(env, resharding_server, tmp_path):
    """kinesalite and kinesis-mock close a split parent as AWS does: ls shows it closed, pull reads it before its children."""
    stream = new_stream(resharding_server, 1)
    env = dict(env, AWS_ENDPOINT_URL_KINESIS=resharding_server.endpoint)
    assert run(env, "put", stream, input=b"before1\nbefore2\n").returncode == 0
    client = resharding_server.client()
    stream_admin(client, "SplitShard", {"StreamName": stream, "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": str(2**127)})
    while stream_admin(client, "DescribeStreamSummary", {"StreamName": stream})["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.05)
    assert run(env, "put", stream, input=b"after1\nafter2\nafter3\n").returncode == 0
    listing = run(env, "ls", stream).stdout.decode()
    rows = [line.split() for line in listing.splitlines() if line.startswith("shardId-")]
    assert [row[:3] for row in rows] == [
        ["shardId-000000000000", "-", "closed"],
        ["shardId-000000000001", "shardId-000000000000", "open"],
        ["shardId-000000000002", "shardId-000000000000", "open"],
    ]
    assert "2 open, 1 closed" in listing and len(rows[0][6]) > 10  # the parent's ending sequence number
    out = tmp_path / "out"
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--until-caught-up")
    assert pull.returncode == 0, pull.stderr
    by_shard = {shard: [r["data"] for r in records] for shard, records in lines_of(out).items()}
    assert by_shard.pop("shardId-000000000000") == ["before1", "before2"]
    assert sorted(sum(by_shard.values(), [])) == ["after1", "after2", "after3"]
    progress = pull.stderr.decode().splitlines()
    closed = progress.index("shardId-000000000000: closed, read to its end (2 records)")
    assert all(not line.startswith(("shardId-000000000001", "shardId-000000000002")) for line in progress[:closed])


# -- credentials, errors ------------------------------------------------------------


def write_profiles(home):
    aws = home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = file-key\naws_secret_access_key = file-secret\n"
                                     "[east]\naws_access_key_id = east-key\naws_secret_access_key = s\naws_session_token = tok\n")
    (aws / "config").write_text("[default]\nregion = us-east-1\n[profile east]\nregion = us-east-1\n"
                                "[profile west]\nregion = eu-west-1\naws_access_key_id = west-key\naws_secret_access_key = s\n")


def test_command_uses_profile_files_and_environment(env, moto_server):
    stream = new_stream(moto_server, 1)
    no_keys = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    assert_user_error(run(no_keys, "ls", stream), "no AWS credentials found")
    write_profiles(pathlib.Path(no_keys["HOME"]))
    assert run(no_keys, "ls", stream).returncode == 0  # [default] of both files
    assert run(no_keys, "ls", stream, "--profile", "east").returncode == 0
    assert_user_error(run(no_keys, "ls", stream, "--profile", "west"), "does not exist at %s (region eu-west-1)" % moto_server.endpoint)
    assert_user_error(run(dict(no_keys, AWS_PROFILE="west"), "ls", stream), "(region eu-west-1)")
    assert run(dict(no_keys, AWS_PROFILE="west"), "ls", stream, "--region", "us-east-1").returncode == 0
    assert run(dict(env, AWS_PROFILE="west"), "ls", stream).returncode == 0  # the environment's region wins


def test_user_errors_are_one_line_and_status_2(env, moto_server):
    stream = new_stream(moto_server, 1)
    assert_user_error(run(env, "ls", "no-such-stream"), "'no-such-stream' does not exist at %s" % moto_server.endpoint)
    assert_user_error(run(env, "pull", "no-such-stream"), "does not exist")
    assert_user_error(run(env, "put", "no-such-stream", input=b"x\n"), "does not exist")
    assert_user_error(run(env, "pull", stream, "-t", "SOMETIMES"), "invalid choice: 'SOMETIMES'")
    assert_user_error(run(env, "pull", stream, "-n", "0"), "'0' is not a positive whole number")
    assert_user_error(run(env, "pull", stream, "-d", "yesterday"), "'yesterday' is not a time")
    assert_user_error(run(env, "pull", stream, "-t", "AT_TIMESTAMP"), "needs -d")
    assert_user_error(run(env, "pull", stream, "-t", "LATEST", "-d", "1h"), "-d is only for")
    assert_user_error(run(env, "pull", stream, "-i", "shardId-000000000009"), "has no shard shardId-000000000009")
    assert_user_error(run(env, "ls", stream, "--bogus"), "unrecognized arguments: --bogus")
    assert_user_error(run(env, "ls", stream, "--endpoint", "127.0.0.1:1"), "must be an http:// or https:// URL")
    assert_user_error(run(env, "put", stream, "/no/such/file"), "cannot read /no/such/file")
    assert_user_error(run(env), "the following arguments are required: COMMAND")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert_user_error(run(env, "local", "--port", str(taken.getsockname()[1])), "is taken")
    blocked = run(env, "pull", stream, "-o", "/proc/version")
    assert blocked.returncode == 1 and b"Traceback" not in blocked.stderr and b"/proc/version" in blocked.stderr
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = run(env, "ls", stream, "--endpoint", "http://127.0.0.1:%d" % port)
    assert down.returncode == 1 and b"Traceback" not in down.stderr and b"connection failed" in down.stderr


def test_python_m_and_ctrl_c(env, moto_server):
    stream = new_stream(moto_server, 1)
    version = subprocess.run([sys.executable, "-m", "awskinesisstreams", "--version"], env=env, capture_output=True)
    assert version.returncode == 0 and version.stdout.startswith(b"kinesis-streams ")
    listing = subprocess.run([sys.executable, "-m", "awskinesisstreams", "ls", stream], env=env, capture_output=True)
    assert listing.returncode == 0 and b"1 open, 0 closed" in listing.stdout
    tail = subprocess.Popen([shutil.which("kinesis-streams", path=env["PATH"]), "pull", stream], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    tail.send_signal(signal.SIGINT)
    out, err = tail.communicate(timeout=20)
    assert tail.returncode == 130 and err.decode().strip() == "kinesis-streams pull: interrupted"


def test_local_serves_streams_until_interrupted(env):
    local = subprocess.Popen(
        [shutil.which("kinesis-streams", path=env["PATH"]), "local", "one", "two", "--shards", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lines = [local.stdout.readline().decode() for _ in range(5)]
        assert lines[0].startswith("local Kinesis listening on http://127.0.0.1:")
        endpoint = lines[0].split()[-1]
        assert lines[1] == "streams: one, two (3 shards each)\n"
        assert "export AWS_ENDPOINT_URL_KINESIS=%s " % endpoint in lines[3]
        listing = run(env, "ls", "two", "--endpoint", endpoint)
        assert listing.returncode == 0 and b"3 open, 0 closed" in listing.stdout
        put = run(env, "put", "one", "--endpoint", endpoint, input=b"hello\n")
        assert put.returncode == 0
    finally:
        local.send_signal(signal.SIGINT)
        out, err = local.communicate(timeout=20)
    assert local.returncode == 0 and out.decode().endswith("stopped\n"), err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(endpoint.rsplit(":", 1)[1])), timeout=1).close()


# -- pull and KPL aggregates ---------------------------------------------------------


def put_aggregates(server, stream, groups):
    """Write, per group of (partition key, explicit hash key, text), one aws-kinesis-agg aggregate; its sequence numbers."""
    client, sequences = boto_kinesis(server), []
    for group in groups:
        aggregate = AggRecord()
        for key, hash_key, text in group:
            assert aggregate.add_user_record(key, text.encode(), hash_key)
        partition_key, _, data = aggregate.get_contents()
        sequences.append(client.put_record(StreamName=stream, Data=data, PartitionKey=partition_key)["SequenceNumber"])
    return sequences


def test_pull_splits_aggregates_into_user_records_unless_told_not_to(env, moto_server):
    stream = new_stream(moto_server, 1)
    first = [("a", None, "one"), ("b", None, "two"), ("a", None, "three")]
    second = [("c", "77", "four"), ("d", "78", "five")]
    sequences = put_aggregates(moto_server, stream, [first, second])
    pull = run(env, "pull", stream, "-t", "TRIM_HORIZON", "--until-caught-up")
    assert pull.returncode == 0, pull.stderr
    lines = [json.loads(line) for line in pull.stdout.decode().splitlines()]
    shown = [(r["sequenceNumber"], r["subSequenceNumber"], r["partitionKey"], r.get("explicitHashKey"), r["data"]) for r in lines]
    assert shown == [(sequences[0], i, k, h, t) for i, (k, h, t) in enumerate(first)] + [
        (sequences[1], i, k, h, t) for i, (k, h, t) in enumerate(second)
    ]
    assert b"pulled 5 records" in pull.stderr
    whole = run(env, "pull", stream, "-t", "TRIM_HORIZON", "--until-caught-up", "--no-deaggregate")
    assert whole.returncode == 0, whole.stderr
    lines = [json.loads(line) for line in whole.stdout.decode().splitlines()]
    assert [r["sequenceNumber"] for r in lines] == sequences
    assert all("subSequenceNumber" not in r and base64.b64decode(r["dataBase64"])[:4] == b"\xf3\x89\x9a\xc2" for r in lines)


def test_pull_n_inside_an_aggregate_checkpoints_before_it(env, moto_server, tmp_path):
    """-n stops inside the second aggregate: the checkpoint stays after the first, so the next run
    writes the second whole again rather than skip its unwritten user records."""
    stream = new_stream(moto_server, 1)
    groups = [[("k", None, "a%d" % i) for i in range(3)], [("k", None, "b%d" % i) for i in range(3)]]
    sequences = put_aggregates(moto_server, stream, groups)
    out, checkpoint = tmp_path / "out", tmp_path / "checkpoint.json"
    args = ("pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--checkpoint", str(checkpoint))
    first = run(env, *args, "-n", "4")
    assert first.returncode == 0, first.stderr
    assert json.loads(checkpoint.read_text())["sequenceNumbers"] == {"shardId-000000000000": sequences[0]}
    second = run(env, *args, "--until-caught-up")
    assert second.returncode == 0, second.stderr
    written = [r["data"] for r in lines_of(out)["shardId-000000000000"]]
    assert written == ["a0", "a1", "a2", "b0", "b0", "b1", "b2"]
    assert json.loads(checkpoint.read_text())["sequenceNumbers"] == {"shardId-000000000000": sequences[1]}


# -- consumers (enhanced fan-out) on kinesis-mock ------------------------------------------------


@pytest.fixture
def mock_env(env, kinesis_mock):
    return dict(env, AWS_ENDPOINT_URL_KINESIS=kinesis_mock.endpoint)


def test_consumers_register_list_deregister(mock_env, kinesis_mock):
    name = new_stream(kinesis_mock, 1)
    empty = run(mock_env, "consumers", name)
    assert empty.returncode == 0 and empty.stdout.decode().strip() == "stream %s has no registered consumers" % name
    registered = run(mock_env, "consumers", name, "--register", "app", "--json")
    assert registered.returncode == 0, registered.stderr
    description = json.loads(registered.stdout)
    assert description["consumerName"] == "app" and description["consumerStatus"] == "ACTIVE"
    again = run(mock_env, "consumers", name, "--register", "app", "--json")
    assert json.loads(again.stdout) == description
    listed = run(mock_env, "consumers", name).stdout.decode().splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "CREATED", "ARN"]
    assert listed[1].split()[:2] == ["app", "ACTIVE"] and listed[1].split()[3] == description["consumerARN"]
    assert json.loads(run(mock_env, "consumers", name, "--json").stdout) == [description]
    gone = run(mock_env, "consumers", name, "--deregister", "app")
    assert gone.returncode == 0 and gone.stdout.decode().strip() == "deregistered app"
    # DELETING for a moment, then gone
    assert wait_for(lambda: json.loads(run(mock_env, "consumers", name, "--json").stdout) == [], 20, 0.2)


def test_consumers_mistakes_are_the_users(mock_env, kinesis_mock):
    name = new_stream(kinesis_mock, 1)
    assert_user_error(run(mock_env, "consumers", name, "--register", "bad name"), "consumerName must be")
    assert_user_error(run(mock_env, "consumers", name, "--deregister", "nobody"), "has no consumer named 'nobody'")
    assert_user_error(run(mock_env, "consumers", "no-such-stream"), "does not exist")
    assert_user_error(run(mock_env, "consumers", name, "--register", "a", "--deregister", "b"), "not allowed with")


def test_pull_fan_out_reads_every_shard_and_resumes_from_its_checkpoint(mock_env, kinesis_mock, tmp_path):
    stream = new_stream(kinesis_mock, 3)
    sent = ['{"n": %d}' % i for i in range(300)]
    put = run(mock_env, "put", stream, input="\n".join(sent).encode() + b"\n")
    assert put.returncode == 0, put.stderr
    out, checkpoint = tmp_path / "out", tmp_path / "checkpoint.json"
    pull = run(mock_env, "pull", stream, "-t", "TRIM_HORIZON", "-o", str(out), "--until-caught-up",
               "--fan-out", "cli-app", "--checkpoint", str(checkpoint))
    assert pull.returncode == 0, pull.stderr
    by_shard = lines_of(out)
    assert sorted(by_shard) == ["shardId-00000000000%d" % i for i in range(3)]
    assert sorted(r["data"] for records in by_shard.values() for r in records) == sorted(sent)
    assert "cli-app" in run(mock_env, "consumers", stream).stdout.decode()  # registered by pull
    more = ['{"n": %d}' % i for i in range(300, 310)]
    assert run(mock_env, "put", stream, input="\n".join(more).encode() + b"\n").returncode == 0
    again = run(mock_env, "pull", stream, "--fan-out", "cli-app", "--checkpoint", str(checkpoint), "-n", "10")
    assert again.returncode == 0, again.stderr
    assert sorted(json.loads(line)["data"] for line in again.stdout.decode().splitlines()) == sorted(more)


def test_pull_fan_out_mistakes(mock_env, kinesis_mock):
    stream = new_stream(kinesis_mock, 1)
    assert_user_error(run(mock_env, "pull", stream, "--fan-out", "not a name"), "--fan-out: consumerName must be")
