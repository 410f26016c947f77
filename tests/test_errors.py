"""How answers map to Error: what a real server will not do, played by `responses` (a 5xx, a broken 2xx),
and a connection refused or cut short by a real socket."""

import socket
import threading

import pytest
import responses

from awskinesisstreams import AWS_KINESIS_STREAMS_ERROR, AWSKinesisStreams
from awskinesisstreams.local import free_port

ENDPOINT = "http://127.0.0.1:9"
REQUEST_FAILED = AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED
UNEXPECTED_RESPONSE = AWS_KINESIS_STREAMS_ERROR.UNEXPECTED_RESPONSE


def producer(endpoint=ENDPOINT):
    return AWSKinesisStreams.Producer("us-east-1", "id", "secret", "s", endpoint=endpoint)


def consumer(endpoint=ENDPOINT):
    """A consumer that makes each call once: these tests are about mapping one answer (retries: test_retry.py)."""
    return AWSKinesisStreams.Consumer("us-east-1", "id", "secret", "s", endpoint=endpoint, retries=0)


def answer(status, body, content_type="application/x-amz-json-1.1"):
    responses.add(responses.POST, ENDPOINT + "/", body=body, status=status, content_type=content_type)


@responses.activate
def test_5xx_is_request_failed_with_the_decoded_body():
    answer(500, b'{"__type":"InternalFailure","message":"try later"}')
    err, result = producer().putRecord(AWSKinesisStreams.Record(1, "k")).result(10)
    assert err.type == REQUEST_FAILED and err.httpStatus == 500 and result is None
    assert err.httpResponse == {"__type": "InternalFailure", "message": "try later"}
    assert err.awsErrorType == "InternalFailure" and "try later" in err.details


@responses.activate
def test_xml_auth_error_keeps_the_raw_text():
    xml = "<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error></ErrorResponse>"
    answer(403, xml.encode(), "text/xml")
    err, shards = consumer().getShards(None).result(10)
    assert err.type == REQUEST_FAILED and err.httpStatus == 403 and shards == []
    assert err.httpResponse == xml and err.awsErrorType is None


@responses.activate
def test_5xx_with_an_empty_body():
    answer(503, b"")
    err, failed, results = producer().putRecords([AWSKinesisStreams.Record(1, "k")]).result(10)
    assert (err.type, err.httpStatus, err.httpResponse, failed, results) == (REQUEST_FAILED, 503, "", 1, [])


@pytest.mark.parametrize(
    "body, words",
    [
        (b"<html>not json</html>", "not a JSON object"),
        (b'{"ShardId":"shardId-000000000000","Sequence', "not a JSON object"),  # cut short
        (b"[1,2]", "not a JSON object"),
        (b'{"ShardId":"shardId-000000000000"}', "lacks SequenceNumber"),
        (b"{}", "lacks ShardId, SequenceNumber"),
    ],
)
@responses.activate
def test_2xx_that_is_not_what_was_asked_is_unexpected_response(body, words):
    answer(200, body)
    err, result = producer().putRecord(AWSKinesisStreams.Record(1, "k")).result(10)
    assert err.type == UNEXPECTED_RESPONSE and err.httpStatus == 200 and result is None
    assert words in err.details


@responses.activate
def test_put_records_answer_with_the_wrong_count_is_unexpected():
    answer(200, b'{"FailedRecordCount":0,"Records":[{"ShardId":"s","SequenceNumber":"1"}]}')
    err, failed, results = producer().putRecords([AWSKinesisStreams.Record(i, "k") for i in range(2)]).result(10)
    assert err.type == UNEXPECTED_RESPONSE and (failed, results) == (2, [])


@responses.activate
def test_put_records_answer_with_an_entry_that_is_not_an_object_is_unexpected():
    answer(200, b'{"FailedRecordCount":0,"Records":[{"ShardId":"s","SequenceNumber":"1"}, "s"]}')
    err, failed, results = producer().putRecords([AWSKinesisStreams.Record(i, "k") for i in range(2)]).result(10)
    assert err.type == UNEXPECTED_RESPONSE and "not an object" in err.details and (failed, results) == (2, [])


@responses.activate
def test_get_records_with_a_malformed_record_is_unexpected():
    answer(200, b'{"Records":[{"Data":"!!","PartitionKey":"k"}],"NextShardIterator":"n"}')
    err, records, millis, next_options = consumer().getRecords({"shardIterator": "it"}, None).result(10)
    assert err.type == UNEXPECTED_RESPONSE and (records, millis, next_options) == ([], 0, None)


def test_connection_refused_has_no_http_status():
    err, result = producer("http://127.0.0.1:%d" % free_port()).putRecord(AWSKinesisStreams.Record(1, "k")).result(10)
    assert err.type == REQUEST_FAILED and err.httpStatus is None and err.httpResponse is None
    assert "no response" in err.details and "connection failed" in err.details


def test_body_cut_short_on_the_wire_has_no_http_status():
    """A real server that promises 100 bytes, sends 10 and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve_once():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Shards\":")

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    with listener:
        err, shards = consumer("http://127.0.0.1:%d" % listener.getsockname()[1]).getShards(None).result(10)
    thread.join(5)
    assert err.type == REQUEST_FAILED and err.httpStatus is None and shards == []
    assert "before the whole body arrived" in err.details


def test_read_timeout_has_no_http_status():
    """A server that accepts and never answers: the read timeout ends the call."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        c = AWSKinesisStreams.Consumer(
            "us-east-1", "id", "secret", "s",
            endpoint="http://127.0.0.1:%d" % listener.getsockname()[1],
            timeout=AWSKinesisStreams.Timeout(connect=1, read=0.3),
            retries=0,
        )
        err, shards = c.getShards(None).result(10)
    assert err.type == REQUEST_FAILED and err.httpStatus is None and "read timed out" in err.details
