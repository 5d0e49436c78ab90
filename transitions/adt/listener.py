"""The MLLP listener: HL7 v2 frames over TCP (start 0x0B, end 0x1C 0x0D) through the hl7 library's asyncio server,
each stored and applied in a worker thread, answered with its ACK on the same connection; in one process or several
sharing one listening socket (ADT_LISTENER_PROCESSES), since storing and applying a message is mostly Python.

No frame, connection or database failure ends the process: a frame over MAX_FRAME is refused (AR) and its connection
closed, as the stream cannot be trusted past it; a connection silent (or stuck in half a frame) for idle_timeout
seconds is closed; bytes outside a frame are skipped; a database failure closes the connection unanswered, so the
sender retries the same message later (a repeat is answered again and changes nothing).
"""

import asyncio
import logging
import os
import signal
import socket
from asyncio import IncompleteReadError, LimitOverrunError

from hl7.mllp import start_hl7_server
from sqlalchemy import event

from transitions.adt import commands, hl7v2
from transitions.core.clock import utcnow
from transitions.core.db import db

log = logging.getLogger(__name__)

START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
MAX_FRAME = 1024 * 1024
IDLE_TIMEOUT = 60.0
# Tests only: the crash-proof tests set it to make the process SIGKILL itself at one point of a message's handling,
# "after-store" (the raw message committed, nothing applied) or "before-ack" (applied and committed, ACK unsent).
FAULT_ENV = "TRANSITIONS_ADT_TEST_FAULT"
FAULTS = ("after-store", "before-ack")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def frame(data):
    return START_BLOCK + data + END_BLOCK


def handle_frame(app, raw, fault=None):
    """Store, apply and answer one message in a worker thread; None when the database failed (no ACK: retry)."""
    with app.app_context():
        if fault == "after-store":
            # The first real commit of a message is its stored row's (service.receive): die right after it. A
            # savepoint's release is an after_commit too; it commits nothing yet.
            event.listen(db.session(), "after_commit", lambda session: session.in_nested_transaction() or die())
        try:
            answer = commands.receive_from_listener(raw, utcnow())
            return answer.ack.encode("utf-8")
        except Exception:
            log.exception("ADT message not stored or not applied; closing the connection unanswered")
            db.session.rollback()
            return None
        finally:
            db.session.remove()


def refusal_ack(reason):
    refusal = hl7v2.Refusal("AR", None, hl7v2.APPLICATION_ERROR, reason)
    return hl7v2.ack(None, "AR", None, utcnow(), refusal).encode("utf-8")


class Listener:
    def __init__(self, app, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, fault=None):
        self.app = app
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.fault = fault

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
            block = await asyncio.wait_for(reader.readuntil(END_BLOCK), self.idle_timeout)
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
        ack = await asyncio.to_thread(handle_frame, self.app, block[start + 1 : -len(END_BLOCK)], self.fault)
        if ack is None:
            return False
        if self.fault == "before-ack":
            die()
        writer.write(frame(ack))
        await writer.drain()
        return True


async def serve(app, listening, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, echo=None):
    """Answer connections on the bound socket until SIGTERM or SIGINT."""
    fault = os.environ.get(FAULT_ENV)
    listener = Listener(app, idle_timeout, max_frame, fault if fault in FAULTS else None)
    # limit: the most a frame may hold before its end block is found; past it, LimitOverrunError.
    server = await start_hl7_server(listener.connection, sock=listening, limit=max_frame)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if echo is not None:
        bound = listening.getsockname()
        echo("ADT MLLP listener on %s:%d" % (bound[0], bound[1]))
    async with server:
        await stop.wait()


def bind(host, port):
    """The listening socket, bound before any process starts (port 0 picks a free port once, for all of them)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    listening = socket.create_server((host, port), family=family, backlog=512)
    listening.setblocking(False)
    return listening


def run(app, host, port, idle_timeout=IDLE_TIMEOUT, max_frame=MAX_FRAME, echo=print, processes=None):
    """Listen until SIGTERM or SIGINT, in `processes` processes sharing one socket (setting ADT_LISTENER_PROCESSES,
    default 1): one process runs its Python on one core at a time, and storing and applying a message is mostly
    Python, so a second process is what uses a second core. The first process forwards its stop to the others."""
    processes = processes or app.config["ADT_LISTENER_PROCESSES"]
    listening = bind(host, port)
    children = []
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:  # a worker: its own event loop, threads and database connections (none are inherited)
            status = 1
            try:
                with app.app_context():
                    db.engine.dispose(close=False)
                asyncio.run(serve(app, listening, idle_timeout, max_frame))
                status = 0
            except BaseException:
                log.exception("ADT MLLP listener process %d failed", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    if processes > 1:
        echo("ADT MLLP listener: %d processes" % processes)
    try:
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
