"""setDebug: output on standard error through logging when the application set none up, never a secret.

Run in a child process: that is the only way to see what a script with no logging set up prints.
"""

import re
import subprocess
import sys
import textwrap

SECRET = "wJalrXUtnFEMI-very-secret-KEY"
TOKEN = "FwoGZXIvYXdz-session-TOKEN"

SCRIPT = textwrap.dedent(
    """
    import sys
    from awskinesisstreams import AWSKinesisStreams, server
    endpoint, stream, secret, token = sys.argv[1:]
    p = AWSKinesisStreams.Producer("us-east-1", "AKIDTEST", secret, stream, endpoint=endpoint, sessionToken=token)
    p.putRecord(AWSKinesisStreams.Record(1, "k")).result(10)
    server.error("-- debug on --")
    AWSKinesisStreams.setDebug(True)
    p.putRecord(AWSKinesisStreams.Record({"a": 1}, "k")).result(10)
    p.putRecord("not a record").result(10)
    AWSKinesisStreams.Consumer("us-east-1", "AKIDTEST", secret, "no-such-stream", endpoint=endpoint).getShards(None).result(10)
    p.setDebug(False)
    server.error("-- debug off --")
    p.putRecord(AWSKinesisStreams.Record(2, "k")).result(10)
    """
)


def test_set_debug_writes_to_stderr_without_secrets(moto_server, stream):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, moto_server.endpoint, stream, SECRET, TOKEN],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    before, rest = done.stderr.split("-- debug on --\n")
    during, after = rest.split("-- debug off --\n")
    assert before == "" and after == ""
    assert "-> PutRecord %s" % moto_server.endpoint in during
    assert "<- PutRecord HTTP 200" in during
    assert "record must be an AWSKinesisStreams.Record" in during
    assert "ResourceNotFoundException" in during
    for secret in (SECRET, TOKEN, "Signature", "Authorization", "X-Amz-Security-Token"):
        assert secret not in during
    assert not re.search(r"[0-9a-f]{64}", during)  # no signature, no signing key
