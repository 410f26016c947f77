"""The speed short cuts change nothing: the same bytes on the wire, the same decoded values, still mockable."""

import json
import socket
import threading

import pytest
import requests
import responses
from hypothesis import given, settings, strategies as st

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams
from awskinesisstreams.error import Error
from awskinesisstreams.wire.received_records import _json_value
from awskinesisstreams.transport.signed_request import READ_CHUNK, AwsJsonClient
from awskinesisstreams.transport.sigv4 import Keys

ANSWER = b'{"SequenceNumber":"1","ShardId":"shardId-000000000000"}'


def reply(body: bytes, length=None) -> bytes:
    """An HTTP answer; a `length` beyond the body's makes it a body cut short."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body) if length is None else length, body)


class Recorder:
    """A loopback HTTP server that keeps the raw bytes of every request and answers each with `answer`."""

    def __init__(self, answer: bytes = reply(ANSWER), close: bool = False) -> None:
        self.requests = []
        self._answer = answer
        self._close = close
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = "http://127.0.0.1:%d" % self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self._sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if sep and length and len(body) >= int(length[0].split(b":")[1]):
                self.requests.append(data)
                data = b""
                conn.sendall(self._answer)
                if self._close:
                    conn.close()
                    return


def test_the_request_bytes_are_those_a_requests_session_sends():
    recorder = Recorder()
    client = AwsJsonClient(
        recorder.endpoint, "us-east-1", "kinesis", "Kinesis_20131202", "1.1", Keys("AK", "SK", "TOKEN")
    )
    client._signer._now = lambda: "20260102T030405Z"
    body = '{"Data":"YWJj","PartitionKey":"k\\u00e9","StreamName":"s"}'.encode("ascii")
    assert client.call("PutRecord", body) == json.loads(ANSWER)
    headers = client._signer.sign(
        Keys("AK", "SK", "TOKEN"), client._host, {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecord"}, body
    )
    with requests.Session() as session:
        session.trust_env = False
        session.post(recorder.endpoint + "/", data=body, headers=headers).raise_for_status()
    ours, session_sent = recorder.requests
    assert b"Authorization: AWS4-HMAC-SHA256 Credential=AK/20260102/us-east-1/kinesis/aws4_request" in ours
    assert ours == session_sent


def _client(endpoint: str) -> AwsJsonClient:
    return AwsJsonClient(endpoint, "us-east-1", "kinesis", "Kinesis_20131202", "1.1", Keys("AK", "SK"))


def test_an_answer_of_several_read_chunks_arrives_whole():
    records = [{"Data": "eA==", "PartitionKey": "k", "SequenceNumber": str(n)} for n in range(40000)]
    answer = json.dumps({"Records": records}).encode()
    assert len(answer) > 2 * READ_CHUNK
    assert _client(Recorder(reply(answer)).endpoint).call("GetRecords", b"{}") == {"Records": records}


def test_an_answer_cut_short_is_a_request_failure():
    recorder = Recorder(reply(b'{"ShardId":', length=100), close=True)
    with pytest.raises(Error) as caught:
        _client(recorder.endpoint).call("PutRecord", b"{}")
    assert caught.value.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED
    assert "closed before the whole body arrived" in caught.value.details


@responses.activate
def test_responses_still_intercepts_the_calls():
    responses.add(responses.POST, "http://127.0.0.1:9/", status=500, json={"__type": "InternalFailure"})
    producer = AWSKinesisStreams.Producer("us-east-1", "AK", "SK", "s", endpoint="http://127.0.0.1:9", retries=0)
    err, result = producer.putRecord(AWSKinesisStreams.Record(b"x", "k")).result(10)
    assert err.type == AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED and err.httpStatus == 500
    assert result is None
    assert len(responses.calls) == 1


def _outcome(decode, data):
    try:
        return ("value", repr(decode(data)))
    except ValueError as exc:
        return ("error", type(exc).__name__, str(exc))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    json_values,
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"]),
    st.sampled_from(["", " ", "\n", "\t "]),
    st.booleans(),
)
def test_json_records_decode_as_json_loads_does(value, encoding, space, ascii_only):
    data = (space + json.dumps(value, ensure_ascii=ascii_only) + space).encode(encoding)
    assert _outcome(_json_value, data) == _outcome(json.loads, data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_decode_or_fail_as_json_loads_does(data):
    assert _outcome(_json_value, data) == _outcome(json.loads, data)
