"""The loop: one thread for every callback and timer, arrival order, imp.run/stop, futures, user exceptions."""

import logging
import threading
import time

from conftest import consumer, producer

from awskinesisstreams import AWSKinesisStreams, imp, server
from awskinesisstreams.loop import LOOP


def test_callbacks_never_overlap_and_run_on_one_thread(moto_server, stream):
    threads, active, overlaps = set(), [0], []

    def callback(*args):
        active[0] += 1
        if active[0] > 1:
            overlaps.append(args)
        threads.add(threading.current_thread())
        time.sleep(0.005)  # long enough for a second callback to start if the loop allowed it
        active[0] -= 1

    p, c = producer(moto_server, stream), consumer(moto_server, stream)
    futures = [p.putRecord(AWSKinesisStreams.Record(i, "k%d" % i), callback) for i in range(12)]
    futures += [c.getShards(callback) for _ in range(6)]
    for _ in range(6):
        imp.wakeup(0, callback)
    assert imp.run(20)
    assert all(f.done() and f.result()[0] is None for f in futures)
    assert overlaps == []
    assert len(threads) == 1 and threading.current_thread() not in threads


def test_timers_fire_in_time_order_then_in_setting_order():
    fired = []
    for delay, name in ((0.15, "c"), (0.05, "a"), (0.1, "b1"), (0.1, "b2")):
        imp.wakeup(delay, lambda name=name: fired.append(name))
    assert imp.run(5)
    assert fired == ["a", "b1", "b2", "c"]


def test_results_are_delivered_in_arrival_order():
    """Calls that fail at once are queued in call order; each comes back in that order."""
    c = AWSKinesisStreams.Consumer(None, "id", "secret", "s")
    order = []
    for i in range(20):
        c.getShards(lambda err, shards, i=i: order.append(i))
    assert imp.run(5)
    assert order == list(range(20))


def test_cancelwakeup():
    fired = []
    handle = imp.wakeup(0.05, lambda: fired.append("cancelled"))
    imp.wakeup(0.1, lambda: fired.append("kept"))
    imp.cancelwakeup(handle)
    imp.cancelwakeup(handle)  # twice is harmless
    assert imp.run(5)
    assert fired == ["kept"]
    imp.cancelwakeup(handle)  # and so is a fired or cancelled handle


def test_run_with_timeout_false_then_true():
    handle = imp.wakeup(30, lambda: None)
    started = time.monotonic()
    assert imp.run(0.1) is False
    assert 0.09 <= time.monotonic() - started < 2
    imp.cancelwakeup(handle)
    assert imp.run(1) is True


def test_stop_releases_run_while_a_timer_is_armed():
    far = imp.wakeup(30, lambda: None)
    imp.wakeup(0.05, imp.stop)
    started = time.monotonic()
    assert imp.run(10) is True
    assert time.monotonic() - started < 5
    imp.cancelwakeup(far)
    assert imp.run(1)


def test_timer_set_from_a_callback_keeps_run_waiting():
    ticks = []

    def tick():
        ticks.append(time.monotonic())
        if len(ticks) < 3:
            imp.wakeup(0.02, tick)

    imp.wakeup(0, tick)
    assert imp.run(5)
    assert len(ticks) == 3


def test_future_resolves_after_the_callback_returned(moto_server, stream):
    returned = threading.Event()

    def slow_callback(err, shards):
        time.sleep(0.2)
        returned.set()

    future = consumer(moto_server, stream).getShards(slow_callback)
    err, shards = future.result(10)
    assert returned.is_set()
    assert err is None and shards == ["shardId-000000000000"]


def test_exception_in_a_callback_is_logged_and_the_loop_goes_on(caplog):
    after = []
    c = AWSKinesisStreams.Consumer(None, "id", "secret", "s")
    with caplog.at_level(logging.ERROR, logger="awskinesisstreams"):
        future = c.getShards(lambda err, shards: 1 / 0)
        imp.wakeup(0, lambda: [][1])
        imp.wakeup(0.01, lambda: after.append("ran"))
        assert imp.run(5)
    err, shards = future.result(1)
    assert err.type == 0  # the Future still resolves, with the callback's arguments
    assert after == ["ran"]
    logged = [r for r in caplog.records if r.name == "awskinesisstreams" and r.exc_info]
    assert [r.exc_info[0] for r in logged] == [ZeroDivisionError, IndexError]
    assert "loop goes on" in logged[0].getMessage()
    assert caplog.text.count("Traceback (most recent call last)") == 2 and "ZeroDivisionError" in caplog.text


def test_run_from_a_callback_is_refused(caplog):
    with caplog.at_level(logging.ERROR, logger="awskinesisstreams"):
        imp.wakeup(0, imp.run)
        assert imp.run(5)
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def test_idle_after_everything_finished(moto_server, stream):
    producer(moto_server, stream).putRecord(AWSKinesisStreams.Record(1, "k"))
    assert imp.run(10) and LOOP.idle()


def test_server_log_and_error(capsys):
    server.log("to standard output")
    server.error({"to": "standard error"})
    out, err = capsys.readouterr()
    assert out == "to standard output\n"
    assert err == "{'to': 'standard error'}\n"


class CountingServer:
    """A keep-alive HTTP server that answers every call with no shards after a short pause,
    counting the connections it was given and the most calls it served at once."""

    def __init__(self):
        import http.server

        self.ports, self.active, self.most = set(), 0, 0
        lock = threading.Lock()
        counting = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    counting.ports.add(self.client_address[1])
                    counting.active += 1
                    counting.most = max(counting.most, counting.active)
                time.sleep(0.05)
                with lock:
                    counting.active -= 1
                body = b'{"Shards":[]}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_runs_on_a_bounded_pool_of_kept_alive_connections():
    counting = CountingServer()
    try:
        c = AWSKinesisStreams.Consumer("us-east-1", "id", "secret", "s", endpoint=counting.endpoint)
        futures = [c.getShards(None) for _ in range(40)]
        assert all(f.result(20) == (None, []) for f in futures)
    finally:
        counting.close()
    assert 1 < counting.most <= LOOP.max_workers
    assert len(counting.ports) <= LOOP.max_workers  # 40 calls, one connection per worker at most


def test_work_that_raises_fails_its_future_and_the_loop_goes_on(caplog):
    """`work` is meant to return its callback's arguments; if a bug makes it raise, nothing waits forever."""

    def broken():
        raise ZeroDivisionError("a bug")

    called = []
    with caplog.at_level(logging.ERROR, logger="awskinesisstreams"):
        future = LOOP.call(broken, lambda *args: called.append(args))
        assert isinstance(future.exception(timeout=5), ZeroDivisionError)
        assert imp.run(timeout=5) is True
    assert called == []
    assert any("ZeroDivisionError" in (record.exc_text or "") for record in caplog.records)
