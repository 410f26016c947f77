"""AWSKinesisStreams.Consumer: reads the shards of one stream."""

from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Union

from .error import library_error
from .kinesis import Kinesis
from .record import Record
from .request import Timeout
from .retry import Retry
from .streams import AWSKinesisStreams, Outcome


class Consumer(AWSKinesisStreams):
    """Reads the stream named at construction; records come back as `bytes` if `isBlob`, else decoded JSON.

    `Consumer(region, accessKeyId, secretAccessKey, streamName, isBlob=False, *, deaggregate=False,
    endpoint=None, sessionToken=None)`; with `deaggregate`, KPL-aggregated records come back as
    their user records.
    """

    def __init__(
        self,
        region: str,
        accessKeyId: str,
        secretAccessKey: str,
        streamName: str,
        isBlob: bool = False,
        *,
        deaggregate: bool = False,
        endpoint: Optional[str] = None,
        sessionToken: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        retries: Union[int, Retry, None] = None,
    ) -> None:
        super().__init__(
            region,
            accessKeyId,
            secretAccessKey,
            streamName,
            endpoint=endpoint,
            sessionToken=sessionToken,
            timeout=timeout,
            retries=retries,
        )
        if isBlob is None:
            isBlob = False
        if not isinstance(isBlob, bool) and self._init_error is None:
            self._init_error = library_error("Consumer wrongly initialized: isBlob must be a boolean")
        self._isBlob = bool(isBlob)
        if not isinstance(deaggregate, bool) and self._init_error is None:
            self._init_error = library_error("Consumer wrongly initialized: deaggregate must be a boolean")
        self._deaggregate = deaggregate is True

    def getShards(self, callback: Callable[[Any, List[str]], Any]) -> "Future[Outcome]":
        """List every shard of the stream, open and closed; `callback(error, shardIds)`."""
        return self._request(
            "getShards",
            callback,
            Kinesis.list_shards,
            lambda shards: (None, [shard["ShardId"] for shard in shards]),
            ([],),
        )

    def getShardIterator(
        self,
        shardId: str,
        type: int,
        typeOptions: Optional[Dict[str, Any]],
        callback: Callable[[Any, Optional[str]], Any],
    ) -> "Future[Outcome]":
        """Get an iterator to start reading `shardId` at; `callback(error, shardIterator)`.

        `typeOptions` holds `startingSequenceNumber` for AT_/AFTER_SEQUENCE_NUMBER and
        `timestamp` for AT_TIMESTAMP; None otherwise.
        """
        return self._request(
            "getShardIterator",
            callback,
            lambda kinesis: kinesis.get_shard_iterator(shardId, type, typeOptions),
            lambda iterator: (None, iterator),
            (None,),
        )

    def getRecords(
        self,
        options: Dict[str, Any],
        callback: Callable[[Any, List[Record], int, Optional[Dict[str, Any]]], Any],
    ) -> "Future[Outcome]":
        """Read the next records at `options["shardIterator"]` (at most `options["limit"]` Kinesis records).

        `callback(error, records, millisBehindLatest, nextOptions)`; `nextOptions` is None
        once a closed shard has been read to its end.
        """
        return self._request(
            "getRecords",
            callback,
            lambda kinesis: kinesis.get_records(options, self._isBlob, self._deaggregate),
            lambda outcome: (None,) + outcome,
            ([], 0, None),
        )
