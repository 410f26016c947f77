"""The `kinesis-streams` command line: put, pull, leases, consumers, and the embedded local Kinesis."""
