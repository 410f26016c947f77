"""A loopback proxy for SubscribeToShard: passes event streams on message by message, as they arrive.

proxy.Proxy reads each answer whole, which an event stream never is. This one forwards
every other call as it is and, for SubscribeToShard, can
- answer in the server's place with scripted bytes (`script`): broken CRCs, a cut message,
  an initial-response first, silence;
- rewrite what the server sends (`rewrite`), message by message: kinesis-mock never ends a
  closed shard's subscription, so a test can make it end the way AWS documents (a last event
  with ChildShards, then the end of the stream).
"""

import http.client
import json
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from awskinesisstreams.wire.eventstream import Decoder, Message
from eventstream_bytes import header, message as frame
from proxy import LoopbackServer, QuietHandler

END = object()  # returned by a rewrite in the list of messages: end the stream after what came before


class StreamProxy(LoopbackServer):
    """Forwards POSTs from 127.0.0.1:<port> to `upstream`, streaming SubscribeToShard answers through `rewrite`."""

    def __init__(
        self,
        upstream: str,
        script: Optional[Callable[[Dict[str, Any]], Optional[Iterable[Any]]]] = None,
        rewrite: Optional[Callable[[Dict[str, Any], Message, bytes], Optional[List[Any]]]] = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.script = script
        self.rewrite = rewrite
        self.subscriptions: List[Dict[str, Any]] = []
        self.requests: List[Tuple[Dict[str, str], bytes]] = []  # each SubscribeToShard's headers and body, as sent
        self.calls: List[str] = []
        self._serve(self._handler())

    def _handler(self) -> type:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                proxy.calls.append(action)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                try:
                    if action == "SubscribeToShard":
                        body = json.loads(raw)
                        proxy.subscriptions.append(body)
                        proxy.requests.append((dict(self.headers), raw))
                        scripted = proxy.script(body) if proxy.script else None
                        if scripted is not None:
                            self._stream(scripted)
                            return
                    connection.request("POST", "/", body=raw, headers=headers)
                    response = connection.getresponse()
                    if action == "SubscribeToShard" and response.status == 200:
                        self._stream(proxy._relay(body, response))
                        return
                    payload = response.read()
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.getheader("Content-Type", "application/x-amz-json-1.1"))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client went away first
                    self.close_connection = True
                finally:
                    connection.close()

            def _stream(self, pieces: Iterable[Any]) -> None:
                """Answer 200 with `pieces` as HTTP chunks, each sent at once; a number is a pause in seconds."""
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in pieces:
                    if isinstance(piece, (int, float)):
                        time.sleep(piece)
                        continue
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

        return Handler

    def _relay(self, body: Dict[str, Any], response: http.client.HTTPResponse) -> Iterable[bytes]:
        """The upstream's messages as they arrive, each through `rewrite`, until it ends or a rewrite says END."""
        decoder = Decoder()
        while True:
            chunk = response.read1(65536)
            if not chunk:
                return
            for message in decoder.feed(chunk):
                raw = _raw(message)
                replaced = self.rewrite(body, message, raw) if self.rewrite else None
                for piece in [raw] if replaced is None else replaced:
                    if piece is END:
                        return
                    yield piece


def _raw(message: Message) -> bytes:
    """A decoded message framed again (its headers are all strings, as AWS's are)."""
    return frame([header(name, 7, value) for name, value in message.headers.items()], message.payload)
