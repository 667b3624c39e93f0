"""Signed checkpoints of the audit chain, appended to a file outside the database.

A checkpoint is one JSON line ``{"seq", "hash", "at", "host", "pid", "sig"}``; ``sig`` is the Ed25519
signature (key derived from REGISTRY_AUDIT_KEY) of the canonical JSON of the other fields, so anyone
with the public key alone can check it. Lines are written only after the transaction holding the
entries they cover has committed (a rolled-back entry is never checkpointed), each with one
``write(2)`` on an ``O_APPEND`` descriptor under ``flock``, so several workers and processes may share
the file. A process checkpoints when its commit crosses a multiple of REGISTRY_AUDIT_CHECKPOINT_EVERY
(each multiple is crossed by exactly one commit, whichever worker made it) and, through a timer, at
most REGISTRY_AUDIT_CHECKPOINT_SECONDS after any other commit of entries.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from registry.app_state import app_object
from registry.audit.keys import AuditKeys, verify_signature
from registry.settings import Settings, app_settings

PENDING = "registry.audit.pending"


def app_keys(app: Flask | None = None) -> AuditKeys:
    """Return the audit keys of the current (or given) app."""
    return app_object("registry.audit_keys", AuditKeys, _make_keys, app)


def _make_keys(app: Flask) -> AuditKeys:
    return AuditKeys(app_settings(app).audit_key.encode("utf-8"))


def _message(doc: dict[str, Any]) -> bytes:
    body = {k: doc[k] for k in ("seq", "hash", "at", "host", "pid")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def make_line(keys: AuditKeys, seq: int, digest: str) -> str:
    """Return one signed checkpoint line (with its newline)."""
    doc: dict[str, Any] = {
        "seq": int(seq),
        "hash": digest,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    doc["sig"] = keys.sign(_message(doc))
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def append_line(path: str, line: str) -> None:
    """Append one line atomically with respect to other writers (O_APPEND, flock, one write, fsync)."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            data = line.encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):  # a full disk: say so rather than leave half a line unnoticed
                raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass
class Checkpoint:
    """One line of the checkpoint file, and whether its signature held."""

    line: int
    seq: int
    hash: str
    at: str
    valid: bool
    problem: str | None = None


def read_checkpoints(path: str, public_key: Ed25519PublicKey) -> Iterator[Checkpoint]:
    """Yield every checkpoint of the file with its signature checked (a missing file yields nothing)."""
    try:
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except FileNotFoundError:
        return
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
                seq, digest, at = int(doc["seq"]), str(doc["hash"]), str(doc["at"])
                ok = verify_signature(public_key, _message(doc), str(doc["sig"]))
            except (ValueError, KeyError, TypeError) as exc:
                yield Checkpoint(number, 0, "", "", False, f"line {number} is not a checkpoint: {exc}")
                continue
            problem = None if ok else f"line {number} (seq {seq}) has a signature that does not verify"
            yield Checkpoint(number, seq, digest, at, ok, problem)


class _ProcessState:
    """What this process committed and checkpointed, per checkpoint file."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.committed: dict[str, tuple[int, str]] = {}
        self.checkpointed: dict[str, int] = {}
        self.last_time: dict[str, float] = {}
        self.keys: dict[str, AuditKeys] = {}
        self.timers: dict[str, threading.Timer] = {}


_state = _ProcessState()


def write_checkpoint(path: str, keys: AuditKeys, seq: int, digest: str) -> None:
    """Sign and append a checkpoint of ``seq``/``digest`` (committed entries only)."""
    append_line(path, make_line(keys, seq, digest))
    with _state.lock:
        _state.checkpointed[path] = max(seq, _state.checkpointed.get(path, 0))
        _state.last_time[path] = time.monotonic()


def _flush(path: str) -> None:
    with _state.lock:
        _state.timers.pop(path, None)
        committed = _state.committed.get(path)
        done = _state.checkpointed.get(path, 0)
        keys = _state.keys.get(path)
    if committed is not None and keys is not None and committed[0] > done:
        try:
            write_checkpoint(path, keys, *committed)
        except OSError:
            # Logged, and retried by the next commit or `registry audit checkpoint` from cron.
            logging.getLogger(__name__).exception("could not write audit checkpoint to %s", path)


def _flush_all() -> None:
    for path in list(_state.committed):
        _flush(path)


atexit.register(_flush_all)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending is None:
        return
    try:
        _checkpoint_after_commit(*pending)
    except OSError:
        # The entries are committed: a checkpoint that could not be written must not turn the request
        # into an error. The next crossing, the timer or `registry audit checkpoint` writes one.
        logging.getLogger(__name__).exception("could not write an audit checkpoint")


def _checkpoint_after_commit(before: int, seq: int, digest: str, settings: Settings, keys: AuditKeys) -> None:
    path = settings.audit_checkpoints
    every = settings.audit_checkpoint_every
    with _state.lock:
        last = _state.committed.get(path)
        if last is None or seq > last[0]:
            _state.committed[path] = (seq, digest)
        _state.keys[path] = keys
        first = path not in _state.last_time
        stale = time.monotonic() - _state.last_time.get(path, 0.0) >= settings.audit_checkpoint_seconds > 0
    if before // every != seq // every or before == 0 or first or stale:
        write_checkpoint(path, keys, seq, digest)
        return
    delay = float(settings.audit_checkpoint_seconds)
    if delay > 0:
        with _state.lock:
            if path not in _state.timers:
                timer = threading.Timer(delay, _flush, args=(path,))
                timer.daemon = True
                _state.timers[path] = timer
                timer.start()


def _after_rollback(session: Session) -> None:
    # The entries went with the transaction: nothing to checkpoint.
    session.info.pop(PENDING, None)


def note_append(session: Session, before: int, seq: int, digest: str) -> None:
    """Remember, for after the commit, that this transaction moved the chain from ``before`` to ``seq``."""
    pending = session.info.get(PENDING)
    start = pending[0] if pending is not None else before
    # The settings and keys go along: the commit may happen where no app context is current.
    session.info[PENDING] = (start, seq, digest, app_settings(), app_keys())


def init_app(app: Flask) -> None:
    """Hook checkpointing into every session's commit and rollback (once per process)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
