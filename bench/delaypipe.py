"""An SSH ProxyCommand that adds a fixed delay to each direction: a wide-area link without its CPU cost.

    ProxyCommand python3 bench/delaypipe.py %h %p SECONDS

Connects to HOST:PORT and copies stdin to the socket and the socket to stdout, each chunk
handed on SECONDS after it arrived. The two directions run on their own threads and a chunk
waits only for its own due time, so the link keeps its bandwidth (chunks in flight overlap)
and a round trip costs 2 x SECONDS, as on a long link. Waiting costs no CPU, so a 2-core
machine measures round trips exactly however busy its lab hosts are.
"""

from __future__ import annotations

import collections
import os
import socket
import sys
import threading
import time

CHUNK = 65536


def relay(read, write, delay: float) -> None:
    """Hand each chunk `read` returns to `write` `delay` seconds after it was read; b"" ends it."""
    queue: collections.deque = collections.deque()
    ready = threading.Condition()

    def reader() -> None:
        while True:
            data = read()
            with ready:
                queue.append((time.monotonic() + delay, data))
                ready.notify()
            if not data:
                return

    threading.Thread(target=reader, daemon=True).start()
    while True:
        with ready:
            while not queue:
                ready.wait()
            due, data = queue.popleft()
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the emulated link's latency itself, not a wait for a condition
        if not data:
            break
        write(data)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: delaypipe.py HOST PORT SECONDS", file=sys.stderr)
        return 2
    host, port, delay = argv[0], int(argv[1]), float(argv[2])
    sock = socket.create_connection((host, port), timeout=30)
    sock.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def to_host(data: bytes) -> None:
        sock.sendall(data)

    def to_client(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view):]

    def from_host() -> bytes:
        try:
            return sock.recv(CHUNK)
        except OSError:
            return b""

    def upstream() -> None:
        relay(lambda: os.read(stdin, CHUNK), to_host, delay)
        try:
            sock.shutdown(socket.SHUT_WR)  # the client is done: the host sees the end, then closes its side
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    relay(from_host, to_client, delay)  # the host closing ends the link
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
