#!/usr/bin/env python3
"""delayproxy.py - a TCP proxy that delays every byte by DELAY ms each way.

Usage: delayproxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

Listens on 127.0.0.1:LISTEN_PORT (0: a free port, printed on the first
line of stdout) and forwards each connection to
127.0.0.1:UPSTREAM_PORT.  Bytes read from either side are written to the
other DELAY_MS later (the connection's setup and end are delayed the same
way, in order), so a request and its answer each take DELAY_MS more than they
would: what a client sees of a server DELAY_MS away, one way.  The
kernel's netem qdisc would do it per packet, TCP windows included, but
the CI's kernel has no netem; this emulates the latency only, not a
bandwidth-delay limit on each connection.

Each direction holds at most LIMIT bytes waiting for their time; past
that it stops reading (TCP pushes back on the sender), as it does while
the other side does not take what was written.  One thread, asyncio
protocols: checked against a direct connection at DELAY_MS 0 by
bench/s3.sh --delay (it must not be the bottleneck).  Stops on SIGTERM.
"""
import asyncio
import collections
import signal
import sys

LIMIT = 16 << 20  # bytes in flight per direction
EOF = object()    # queued: the sender shut its side down
CLOSE = object()  # queued: the connection is gone


class Side(asyncio.Protocol):
    """One end of a proxied connection; `peer` is the other end.  What it
    reads waits in a queue, in order, until its time to be written to the
    peer."""

    def __init__(self, proxy, peer=None):
        self.proxy = proxy
        self.peer = peer
        self.transport = None
        self.queue = collections.deque()  # (due, bytes or EOF or CLOSE)
        self.timer = None
        self.held = 0            # bytes queued
        self.full = False        # paused: too many bytes held
        self.blocked = False     # paused: the peer's socket is full

    def connection_made(self, transport):
        self.transport = transport

    def _pause_resume(self):
        if self.transport is None or self.transport.is_closing():
            return
        if self.full or self.blocked:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _push(self, what):
        self.queue.append((self.proxy.loop.time() + self.proxy.delay, what))
        if self.timer is None:
            self._arm()

    def _arm(self):
        due = self.queue[0][0]
        self.timer = self.proxy.loop.call_at(due, self._drain)

    def _drain(self):
        """Write what is due, in order; wait for the rest."""
        self.timer = None
        now = self.proxy.loop.time()
        peer = self.peer
        while self.queue and self.queue[0][0] <= now:
            if peer is None or peer.transport is None:
                # not connected yet: _connect drains again
                return
            _, what = self.queue.popleft()
            t = peer.transport
            if what is EOF:
                if not t.is_closing():
                    if t.can_write_eof():
                        t.write_eof()
                    else:
                        t.close()
            elif what is CLOSE:
                t.close()
            else:
                self.held -= len(what)
                if not t.is_closing():
                    t.write(what)
        if self.full and self.held <= LIMIT // 2:
            self.full = False
            self._pause_resume()
        if self.queue:
            self._arm()

    def data_received(self, data):
        self.held += len(data)
        if self.held > LIMIT:
            self.full = True
            self._pause_resume()
        self._push(data)

    def eof_received(self):
        self._push(EOF)
        return True  # keep our write side open

    def connection_lost(self, exc):
        self._push(CLOSE)

    # The peer's socket is full / drained: stop / go on reading there.
    def pause_writing(self):
        if self.peer:
            self.peer.blocked = True
            self.peer._pause_resume()

    def resume_writing(self):
        if self.peer:
            self.peer.blocked = False
            self.peer._pause_resume()


class Proxy:
    def __init__(self, loop, upstream, delay):
        self.loop = loop
        self.upstream = upstream
        self.delay = delay

    def accept(self):
        down = Side(self)
        self.loop.create_task(self._connect(down))
        return down

    async def _connect(self, down):
        try:
            _, up = await self.loop.create_connection(
                lambda: Side(self, down), "127.0.0.1", self.upstream)
        except OSError as e:
            print("delayproxy: upstream: %s" % e, file=sys.stderr)
            down.transport.close()
            return
        down.peer = up
        if down.queue and down.timer is None:
            down._drain()


async def main(listen, upstream, delay_ms):
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, upstream, delay_ms / 1000.0)
    server = await loop.create_server(proxy.accept, "127.0.0.1", listen,
                                      backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: delayproxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS")
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
