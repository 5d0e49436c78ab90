"""The MLLP listener: HL7 v2 frames over TCP (start 0x0B, end 0x1C 0x0D) through the hl7 library's asyncio server,
answered with its ACK on the same connection; in one process or several sharing one listening socket
(ADT_LISTENER_PROCESSES), since storing and applying a message is mostly Python. Each process groups commits
(Batcher, batch.py): a store thread stores the frames queued from all its connections in one commit, an apply thread
applies the stored batches in one transaction and then answers them; a connection has one frame in flight at a time.

No frame, connection or database failure ends the process: a frame over MAX_FRAME is refused (AR) and its connection
closed, as the stream cannot be trusted past it; a connection silent (or stuck in half a frame) for idle_timeout
seconds is closed; bytes outside a frame are skipped; a database failure closes the connection unanswered, so the
sender retries the same message later (a repeat is answered again and changes nothing).
"""

import asyncio
import collections
import logging
import os
import select
import signal
import socket
import threading
import time
from asyncio import IncompleteReadError, LimitOverrunError
from contextlib import contextmanager

from flask_sqlalchemy.session import Session as FlaskSession
from hl7.mllp import start_hl7_server
from sqlalchemy import event

from transitions.adt import commands, hl7v2
from transitions.core.clock import utcnow
from transitions.core.db import db

log = logging.getLogger(__name__)

START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
MAX_FRAME = 1024 * 1024
IDLE_TIMEOUT = 60.0
# How long the first process waits for the others to serve before it says it listens with fewer.
CHILDREN_START_TIMEOUT = 30.0
# A worker's connection unused this long is given back to the pool, which pings it before the next batch.
HOLD_IDLE = 5.0
# Tests only: the crash-proof tests set it to make the process SIGKILL itself at one point of a message's handling,
# "after-store" (the raw message committed, nothing applied) or "before-ack" (applied and committed, ACK unsent).
FAULT_ENV = "TRANSITIONS_ADT_TEST_FAULT"
FAULTS = ("after-store", "before-ack")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def frame(data):
    return START_BLOCK + data + END_BLOCK


class SessionOnConnection(FlaskSession):
    """Flask-SQLAlchemy's session on one given connection (its own get_bind would take the app's engine)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind


@contextmanager
def batch_session(app, connection=None, fault=None):
    """An app context whose db.session uses the given connection (a worker keeps one across batches) and owns its
    transactions, so each commit is a real commit; the app's pool when None."""
    with app.app_context():
        if connection is not None:
            db.session.registry.set(
                SessionOnConnection(db=db, bind=connection, join_transaction_mode="control_fully", query_cls=db.Query)
            )
        if fault == "after-store":
            # The first real commit of a batch is its stored rows' (store_batch): die right after it. A savepoint's
            # release is an after_commit too; it commits nothing yet.
            event.listen(db.session(), "after_commit", lambda session: session.in_nested_transaction() or die())
        try:
            yield
        finally:
            db.session.remove()


def store_batch(app, frames, fault=None, connection=None):
    """The frames that arrived together ([(raw, arrival time)]) stored in one commit: [batch.Item]; an item that is
    done already has its ACK (None: no answer, its sender retries)."""
    with batch_session(app, connection, fault):
        return commands.store_from_listener(frames)


def apply_batch(app, items, connection=None):
    """Stored items (of one store_batch or several) applied in one transaction; sets each one's ACK."""
    with batch_session(app, connection):
        try:
            commands.apply_from_listener(items)
        except Exception:  # apply_from_listener answers None itself; this is the last guard
            log.exception("ADT messages not applied; closing their connections unanswered")
            for item in items:
                if not item.done:
                    item.ack, item.done = None, True


def encoded(ack):
    return None if ack is None else ack.encode("utf-8")


def handle_batch(app, frames, fault=None):
    """Store, then apply and answer the frames that arrived together, in this thread: [ACK bytes, or None for a
    message not stored or not applied (no ACK: its sender retries)]."""
    try:
        items = store_batch(app, frames, fault)
    except Exception:
        log.exception("ADT messages not stored; closing their connections unanswered")
        return [None] * len(frames)
    apply_batch(app, items)
    return [encoded(item.ack) for item in items]


def handle_frame(app, raw, fault=None):
    """One message alone (a batch of one): its ACK bytes, or None when the database failed. The listener never calls
    it; bench/adt.py measures one message's statements and CPU through it."""
    return handle_batch(app, [(raw, utcnow())], fault)[0]


class HeldConnection:
    """One connection a worker thread keeps across batches (no pool checkin reset and checkout ping per batch; the
    driver keeps its prepared statements); dropped after any failure and after HOLD_IDLE seconds unused, so the
    next batch takes one from the pool, which pings it first."""

    def __init__(self, app):
        self.app, self.connection, self.last_used = app, None, 0.0

    def get(self):
        if self.connection is not None and (
            self.connection.closed or self.connection.invalidated or time.monotonic() - self.last_used > HOLD_IDLE
        ):
            self.drop()
        if self.connection is None:
            with self.app.app_context():
                self.connection = db.engine.connect()
        self.last_used = time.monotonic()
        return self.connection

    def drop(self):
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: S110 - it is broken already; the pool replaces it
                pass


class Batcher:
    """Group commit in two steps, each its own thread and connection, so one batch is stored while the one before
    is applied: the store thread takes every frame queued (from any connection) while it was busy, or arriving within
    `window` seconds of the first, up to `max_batch`, and stores them in one commit (store_batch); the apply thread
    takes every stored batch waiting, up to `max_batch` frames, applies them in one transaction (apply_batch) and
    answers each. A connection awaits its own frame's ACK, so it has one frame in flight at a time."""

    def __init__(self, app, fault=None, window=0.0, max_batch=64):
        self.app, self.fault, self.window, self.max_batch = app, fault, window, max_batch
        self.frames, self.stored = collections.deque(), collections.deque()
        lock = threading.Lock()
        # Two conditions on one lock: a new frame wakes the store thread only, a stored batch the apply thread only.
        self.frames_ready, self.stored_ready = threading.Condition(lock), threading.Condition(lock)
        self.stopping = False
        self.storing = False  # the store thread holds frames it has not handed on yet
        self.threads = [
            threading.Thread(target=self._store_work, name="adt-store", daemon=True),
            threading.Thread(target=self._apply_work, name="adt-apply", daemon=True),
        ]

    def start(self):
        for thread in self.threads:
            thread.start()

    async def handle(self, raw):
        """The frame's ACK bytes (None: not stored or not applied), once its batch is committed."""
        loop = asyncio.get_running_loop()
        answered = loop.create_future()
        with self.frames_ready:
            self.frames.append((raw, utcnow(), loop, answered))
            self.frames_ready.notify()
        return await answered

    def stop(self, timeout=30):
        """Finish the batches under way and whatever is queued, then end the threads (and their connections)."""
        with self.frames_ready:
            self.stopping = True
            self.frames_ready.notify_all()
            self.stored_ready.notify_all()
        for thread in self.threads:
            thread.join(timeout)

    def _take_frames(self):
        with self.frames_ready:
            while not self.frames and not self.stopping:
                self.frames_ready.wait()
            if self.window and len(self.frames) < self.max_batch:
                deadline = time.monotonic() + self.window
                while len(self.frames) < self.max_batch and not self.stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.frames_ready.wait(left)
            self.storing = bool(self.frames)
            return [self.frames.popleft() for _ in range(min(len(self.frames), self.max_batch))]

    def _store_work(self):
        held = HeldConnection(self.app)
        try:
            while True:
                batch = self._take_frames()
                if not batch:
                    return  # stopping, nothing left
                try:
                    items = store_batch(self.app, [(raw, now) for raw, now, _, _ in batch], self.fault, held.get())
                except BaseException:  # store_batch answers None itself; this is the last guard of the thread
                    log.exception("ADT batch not stored")
                    items = None
                if items is None or any(item.done and item.ack is None for item in items):
                    held.drop()
                if items is None:
                    _answer_all([(loop, answered, None) for _, _, loop, answered in batch])
                    with self.stored_ready:
                        self.storing = False
                        self.stored_ready.notify()
                    continue
                done = [
                    (loop, answered, encoded(item.ack))
                    for (_, _, loop, answered), item in zip(batch, items, strict=True)
                    if item.done
                ]
                waiting = [
                    (item, loop, answered)
                    for (_, _, loop, answered), item in zip(batch, items, strict=True)
                    if not item.done
                ]
                _answer_all(done)
                with self.stored_ready:
                    self.stored.extend(waiting)
                    self.storing = False
                    self.stored_ready.notify()
        finally:
            held.drop()

    def _take_stored(self):
        with self.stored_ready:
            while not self.stored and not (self.stopping and not self.frames and not self.storing):
                self.stored_ready.wait()
            return [self.stored.popleft() for _ in range(min(len(self.stored), self.max_batch))]

    def _apply_work(self):
        held = HeldConnection(self.app)
        try:
            while True:
                batch = self._take_stored()
                if not batch:
                    return  # stopping, nothing left
                items = [item for item, _, _ in batch]
                try:
                    apply_batch(self.app, items, held.get())
                except BaseException:  # apply_batch answers None itself; this is the last guard of the thread
                    log.exception("ADT batch not applied")
                    for item in items:
                        item.ack = None
                if any(item.ack is None for item in items):
                    held.drop()
                _answer_all([(loop, answered, encoded(item.ack)) for item, loop, answered in batch])
        finally:
            held.drop()


def _answer_all(answers):
    """Hand each frame its ACK, with one wake-up of each event loop per batch (not one per frame)."""
    by_loop = {}
    for loop, answered, ack in answers:
        by_loop.setdefault(loop, []).append((answered, ack))
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_answer, results)
        except RuntimeError:  # the loop is closed: the listener stopped, the connections with it
            pass


def _answer(results):
    for answered, ack in results:
        if not answered.done():
            answered.set_result(ack)


def refusal_ack(reason):
    refusal = hl7v2.Refusal("AR", None, hl7v2.APPLICATION_ERROR, reason)
    return hl7v2.ack(None, "AR", None, utcnow(), refusal).encode("utf-8")


class Listener:
    def __init__(self, app, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, fault=None, batcher=None):
        self.app = app
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.fault = fault
        self.batcher = batcher

    async def connection(self, reader, writer):
        peer = writer.get_extra_info("peername")
        try:
            while await self._one_frame(reader, writer, peer):
                pass
        except Exception:  # never let one connection take the listener down
            log.exception("MLLP connection from %s failed", peer)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:  # noqa: S110 - the peer may have gone already
                pass

    async def _one_frame(self, reader, writer, peer):
        """Read, answer one frame; False when the connection is to close."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                block = await reader.readuntil(END_BLOCK)
        except TimeoutError:
            log.info("MLLP connection from %s idle for %ss: closed", peer, self.idle_timeout)
            return False
        except IncompleteReadError as error:
            if error.partial.strip():
                log.warning(
                    "MLLP connection from %s closed in the middle of a frame (%d bytes)", peer, len(error.partial)
                )
            return False
        except LimitOverrunError:
            log.warning("MLLP frame from %s over %d bytes: refused, connection closed", peer, self.max_frame)
            writer.write(frame(refusal_ack("The frame is over %d bytes." % self.max_frame)))
            await writer.drain()
            return False
        start = block.rfind(START_BLOCK)
        if start < 0:
            log.warning("MLLP: %d bytes from %s outside any frame skipped", len(block), peer)
            return True
        if start > 0:
            log.warning("MLLP: %d bytes from %s before a frame skipped", start, peer)
        ack = await self.batcher.handle(block[start + 1 : -len(END_BLOCK)])
        if ack is None:
            return False
        if self.fault == "before-ack":
            die()
        writer.write(frame(ack))
        await writer.drain()
        return True


async def serve(app, listening, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, echo=None, ready=None):
    """Answer connections on the bound socket until SIGTERM or SIGINT; ready() is called once it accepts them."""
    fault = os.environ.get(FAULT_ENV)
    fault = fault if fault in FAULTS else None
    batcher = Batcher(app, fault, app.config["ADT_BATCH_WINDOW_MS"] / 1000.0, max(1, int(app.config["ADT_BATCH_MAX"])))
    batcher.start()
    listener = Listener(app, idle_timeout, max_frame, fault, batcher)
    # limit: the most a frame may hold before its end block is found; past it, LimitOverrunError.
    server = await start_hl7_server(listener.connection, sock=listening, limit=max_frame)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready()
    if echo is not None:
        bound = listening.getsockname()
        echo("ADT MLLP listener on %s:%d" % (bound[0], bound[1]))
    async with server:
        await stop.wait()
    # The batch under way commits and its connections get their ACKs (the loop runs while the thread finishes).
    await asyncio.to_thread(batcher.stop)


def bind(host, port, reuse_port=False):
    """A listening socket (port 0 picks a free port). With reuse_port, each process binds its own socket to the same
    port (SO_REUSEPORT) and the kernel spreads new connections over them: sharing one socket, the process that woke
    first accepted a whole burst of connections (asyncio accepts up to its backlog at once) and the others idled."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    listening = socket.create_server((host, port), family=family, backlog=512, reuse_port=reuse_port)
    listening.setblocking(False)
    return listening


def _exit_on_sigterm(signum, frame):
    raise SystemExit(0)


def _tell_ready(ready_write):
    """A worker's word that it serves: one byte on the pipe, then its end closed, so the first process sees the end
    of the pipe once every worker has answered or died. The first process may have stopped waiting already."""
    try:
        os.write(ready_write, b"+")
    except OSError:
        pass
    finally:
        os.close(ready_write)


def wait_for_children(ready_read, expected, timeout):
    """How many of the expected worker processes said they serve (one byte each on the pipe) within timeout; a worker
    that fails before serving closes its end of the pipe unwritten (it exits), so the wait ends as soon as every
    worker has either answered or died."""
    started = 0
    deadline = time.monotonic() + timeout
    while started < expected:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([ready_read], [], [], remaining)[0]:
            break
        chunk = os.read(ready_read, expected)
        if not chunk:
            break
        started += len(chunk)
    return started


def run(app, host, port, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, echo=print, processes=None):
    """Listen until SIGTERM or SIGINT, in `processes` processes on one port (setting ADT_LISTENER_PROCESSES, default
    1), each with its own socket (bind's reuse_port): one process runs its Python on one core at a time, and storing
    and applying a message is mostly Python, so a second process is what uses a second core. The first process binds
    first (port 0 picks the port all of them take) and forwards its stop to the others. The line "ADT MLLP listener
    on" is printed once every process serves: before that, the kernel hands new connections only to the sockets
    already bound, so a burst sent on an early signal of readiness would all land on the first process."""
    processes = processes or app.config["ADT_LISTENER_PROCESSES"]
    listening = bind(host, port, reuse_port=processes > 1)
    children = []
    ready_read, ready_write = os.pipe()
    # Until the event loop takes SIGTERM over, it ends the process through the finally below (its workers stopped),
    # not at once with them left running on the port.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:  # a worker: its own event loop, threads, socket and database connections (none are inherited)
            status = 1
            try:
                os.close(ready_read)
                own = bind(host, listening.getsockname()[1], reuse_port=True)
                listening.close()
                with app.app_context():
                    db.engine.dispose(close=False)
                asyncio.run(serve(app, own, idle_timeout, max_frame, ready=lambda: _tell_ready(ready_write)))
                status = 0
            except SystemExit:  # stopped before it served (_exit_on_sigterm)
                status = 0
            except BaseException:
                log.exception("ADT MLLP listener process %d failed", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    os.close(ready_write)
    try:
        started = wait_for_children(ready_read, len(children), CHILDREN_START_TIMEOUT)
        os.close(ready_read)
        if processes > 1:
            if started < len(children):
                log.error("ADT MLLP listener: only %d of %d processes started", started + 1, processes)
            echo("ADT MLLP listener: %d processes" % (started + 1))
        asyncio.run(serve(app, listening, idle_timeout, max_frame, echo))
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            os.waitpid(pid, 0)
        listening.close()
    echo("ADT MLLP listener stopped")
