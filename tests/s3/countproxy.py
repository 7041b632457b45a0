#!/usr/bin/python3
"""countproxy.py - a loopback TCP proxy in front of an HTTP server that
counts what a client asked for and what the server sent back, to show how
much of an object a partial read fetched (tests/s3/test_safetensors_s3.sh).

Usage: countproxy.py UPSTREAM_PORT STATS_FILE

Listens on 127.0.0.1 on a free port, printed on the first line of stdout,
and forwards each connection to 127.0.0.1:UPSTREAM_PORT unchanged (the
Host header the client signed reaches the server as it was signed).  On
SIGTERM or SIGINT it writes STATS_FILE, JSON:

  requests      HTTP requests seen, by method ({"GET": 5, "HEAD": 2})
  ranges        Range headers seen; range_bytes: the bytes they ask for
  bytes_down    every byte the server sent (status lines, headers, bodies)
  bytes_up      every byte the client sent
  log           one "METHOD PATH [bytes=A-B]" line per request
  unparsed      true when a request could not be followed (a chunked
                body): the request counts are then incomplete

Requests are parsed only to count them: a header block, then a body of
Content-Length bytes.  The server's bytes are counted, not parsed.
"""
import asyncio
import json
import re
import signal
import sys

RANGE = re.compile(rb"^range:\s*bytes=(\d+)-(\d+)\s*$", re.I | re.M)


class Stats:
    def __init__(self):
        self.requests = {}
        self.ranges = 0
        self.range_bytes = 0
        self.bytes_down = 0
        self.bytes_up = 0
        self.log = []
        self.unparsed = False

    def as_json(self):
        return {"requests": self.requests, "ranges": self.ranges,
                "range_bytes": self.range_bytes,
                "bytes_down": self.bytes_down, "bytes_up": self.bytes_up,
                "log": self.log, "unparsed": self.unparsed}


class RequestCounter:
    """Follows the client's side of one connection: header blocks and the
    Content-Length bodies between them."""

    def __init__(self, stats):
        self.stats = stats
        self.buf = b""
        self.body_left = 0
        self.lost = False

    def feed(self, data):
        if self.lost:
            return
        self.buf += data
        while True:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                self.body_left -= n
                self.buf = self.buf[n:]
                if self.body_left:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            self._request(head)
            if self.lost:
                return

    def _request(self, head):
        s = self.stats
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        method = parts[0] if parts else "?"
        path = parts[1] if len(parts) > 1 else "?"
        s.requests[method] = s.requests.get(method, 0) + 1
        entry = "%s %s" % (method, path)
        m = RANGE.search(head)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            s.ranges += 1
            s.range_bytes += b - a + 1
            entry += " bytes=%d-%d" % (a, b)
        s.log.append(entry)
        for h in head.split(b"\r\n")[1:]:
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.body_left = int(value.strip())
            elif name == b"transfer-encoding" and \
                    value.strip().lower() != b"identity":
                s.unparsed = self.lost = True


class Side(asyncio.Protocol):
    """One end of a proxied connection: what it reads goes to the peer."""

    def __init__(self, stats, counter=None):
        self.stats = stats
        self.counter = counter  # set on the client's side only
        self.transport = None
        self.peer = None
        self.pending = []       # read before the peer was connected
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.counter:
            self.stats.bytes_up += len(data)
            self.counter.feed(data)
        else:
            self.stats.bytes_down += len(data)
        if self.peer and self.peer.transport:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self):
        if self.peer and self.peer.transport and \
                self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
        else:
            self.eof = True
        return True

    def connection_lost(self, exc):
        if self.peer and self.peer.transport:
            self.peer.transport.close()

    # Back-pressure: stop reading this side while the peer's socket is
    # full.
    def pause_writing(self):
        if self.peer and self.peer.transport:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer and self.peer.transport:
            self.peer.transport.resume_reading()


async def main(upstream, stats_file):
    loop = asyncio.get_running_loop()
    stats = Stats()

    async def connect(down):
        try:
            _, up = await loop.create_connection(
                lambda: Side(stats), "127.0.0.1", upstream)
        except OSError as e:
            print("countproxy: upstream: %s" % e, file=sys.stderr)
            down.transport.close()
            return
        up.peer, down.peer = down, up
        for data in down.pending:
            up.transport.write(data)
        down.pending = []
        if down.eof and up.transport.can_write_eof():
            up.transport.write_eof()

    def accept():
        down = Side(stats, RequestCounter(stats))
        loop.create_task(connect(down))
        return down

    server = await loop.create_server(accept, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()
    with open(stats_file, "w") as f:
        json.dump(stats.as_json(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: countproxy.py UPSTREAM_PORT STATS_FILE")
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
