"""No secret leaks: debug output, repr(), error details and tracebacks never hold the secret key, token or a signature.

TLS: certificates are verified by default, and REQUESTS_CA_BUNDLE (read once, at construction) names a custom CA.
"""

import itertools
import logging
import re
import ssl
import subprocess
import traceback

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR as ERR, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE as IT, AWSKinesisStreams
from awskinesisstreams.local import free_port
from proxy import Proxy, aws_error

Record = AWSKinesisStreams.Record
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-0123456789"


def forbid_every_third():
    """A rule answering every third call with the error AWS gives a bad signature."""
    counter = itertools.count()

    def rule(call):
        if next(counter) % 3 == 0:
            return aws_error(403, "InvalidSignatureException", "The request signature we calculated does not match")
        return None

    return rule


def test_no_secret_in_debug_output_reprs_errors_or_tracebacks(moto_server, stream, caplog, capsys):
    outcomes = []
    AWSKinesisStreams.setDebug(True)
    try:
        with caplog.at_level(logging.DEBUG, logger="awskinesisstreams"):
            with Proxy(moto_server.endpoint, rule=forbid_every_third()) as proxy:
                kwargs = dict(endpoint=proxy.endpoint, sessionToken=TOKEN, retries=1)
                p = AWSKinesisStreams.Producer("us-east-1", "AKIDEXAMPLE", SECRET, stream, **kwargs)
                c = AWSKinesisStreams.Consumer("us-east-1", "AKIDEXAMPLE", SECRET, stream, **kwargs)
                calls = [p.putRecord(Record({"n": n}, "k")) for n in range(6)]
                calls += [p.putRecords([Record(b"raw", "k")] * 3), p.putRecords("not a list"), c.getShards(None)]
                calls += [c.getShardIterator("shardId-000000000000", IT.TRIM_HORIZON, None, None)]
                calls += [c.getRecords({"shardIterator": "bogus"}, None), c.getRecords(None, None)]
                calls += [p.putRecord(Record(1, "k"), lambda *args: outcomes.append(1 / 0))]  # a callback that raises
                outcomes += [call.result(20) for call in calls]
                signatures = [
                    re.search(r"Signature=([0-9a-f]{64})", call.headers["Authorization"]).group(1) for call in proxy.calls
                ]
                tokens_sent = {call.headers.get("X-Amz-Security-Token") for call in proxy.calls}
            dead = AWSKinesisStreams.Producer(
                "us-east-1", "AKIDEXAMPLE", SECRET, stream, endpoint="http://127.0.0.1:%d" % free_port(),
                sessionToken=TOKEN, retries=0,
            )
            outcomes.append(dead.putRecord(Record(1, "k")).result(10))
    finally:
        AWSKinesisStreams.setDebug(False)
    errors = [item for outcome in outcomes for item in outcome if isinstance(item, AWSKinesisStreams.Error)]
    kinds = {error.type for error in errors}
    assert kinds == {ERR.LIBRARY_ERROR, ERR.REQUEST_FAILED} and any(e.httpStatus == 403 for e in errors)
    assert tokens_sent == {TOKEN} and len(signatures) >= 8

    texts = [caplog.text, capsys.readouterr().err]
    texts += [repr(thing) for thing in (p, c, dead, AWSKinesisStreams.Retry(), AWSKinesisStreams.Timeout(), p._kinesis.client)]
    texts += [repr(outcome) for outcome in outcomes]
    for error in errors:
        texts += [repr(error), str(error), error.details, repr(error.httpResponse)]
        try:
            raise error
        except AWSKinesisStreams.Error:
            texts.append(traceback.format_exc())
    assert "ZeroDivisionError" in caplog.text and "-> PutRecord" in caplog.text  # the output really was captured
    everything = "\n".join(texts)
    for secret in [SECRET, TOKEN] + signatures:
        assert secret not in everything
    for part in (SECRET[:12], SECRET[-12:], TOKEN[:12], TOKEN[-12:]):
        assert part not in everything
    for run in re.findall(r"[0-9a-f]{12,}", everything):  # not even part of a signature
        assert not any(run in signature for signature in signatures)


def self_signed(tmp_path):
    """A certificate and key for 127.0.0.1, made with the openssl command line."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return str(cert), context


def test_tls_is_verified_by_default_and_requests_ca_bundle_is_honoured(moto_server, stream, tmp_path, monkeypatch):
    cert, context = self_signed(tmp_path)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with Proxy(moto_server.endpoint, tls=context) as proxy:
        assert proxy.endpoint.startswith("https://")
        sleeps = []
        policy = AWSKinesisStreams.Retry(sleep=sleeps.append)
        untrusted = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=policy)
        err, _ = untrusted.putRecord(Record(1, "k")).result(10)
        assert err.type == ERR.REQUEST_FAILED and err.httpStatus is None and "TLS failure" in err.details
        assert sleeps == []  # not retried: it would fail the same way
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        trusted = AWSKinesisStreams.Producer("us-east-1", "k", "s", stream, endpoint=proxy.endpoint, retries=0)
        err, result = trusted.putRecord(Record(1, "k")).result(10)
        assert err is None and result.sequenceNumber
        err, _ = untrusted.putRecord(Record(1, "k")).result(10)  # the environment is read once, at construction
        assert "TLS failure" in err.details
