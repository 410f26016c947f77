"""Requests and answers as Kinesis writes them: the JSON API, records as received, stream consumers,
the event stream of SubscribeToShard, the KPL aggregated format."""
