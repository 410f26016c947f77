"""AWSKinesisStreams.Producer: writes records into one stream."""

from concurrent.futures import Future
from typing import Any, Callable, List, Optional, Tuple

from .put_record_result import PutRecordResult
from .record import Record
from .streams import AWSKinesisStreams, Outcome


class Producer(AWSKinesisStreams):
    """Writes records to the stream named at construction.

    `Producer(region, accessKeyId, secretAccessKey, streamName, *, endpoint=None, sessionToken=None)`

    Writes are retried as the instance's Retry policy says; a write whose answer was lost
    may then be in the stream twice (at least once), yet every record gets one outcome.
    """

    def putRecord(
        self,
        record: Record,
        callback: Optional[Callable[[Any, Optional[PutRecordResult]], Any]] = None,
    ) -> "Future[Outcome]":
        """Write one record; `callback(error, putRecordResult)`."""
        return self._request(
            "putRecord",
            callback,
            lambda kinesis: kinesis.put_record(record),
            lambda result: (None, result),
            (None,),
        )

    def putRecords(
        self,
        records: List[Record],
        callback: Optional[Callable[[Any, int, List[PutRecordResult]], Any]] = None,
    ) -> "Future[Outcome]":
        """Write up to 500 records in one request; `callback(error, failedRecordCount, putRecordResults)`.

        The results are in the order of `records`. On error they are `[]` and every record
        counts as failed.
        """
        count = len(records) if isinstance(records, list) else 0

        def success(outcome: Tuple[int, List[PutRecordResult]]) -> Outcome:
            return (None,) + outcome

        return self._request("putRecords", callback, lambda kinesis: kinesis.put_records(records), success, (count, []))
