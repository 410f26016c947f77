"""The two examples, run as a new user runs them: alone on the embedded server, together on one server,
with AWS settings in the environment, and through a reshard (the consumer lists the shards again)."""

import ast
import json
import os
import select
import subprocess
import sys
import time
import uuid

import pytest
from conftest import aws_free_environ, boto_kinesis, new_stream

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Examples")
NO_AWS = aws_free_environ()


def example(name, *args):
    return [sys.executable, os.path.join(EXAMPLES, name), "--period", "0.1", *args]


def run(name, *args):
    done = subprocess.run(example(name, *args), capture_output=True, text=True, timeout=60, env=NO_AWS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def written_values(stdout):
    return [json.loads(line)["value"] for line in stdout.splitlines() if line.startswith("{")]


def read_values(stdout):
    return [json.loads(line[len("data: "):].rpartition(", timestamp:")[0])["value"]
            for line in stdout.splitlines() if line.startswith("data: ")]


def next_line(process, timeout=30):
    """The process's next line of output, failing the test if none comes within `timeout` seconds."""
    assert select.select([process.stdout], [], [], timeout)[0], "no output in %d s" % timeout
    return process.stdout.readline()


def test_producer_alone_on_the_embedded_server():
    out = run("DataProducer.agent.py", "--count", "5")
    assert "starting the embedded local Kinesis" in out
    assert written_values(out) == [1, 2, 3, 4, 5]
    assert out.count('"origin":"putRecords"') == 2 and out.count('"origin":"putRecord"') == 3
    assert out.rstrip().endswith("Wrote 5 records, 0 failed")


def test_buffered_producer_alone_on_the_embedded_server_packs_readings_into_few_records():
    out = run("BufferedProducer.agent.py", "--count", "30")
    assert "starting the embedded local Kinesis" in out
    assert out.count("Written: shardId-") == 30
    carried = int(out.rstrip().rpartition("Wrote 30 readings in ")[2].split()[0])
    assert 1 <= carried < 30 and out.rstrip().endswith("Kinesis records, 0 failed")


def test_consumer_alone_reads_what_its_built_in_writer_wrote():
    out = run("DataConsumer.agent.py", "--count", "6")
    assert "Built-in writer" in out
    read = read_values(out)
    assert len(read) == len(set(read)) == 6  # two shards are read in turn: any six of the values written
    assert all(value >= 1 for value in read) and out.count('"origin":"built-in writer"') == 6
    assert out.rstrip().endswith("Read 6 records")


def test_producer_and_consumer_share_one_server(moto_server):
    stream = "examples-" + uuid.uuid4().hex[:8]
    shared = ("--endpoint", moto_server.endpoint, "--stream", stream)
    consumer = subprocess.Popen(example("DataConsumer.agent.py", "--count", "4", *shared),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=NO_AWS)
    try:
        first = next_line(consumer)  # the consumer has listed the shards: it reads from now on
        assert first.startswith("Reading shards"), first + consumer.stderr.read()
        produced = run("DataProducer.agent.py", "--count", "12", *shared)
        out, err = consumer.communicate(timeout=30)
    finally:
        consumer.kill()
    assert consumer.returncode == 0, err
    assert "Built-in writer" not in out
    read = read_values(out)
    assert len(read) == 4 and set(read) <= set(written_values(produced))


@pytest.mark.parametrize("name", ["DataProducer.agent.py", "DataConsumer.agent.py"])
def test_help(name):
    assert "--count" in run(name, "--help")


def test_consumer_lists_the_shards_again_when_one_closes(kinesalite):
    """kinesalite ends a split parent's iterator as AWS does: the consumer must go on with the children."""
    stream = new_stream(kinesalite, 1)
    consumer = subprocess.Popen(
        example("DataConsumer.agent.py", "--count", "3", "--endpoint", kinesalite.endpoint, "--stream", stream),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=NO_AWS)
    try:
        assert next_line(consumer) == "Reading shards shardId-000000000000 from LATEST\n"
        kinesis = boto_kinesis(kinesalite)
        kinesis.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
        relisted = next_line(consumer)
        assert relisted == "Reading shards shardId-000000000000, shardId-000000000001, shardId-000000000002 from LATEST\n"
        for value in range(100):  # until the consumer has read three records from the children
            kinesis.put_record(StreamName=stream, Data=json.dumps({"value": value}).encode(), PartitionKey=str(value))
            if consumer.poll() is not None:
                break
            time.sleep(0.05)
        out, err = consumer.communicate(timeout=30)
    finally:
        consumer.kill()
    assert consumer.returncode == 0, err
    assert len(read_values(out)) == 3


def aws_settings(server, stream):
    """AWS settings as a user would export them, with the SDKs' endpoint variable pointing at `server`."""
    return dict(NO_AWS, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=server.region,
                AWS_ENDPOINT_URL_KINESIS=server.endpoint, AWS_KINESIS_STREAM_NAME=stream)


def test_producer_with_aws_settings_uses_the_existing_stream(moto_server, stream):
    done = subprocess.run(example("DataProducer.agent.py", "--count", "3"), capture_output=True, text=True,
                          timeout=60, env=aws_settings(moto_server, stream))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Using AWS: stream %s in us-east-1\n" % stream)
    kinesis = boto_kinesis(moto_server)
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    stored = [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=it)["Records"]]
    assert stored == [{"value": 1, "origin": "putRecord"}, {"value": 2, "origin": "putRecords"},
                      {"value": 3, "origin": "putRecords"}]


def test_producer_with_aws_settings_never_creates_a_stream(moto_server):
    done = subprocess.run(example("DataProducer.agent.py", "--count", "1"), capture_output=True, text=True,
                          timeout=60, env=aws_settings(moto_server, "never-created"))
    assert done.returncode == 1
    assert "Data writing failed" in done.stderr and "ResourceNotFoundException" in done.stderr
    assert done.stdout.rstrip().endswith("Wrote 1 records, 1 failed")


def test_worker_with_fan_out_on_kinesis_mock(kinesis_mock, tmp_path):
    stream = new_stream(kinesis_mock, 2)
    kinesis = boto_kinesis(kinesis_mock)
    for n in range(6):
        kinesis.put_record(StreamName=stream, Data=json.dumps({"n": n}).encode(), PartitionKey="sensor-%d" % n)
    command = [sys.executable, os.path.join(EXAMPLES, "Worker.agent.py"), "--stream", stream, "--count", "6",
               "--fan-out", "example-app", "--leases", str(tmp_path / "leases.sqlite3")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=aws_settings(kinesis_mock, stream))
    assert done.returncode == 0, done.stdout + done.stderr
    read = sorted(ast.literal_eval(line.split(": ", 1)[1])["n"] for line in done.stdout.splitlines() if line.startswith("shardId-"))
    assert read == list(range(6))
    assert "stopped after 6 records" in done.stdout
    assert [c["ConsumerName"] for c in kinesis.list_stream_consumers(
        StreamARN=kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"])["Consumers"]
    ] == ["example-app"]


def test_worker_fan_out_needs_aws_settings():
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, "Worker.agent.py"), "--fan-out", "x"],
                          capture_output=True, text=True, timeout=60, env=NO_AWS)
    assert done.returncode == 2 and "--fan-out needs AWS settings" in done.stderr
