"""The guides: the site builds with no broken link or page missing from the navigation, and every
Python example in a guide runs as it stands against a local Kinesis, so a guide cannot go stale."""

import os
import re
import subprocess
import sys

import pytest
from conftest import aws_free_environ, boto_kinesis, wait_for

from awskinesisstreams import AWSKinesisStreams

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(TOP, "docs")
NO_AWS = aws_free_environ()
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)

# What each page's examples print, given three records written to my-stream first.
PRINTS = {
    "README.md": ["stored in shardId-", "shardId-000000000000 {'n': 0}"],
    "porting.md": [],
    "producer-consumer.md": ["stored in shardId-", "still here", "'shardId-000000000000'"],
    "buffered-producer.md": [],
    "worker.md": ["shardId-000000000000 doc-0 {'n': 0}"],
    "faults.md": ["{'n': 0}", "0 failed"],
    "fan-out.md": ["{'n': 0}"],
    "monitoring.md": ['awskinesisstreams_producer_user_records_total{stream="my-stream",outcome="ok"} 100'],
    "credentials.md": ["written: ", "['shardId-000000000000', 'shardId-000000000001']"],
}


def script(page):
    """The page's Python examples, in order, as one script."""
    with open(os.path.join(TOP if page == "README.md" else DOCS, page)) as f:
        return "\n".join(BLOCK.findall(f.read()))


def test_every_page_with_examples_is_run_here():
    pages = sorted(page for page in os.listdir(DOCS) if page.endswith(".md") and script(page))
    assert sorted(pages + ["README.md"]) == sorted(PRINTS)


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=TOP, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").exists()


@pytest.mark.parametrize("page", sorted(PRINTS))
def test_a_guides_examples_run(page, request, tmp_path):
    server = request.getfixturevalue("kinesis_mock" if page == "fan-out.md" else "moto_server")
    server.create_stream("my-stream", 2)
    try:
        writer = AWSKinesisStreams.Producer(server.region, "testing", "testing", "my-stream", endpoint=server.endpoint)
        records = [AWSKinesisStreams.Record({"n": n}, "doc-%d" % n) for n in range(3)]
        error, failed, _ = writer.putRecords(records).result(timeout=30)
        assert error is None and failed == 0
        writer.close()
        # as the `export` line of `kinesis-streams local` sets it
        env = dict(NO_AWS, AWS_ENDPOINT_URL_KINESIS=server.endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        done = subprocess.run([sys.executable, "-c", script(page)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and "error" not in done.stderr.lower(), done.stderr
        for text in PRINTS[page]:
            assert text in done.stdout, done.stdout
    finally:
        kinesis = boto_kinesis(server)
        kinesis.delete_stream(StreamName="my-stream", EnforceConsumerDeletion=True)
        wait_for(lambda: "my-stream" not in kinesis.list_streams()["StreamNames"])
