"""``registry serve``: gunicorn with the check index preloaded in the master, and buffering threaded workers.

The master builds the app (a bad setting fails before any worker starts) and, with
``REGISTRY_CHECK_PRELOAD``, the check index, then forks workers that share it and catch up with the ban
log before taking traffic. Each worker reads a request in its event loop until it has fully arrived
(``BufferingThreadWorker``), so slow clients hold no thread. Metrics go through a multiprocess folder,
and requests gunicorn cannot parse are refused in the service's JSON error shape.
"""

from __future__ import annotations

import gc
import json
import os
import re
import selectors
import threading
import time
from collections import deque
from functools import partial
from typing import Any

import click
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

# A request must arrive whole (headers and a Content-Length body) within this many seconds of its
# first byte, and a chunked or 100-continue body may pause this long between reads.
DEFAULT_READ_TIMEOUT = 10
DEFAULT_THREADS = 4
# Headers beyond this are handed to gunicorn's parser as they are: it refuses them (431/400).
_MAX_BUFFERED_HEAD = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,12})[ \t]*\r\n", re.IGNORECASE)
_CHUNKED_OR_CONTINUE = re.compile(
    rb"\r\n(?:transfer-encoding:[^\r\n]*chunked|expect:[ \t]*100-continue)", re.IGNORECASE
)


class _BufferedSocket:
    """A client socket whose first reads return bytes the event loop already received."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.buffer = bytearray()

    def recv(self, size: int, *args: Any) -> bytes:
        if self.buffer:
            chunk = bytes(self.buffer[:size])
            del self.buffer[:size]
            return chunk
        return bytes(self._sock.recv(size, *args))

    def raw(self) -> Any:
        return self._sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def request_complete(data: bytes | bytearray, max_body: int) -> bool:
    """Tell whether ``data`` holds a request gunicorn can read without waiting on the client.

    True once the headers are in and, for a Content-Length body, the whole body; a chunked or
    100-continue body (it cannot or will not arrive before the app answers) and anything oversized are
    handed over at the end of the headers, to be read with a socket timeout.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > _MAX_BUFFERED_HEAD
    head = bytes(data[: end + 2])
    if _CHUNKED_OR_CONTINUE.search(head):
        return True
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    return length > max_body or len(data) - (end + 4) >= length


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, reading each request in its event loop before a thread takes it.

    gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives, and the
    thread then blocks until the rest comes: a few clients sending half a request hold every thread
    (sync workers are worse: one such client holds a whole worker). Here the event loop reads without
    blocking until the request is complete (the way nginx buffers in front of an app server), so
    threads only ever run requests that are ready; a request not complete within the read timeout is
    dropped. No library does this for gunicorn; an evented worker (gevent) would need psycopg2 and the
    check index's locks patched as well.
    """

    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_body: int = 1024 * 1024

    def init_process(self) -> None:
        self._reading: deque[tuple[float, Any]] = deque()
        super().init_process()

    def accept(self, server: Any, listener: Any) -> None:
        try:
            sock, client = listener.accept()
        except OSError:
            return
        from gunicorn.workers.gthread import TConn

        conn = TConn(self.cfg, sock, client, server)
        conn.sock = _BufferedSocket(conn.sock)
        self.nr_conns += 1
        self._start_reading(conn)

    def _start_reading(self, conn: Any) -> None:
        conn.read_deadline = time.monotonic() + self.read_timeout
        with self._lock:
            self._reading.append((conn.read_deadline, conn))
            self.poller.register(conn.sock.raw(), selectors.EVENT_READ, partial(self._on_readable, conn))

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        # A kept-alive connection sent something: read its next request the same way.
        with self._lock:
            self.poller.unregister(client)
            try:
                self._keep.remove(conn)
            except ValueError:
                return
        # The next request is nearly always all there already: read it now rather than registering
        # the socket and taking another turn of the event loop (and the lock) to find it readable.
        conn.read_deadline = time.monotonic() + self.read_timeout
        state = self._receive(conn)
        if state is None:
            self._drop(conn)
        elif state:
            conn.read_deadline = None
            self.enqueue_req(conn)
        else:
            self._start_reading(conn)

    def _receive(self, conn: Any) -> bool | None:
        """Read what has arrived; True once the request is complete, False to wait, None if closed."""
        try:
            chunk = conn.sock.raw().recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""
        if not chunk:
            return None
        conn.sock.buffer += chunk
        return request_complete(conn.sock.buffer, self.max_body)

    def _on_readable(self, conn: Any, client: Any) -> None:
        state = self._receive(conn)
        if state is None:
            self._drop(conn)
        elif state:
            with self._lock:
                self.poller.unregister(conn.sock.raw())
            conn.read_deadline = None
            self.enqueue_req(conn)

    def enqueue_req(self, conn: Any) -> None:
        conn.init()
        # Only a chunked or 100-continue body is still read from the thread: bound each wait.
        conn.sock.raw().settimeout(self.read_timeout)
        fs = self.tpool.submit(self.handle, conn)
        self._wrap_future(fs, conn)

    def _drop(self, conn: Any) -> None:
        conn.read_deadline = None
        with self._lock:
            try:
                self.poller.unregister(conn.sock.raw())
            except (KeyError, ValueError, OSError):
                pass
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._reading or self._reading[0][0] > now:
                    break
                deadline, conn = self._reading.popleft()
            if conn.read_deadline == deadline:
                self._drop(conn)

    def finish_request(self, fs: Any) -> None:
        conn = fs.conn
        try:
            conn.sock.raw().settimeout(None)
        except OSError:
            pass
        super().finish_request(fs)
        # finish_request registered a kept-alive connection on the wrapper; the selector keys by fd,
        # so that is the same registration as the raw socket's.


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from registry import create_app

        app = create_app()
        if self.options.get("preload_app"):
            # Built once here, before fork: the workers share the index pages copy-on-write.
            from registry.check.index import warm
            from registry.extensions import db

            warm(app)
            with app.app_context():
                # No pooled connection may cross the fork: each worker opens its own.
                db.engine.dispose()
            # Move everything built so far out of the collector's reach: a full collection in a worker
            # would otherwise walk (and, writing GC headers, un-share) the whole index.
            gc.freeze()
        return app


def _warm_worker(worker: Any) -> None:
    """Build (or, when preloaded, catch up) the worker's check index before it accepts connections."""
    from registry.check.index import warm

    # The arbiter kills a worker silent for --timeout seconds, and a build of a large index takes
    # longer than that: keep telling it this worker is alive while it builds.
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(1.0):
            worker.notify()

    beat = threading.Thread(target=heartbeat, name="warm-heartbeat", daemon=True)
    beat.start()
    try:
        warm(worker.wsgi)
    finally:
        done.set()
        beat.join()
    # The index lives as long as the worker: keep full collections from walking it.
    gc.freeze()


def _worker_exited(_arbiter: Any, worker: Any) -> None:
    """Fold a dead worker's metric files into the totals (prometheus_client multiprocess mode)."""
    from registry.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's refusal of an unparseable request as the service's JSON error, not HTML."""
    # Request line or headers too large, malformed request line: refused before the app sees it.
    from registry.errors import error_body

    body = json.dumps(error_body(status_int, mesg or reason)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin1") + body)


def run(
    *,
    host: str,
    port: int,
    workers: int,
    timeout: int,
    threads: int = DEFAULT_THREADS,
    read_timeout: int = DEFAULT_READ_TIMEOUT,
) -> None:
    """Start gunicorn in the foreground."""
    from registry.metrics import prepare_multiprocess, remove_directory

    # gunicorn's worker calls util.write_error for requests it cannot parse; make those JSON too.
    gunicorn_util.write_error = _write_json_error
    # Workers are processes: metrics go through files that /metrics aggregates across them.
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        directory = prepare_multiprocess(chosen)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        _run(host, port, workers, timeout, threads, read_timeout)
    finally:
        if not chosen:
            remove_directory(directory)


def _run(host: str, port: int, workers: int, timeout: int, threads: int, read_timeout: int) -> None:
    # Build the app once in the parent so a bad setting fails before any worker starts.
    from registry import create_app
    from registry.settings import app_settings

    settings = app_settings(create_app())
    BufferingThreadWorker.read_timeout = float(read_timeout)
    BufferingThreadWorker.max_body = int(settings.max_body_bytes)
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": BufferingThreadWorker,
            "threads": threads,
            "keepalive": 5,
            "timeout": timeout,
            "graceful_timeout": timeout,
            "accesslog": "-",
            # Only method, path, status and time: query strings and bodies may carry identifiers.
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s',
            "preload_app": bool(settings.check_preload),
            "post_worker_init": _warm_worker,
            "child_exit": _worker_exited,
        }
    ).run()
