"""The Worker: leases shared by a fleet, one shard reader per leased shard, checkpoints."""
