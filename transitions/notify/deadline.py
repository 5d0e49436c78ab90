"""A hard wall-clock deadline for one outbound call (a webhook post now, a mail later), whatever the peer does.

Socket timeouts bound each read, not the call: a peer answering one byte every few seconds, or a name that takes
long to resolve, holds a call for as long as it likes. `call` runs the call in a worker thread and waits until the
deadline. Every socket the call opens is `adopt`ed (the connection classes do it right after connecting): when the
deadline passes, the waiting side shuts those sockets down, which ends any blocked read or write at once, and a
socket opened later (a worker that was still resolving a name) is closed before a byte is sent. So nothing of the
call goes out after its deadline: a lease on the work that outlasts the deadline is never outlived by the call.
"""

import socket
import threading
import time


class DeadlineExceeded(Exception):
    """The call did not finish by its deadline; whatever it was doing has been cut off."""


class Deadline:
    """One call's deadline (a time.monotonic() value) and duplicates of the sockets it opened, to shut them down."""

    def __init__(self, expires_at):
        self.expires_at = expires_at
        self.missed = False
        self._lock = threading.Lock()
        self._sockets = []

    def remaining(self):
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - time.monotonic())

    def adopt(self, sock):
        """Bind a newly connected socket to the deadline; past it, close the socket and raise instead."""
        with self._lock:
            if self.missed or self.remaining() <= 0:
                sock.close()
                raise DeadlineExceeded("the deadline passed before the connection was made")
            # A duplicate descriptor of the same connection: shutting it down ends the call's reads and writes even
            # once TLS has wrapped (and detached) the socket object, and it is ours to close, never reused under us.
            self._sockets.append(sock.dup())

    def miss(self):
        """The deadline passed: refuse sockets from now on and shut down the open ones."""
        with self._lock:
            self.missed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer or the call
            sock.close()

    def release(self):
        """The call is over: close the duplicates (the call closes its own sockets)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


_local = threading.local()


def current():
    """The deadline of the call running in this thread, or None outside `call`."""
    return getattr(_local, "deadline", None)


def adopt(sock):
    """Bind a newly connected socket to the current call's deadline, if this thread runs one (else nothing)."""
    deadline = current()
    if deadline is not None:
        deadline.adopt(sock)


def call(expires_at, function, *args):
    """function(*args) in a worker thread: what it returns or raises, or DeadlineExceeded at expires_at (monotonic).

    The worker thread is a daemon and may outlive a missed deadline while the OS finishes a name lookup (those
    cannot be interrupted), but it can no longer send anything: its sockets are shut down and new ones refused.
    """
    deadline = Deadline(expires_at)
    finished = threading.Event()
    result = {}

    def work():
        _local.deadline = deadline
        try:
            result["value"] = function(*args)
        except BaseException as error:  # handed to the waiting thread, which re-raises it
            result["error"] = error
        finally:
            _local.deadline = None
            deadline.release()
            finished.set()

    threading.Thread(target=work, name="outbound-call", daemon=True).start()
    if not finished.wait(deadline.remaining()):
        deadline.miss()
        raise DeadlineExceeded("no complete answer by the deadline")
    if "error" in result:
        raise result["error"]
    return result["value"]
