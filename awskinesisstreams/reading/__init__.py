"""Where a shard's records come from: the ShardSource interface, polling and fan-out behind it."""
