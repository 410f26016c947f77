"""Lease stores: who reads which shard, and where it got to (SQLite, DynamoDB)."""
