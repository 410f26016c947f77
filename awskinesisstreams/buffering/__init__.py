"""The buffered producer: user records collected per shard, aggregated, sent, retried and answered."""
