"""AWSKinesisStreams.PutRecordResult: what Kinesis said about one written record."""

from typing import Optional

from .enums import AWS_KINESIS_STREAMS_ENCRYPTION_TYPE


class PutRecordResult:
    """Where a record landed (`shardId`, `sequenceNumber`), or why it did not (`errorCode`, `errorMessage`).

    `subSequenceNumber` is the user record's index inside the aggregated Kinesis record that
    carried it; 0 for a record sent on its own.
    """

    __slots__ = ("errorCode", "errorMessage", "shardId", "sequenceNumber", "encryptionType", "subSequenceNumber")

    def __init__(
        self,
        errorCode: Optional[str] = None,
        errorMessage: Optional[str] = None,
        shardId: Optional[str] = None,
        sequenceNumber: Optional[str] = None,
        encryptionType: Optional[AWS_KINESIS_STREAMS_ENCRYPTION_TYPE] = None,
        subSequenceNumber: int = 0,
    ) -> None:
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.shardId = shardId
        self.sequenceNumber = sequenceNumber
        self.encryptionType = encryptionType
        self.subSequenceNumber = subSequenceNumber

    def __repr__(self) -> str:
        if self.errorCode is not None:
            return "AWSKinesisStreams.PutRecordResult(errorCode=%r, errorMessage=%r)" % (
                self.errorCode,
                self.errorMessage,
            )
        return "AWSKinesisStreams.PutRecordResult(shardId=%r, sequenceNumber=%r)" % (
            self.shardId,
            self.sequenceNumber,
        )
