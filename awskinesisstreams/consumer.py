"""AWSKinesisStreams.Consumer: reads the shards of one stream."""

from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .error import library_error
from .wire.stream_consumers import StreamConsumers, Subscription
from .wire.kinesis import Kinesis
from .reading.subscription_relay import Relay
from .record import Record, _describe
from .transport.signed_request import Timeout
from .transport.retry import Retry
from .streams import AWSKinesisStreams, Outcome


DescriptionCallback = Callable[[Any, Optional[Dict[str, Any]]], Any]  # (error, description)


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
        credentials: Any = None,
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
            credentials=credentials,
        )
        if isBlob is None:
            isBlob = False
        for name, value in (("isBlob", isBlob), ("deaggregate", deaggregate)):
            if not isinstance(value, bool) and self._init_error is None:
                self._init_error = library_error(
                    "Consumer wrongly initialized: %s must be a boolean, got %s" % (name, _describe(value))
                )
        self._isBlob = isBlob is True
        self._deaggregate = deaggregate is True
        self._stream_consumers: Optional[StreamConsumers] = None

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

    # -- enhanced fan-out (beyond Squirrel) ---------------------------------------------

    def _consumers(self, kinesis: Kinesis) -> StreamConsumers:
        """The stream-consumer mapping, made once so that the stream's ARN is looked up once."""
        if self._stream_consumers is None:
            self._stream_consumers = StreamConsumers(kinesis)
        return self._stream_consumers

    def registerStreamConsumer(self, consumerName: str, callback: DescriptionCallback) -> "Future[Outcome]":
        """Register `consumerName` for enhanced fan-out; `callback(error, description)` once it is ACTIVE.

        An existing consumer of that name is answered as it is. A description has
        consumerName, consumerARN, consumerStatus and consumerCreationTimestamp (int seconds).
        """
        return self._request(
            "registerStreamConsumer",
            callback,
            lambda kinesis: self._consumers(kinesis).register(consumerName),
            lambda description: (None, description),
            (None,),
        )

    def describeStreamConsumer(self, consumerName: str, callback: DescriptionCallback) -> "Future[Outcome]":
        """Describe the stream consumer `consumerName`; `callback(error, description)`."""
        return self._request(
            "describeStreamConsumer",
            callback,
            lambda kinesis: self._consumers(kinesis).describe(consumerName),
            lambda description: (None, description),
            (None,),
        )

    def listStreamConsumers(self, callback: Callable[[Any, List[Dict[str, Any]]], Any]) -> "Future[Outcome]":
        """Every stream consumer of the stream, all pages; `callback(error, descriptions)`."""
        return self._request(
            "listStreamConsumers",
            callback,
            lambda kinesis: self._consumers(kinesis).list(),
            lambda descriptions: (None, descriptions),
            ([],),
        )

    def deregisterStreamConsumer(
        self, consumerName: str, callback: Optional[Callable[[Any], Any]] = None
    ) -> "Future[Outcome]":
        """Deregister the stream consumer `consumerName`; `callback(error)`."""
        return self._request(
            "deregisterStreamConsumer",
            callback,
            lambda kinesis: self._consumers(kinesis).deregister(consumerName),
            lambda _: (None,),
            (),
        )

    def subscribeToShard(
        self,
        options: Dict[str, Any],
        onEvent: Callable[[List[Record], int, Optional[str]], Any],
        callback: Optional[Callable[[Any, Optional[Dict[str, Any]], List[str]], Any]] = None,
    ) -> "Future[Outcome]":
        """Receive the records of `options["shardId"]` as the stream pushes them to consumer `options["consumerARN"]`.

        `options["type"]` and its startingSequenceNumber or timestamp say where to start, as
        for getShardIterator. `onEvent(records, millisBehindLatest, continuationSequenceNumber)`
        runs for each event; returning False ends the subscription. `callback(error,
        nextOptions, childShardIds)` runs once at the end: nextOptions continues after the last
        event delivered, or is None once a closed shard is read to its end, and then
        childShardIds lists its children. On error nextOptions is None and
        `error.nextOptions` says where to subscribe again from.
        """
        return self._subscribe(options, onEvent, callback)[0]

    def _subscribe(
        self,
        options: Dict[str, Any],
        onEvent: Callable[[List[Record], int, Optional[str]], Any],
        callback: Optional[Callable[[Any, Optional[Dict[str, Any]], List[str]], Any]] = None,
    ) -> Tuple["Future[Outcome]", Optional[Subscription]]:
        """subscribeToShard, and the Subscription whose `close()` ends it at once (None if the call was refused)."""
        made: List[Subscription] = []

        def prepare(kinesis: Kinesis) -> Callable[[], Tuple[Optional[Dict[str, Any]], List[str]]]:
            if not callable(onEvent):
                raise library_error("onEvent must be callable")
            subscription = self._consumers(kinesis).subscription(options, self._isBlob, self._deaggregate)
            made.append(subscription)
            return Relay(subscription, onEvent).run

        future = self._request(
            "subscribeToShard",
            callback,
            prepare,
            lambda outcome: (None,) + outcome,
            (None, []),
            own_thread="awskinesisstreams-subscription",
        )
        return future, made[0] if made else None
