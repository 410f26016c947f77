"""The names a ported agent uses: the namespace, the enums with Squirrel's numbers, the version."""

import enum

import awskinesisstreams
from awskinesisstreams import (
    AWS_KINESIS_STREAMS_ENCRYPTION_TYPE,
    AWS_KINESIS_STREAMS_ERROR,
    AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE,
    AWSKinesisStreams,
)
from awskinesisstreams.transport.signed_request import Timeout


def test_enums_have_the_squirrel_numbers():
    assert {m.name: m.value for m in AWS_KINESIS_STREAMS_ERROR} == {
        "LIBRARY_ERROR": 0, "REQUEST_FAILED": 1, "UNEXPECTED_RESPONSE": 2}
    assert {m.name: m.value for m in AWS_KINESIS_STREAMS_ENCRYPTION_TYPE} == {"NONE": 0, "KMS": 1}
    assert {m.name: m.value for m in AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE} == {
        "AT_SEQUENCE_NUMBER": 0, "AFTER_SEQUENCE_NUMBER": 1, "AT_TIMESTAMP": 2, "TRIM_HORIZON": 3, "LATEST": 4}
    for kind in (AWS_KINESIS_STREAMS_ERROR, AWS_KINESIS_STREAMS_ENCRYPTION_TYPE, AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE):
        assert issubclass(kind, enum.IntEnum)


def test_namespace():
    assert AWSKinesisStreams.VERSION == awskinesisstreams.__version__ != ""
    assert issubclass(AWSKinesisStreams.Producer, AWSKinesisStreams)
    assert issubclass(AWSKinesisStreams.Consumer, AWSKinesisStreams)
    assert issubclass(AWSKinesisStreams.Error, Exception)
    result = AWSKinesisStreams.PutRecordResult()
    assert (result.errorCode, result.errorMessage, result.shardId, result.sequenceNumber, result.encryptionType) == (
        None, None, None, None, None)
    assert set(awskinesisstreams.__all__) >= {
        "AWSKinesisStreams", "AWS_KINESIS_STREAMS_ERROR", "AWS_KINESIS_STREAMS_ENCRYPTION_TYPE",
        "AWS_KINESIS_STREAMS_SHARD_ITERATOR_TYPE", "imp", "server"}


def test_error_attributes_and_text():
    error = AWSKinesisStreams.Error(1, "PutRecord failed", 400, {"__type": "com.amazon#ResourceNotFoundException"})
    assert error.type is AWS_KINESIS_STREAMS_ERROR.REQUEST_FAILED
    assert (error.details, error.httpStatus, error.awsErrorType) == ("PutRecord failed", 400, "ResourceNotFoundException")
    assert str(error) == "REQUEST_FAILED (HTTP 400): PutRecord failed"
    assert str(AWSKinesisStreams.Error(0, "wrong")) == "LIBRARY_ERROR: wrong"


def test_every_request_has_connect_and_read_timeouts():
    producer = AWSKinesisStreams.Producer("us-east-1", "id", "secret", "s")
    assert producer._kinesis.client._timeout == (Timeout().connect, Timeout().read) == (5.0, 30.0)


def test_repr_shows_no_secret():
    producer = AWSKinesisStreams.Producer("us-east-1", "id", "very-secret", "s", sessionToken="token-secret")
    text = repr(producer) + repr(producer._kinesis.client._credentials)
    assert "very-secret" not in text and "token-secret" not in text
    assert "https://kinesis.us-east-1.amazonaws.com" in repr(producer)
