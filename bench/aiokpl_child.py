"""aiokpl 0.2.0's Producer, measured the way bench/aggregation.py measures the BufferedProducer.

Runs in its own virtual environment (aiokpl pins an older botocore than boto3's), so it
imports nothing of this repository: `python bench/aiokpl_child.py ENDPOINT COUNT` prints
{"cpu": client CPU seconds per user record} as JSON. Each record's outcome is awaited, the
asyncio counterpart of a callback per record.
"""

import asyncio
import gc
import json
import sys
import time

from aiokpl import Config, Producer

RECORD_BYTES = 100
KEY_COUNT = 1000
PAYLOADS = [(b"%06d" % i) * (RECORD_BYTES // 6) + b"x" * (RECORD_BYTES % 6) for i in range(KEY_COUNT)]
KEYS = ["key-%d" % i for i in range(KEY_COUNT)]


async def put(producer: Producer, count: int) -> None:
    """Put `count` records, then await every outcome."""
    outcomes = []
    for i in range(count):
        key, data = KEYS[i % KEY_COUNT], PAYLOADS[i % KEY_COUNT]
        outcomes.append(await producer.put_record(stream="bench-buffered", partition_key=key, data=data))
    await producer.flush()
    for outcome in outcomes:
        result = await outcome.wait()
        assert result.success, result


async def main(endpoint: str, count: int) -> float:
    config = Config(
        region="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    async with Producer(config) as producer:
        await put(producer, 1000)  # warm up: the shard map, connections, imports
        gc.collect()  # as the benchmark does before every measure
        started = time.process_time()
        await put(producer, count)
        return (time.process_time() - started) / count


if __name__ == "__main__":
    print(json.dumps({"cpu": asyncio.run(main(sys.argv[1], int(sys.argv[2])))}))
