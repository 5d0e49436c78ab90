"""A hard deadline on every webhook attempt, against receivers that misbehave at the socket level.

Raw socket receivers (one that trickles its answer a byte a second, one that never answers) and pytest-httpserver
ones (a redirect, well-behaved endpoints) run in threads of the test; the delivery passes run in threads too, on a
database of their own, as two scheduler processes would. The deadline is short (1.5 s) and the per-read timeout
longer (5 s), so only the deadline can end the slow attempts.
"""

import socket
import ssl
import threading
import time
from datetime import timedelta

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from tests.api.test_webhooks import subscribe
from tests.support.followups import at, person, submit
from transitions import scheduler
from transitions.core.db import db
from transitions.notify import deadline, delivery
from transitions.notify.models import DeliveryAttempt, WebhookDelivery

DEADLINE = 1.5
# What a busy test machine may add to a deadline: thread wake-ups, the attempt's bookkeeping.
SLACK = 1.0
NOW = "2026-12-01T15:00:00Z"


class RawReceiver:
    """A TCP server that reads each request and then trickles its answer (a byte per `interval` seconds) or, with
    `answer` None, never answers. Records (arrival time, webhook-id) per request."""

    def __init__(self, answer=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", interval=1.0):
        self.answer, self.interval = answer, interval
        self.requests = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def webhook_ids(self):
        return [webhook_id for _, webhook_id in self.requests]

    def close(self):
        self.closed.set()
        self.listener.close()

    def _accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                head += chunk
            headers = dict(
                line.split(":", 1) for line in head.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:] if ":" in line
            )
            headers = {key.strip().lower(): value.strip() for key, value in headers.items()}
            self.requests.append((time.monotonic(), headers.get("webhook-id")))
            try:
                if self.answer is None:
                    while connection.recv(4096):  # until the sender hangs up
                        pass
                    return
                for byte in self.answer:
                    connection.sendall(bytes([byte]))
                    time.sleep(self.interval)
            except OSError:
                return  # the sender cut the connection at its deadline


def http_receiver(respond):
    server = HTTPServer(host="127.0.0.1", port=0)
    respond(server)
    server.start()
    return server


def ok(server):
    server.arrivals = []

    def record(request):
        server.arrivals.append(time.monotonic())
        return Response("ok")

    server.expect_request("/hook").respond_with_handler(record)


def redirect(server):
    server.expect_request("/hook").respond_with_data("", status=302, headers={"Location": server.url_for("/moved")})
    server.expect_request("/moved").respond_with_data("ok")


def configure(app, **extra):
    app.config.update(
        WEBHOOK_DEADLINE_SECONDS=DEADLINE,
        WEBHOOK_TIMEOUT_SECONDS=5,
        WEBHOOK_MAX_IN_FLIGHT=4,
        SCHEDULER_WEBHOOK_SECONDS=1,
    )
    app.config.update(extra)


def run_passes(app, nows, wait):
    """One delivery pass per `now`, all started together in threads; (seconds each took or None if still running
    after `wait` seconds, what each returned)."""
    scheduler.bind_app(app)
    barrier = threading.Barrier(len(nows))
    took, said = [None] * len(nows), [None] * len(nows)

    def run(index, now):
        barrier.wait()
        started = time.monotonic()
        said[index] = scheduler.run_job("deliver-webhooks", now)
        took[index] = time.monotonic() - started

    threads = [threading.Thread(target=run, args=(i, now), daemon=True) for i, now in enumerate(nows)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0, end - time.monotonic()))
    return took, said


def attempts_by_webhook(app):
    with app.app_context():
        rows = db.session.execute(
            select(WebhookDelivery.webhook_id, DeliveryAttempt)
            .join(DeliveryAttempt, DeliveryAttempt.delivery_id == WebhookDelivery.id)
            .order_by(DeliveryAttempt.attempted_at)
        ).all()
        by_webhook = {}
        for webhook_id, attempt in rows:
            by_webhook.setdefault(webhook_id, []).append((attempt.status_code, attempt.error, attempt.duration_ms))
        return by_webhook


def test_slow_receivers_end_by_the_deadline_and_hold_up_nobody_else(api, world, app):
    configure(app)
    trickle, silent = RawReceiver(interval=1.0), RawReceiver(answer=None)
    redirecting, fast, fast2 = http_receiver(redirect), http_receiver(ok), http_receiver(ok)
    try:
        hooks = {
            "trickle": subscribe(api, world, trickle.url)["id"],
            "silent": subscribe(api, world, silent.url)["id"],
            "redirect": subscribe(api, world, redirecting.url_for("/hook"))["id"],
            "fast": subscribe(api, world, fast.url_for("/hook"))["id"],
            "fast2": subscribe(api, world, fast2.url_for("/hook"))["id"],
        }
        for index in range(2):
            submit(api, world, patient=person(index))
        started = time.monotonic()
        [took], [said] = run_passes(app, [at(NOW)], wait=10 * DEADLINE)
        assert took is not None, "the delivery pass was still running after %g s" % (10 * DEADLINE)
        # Three slow endpoints and two good ones over four slots: the pass lasts about one deadline.
        assert took <= 2 * DEADLINE + SLACK, (took, said)
        assert "sent 7: 4 delivered, 3 to retry" in said

        # The good endpoints got both deliveries at once, not after the slow ones.
        for server in (fast, fast2):
            assert len(server.arrivals) == 2
            assert all(arrival - started <= DEADLINE for arrival in server.arrivals), (started, server.arrivals)
        fast_ids = [r.headers["webhook-id"] for server in (fast, fast2) for r, _ in server.log]
        attempts = attempts_by_webhook(app)
        for name in ("fast", "fast2"):
            assert [(code, error) for code, error, _ in attempts[hooks[name]]] == [(200, None), (200, None)]
            assert all(duration < DEADLINE * 1000 for _, _, duration in attempts[hooks[name]]), attempts[hooks[name]]

        # Each slow endpoint had one attempt, ended by the deadline, then was left alone for the run.
        for name in ("trickle", "silent"):
            [(code, error, duration)] = attempts[hooks[name]]
            assert code is None and error.startswith("timed out: no complete answer within the 1.5 s deadline")
            # The deadline counts from the claim, so the post itself may take a little less than all of it.
            assert DEADLINE * 1000 / 2 <= duration <= (DEADLINE + SLACK) * 1000, (name, duration)
        [(code, error, duration)] = attempts[hooks["redirect"]]
        assert code == 302 and error.startswith("redirect not followed") and duration < DEADLINE * 1000
        assert [request.path for request, _ in redirecting.log] == ["/hook"]
        assert len(trickle.requests) == len(silent.requests) == 1
        assert all(arrival - started <= DEADLINE for arrival, _ in trickle.requests + silent.requests), started

        ids = fast_ids + trickle.webhook_ids() + silent.webhook_ids()
        ids += [r.headers["webhook-id"] for r, _ in redirecting.log]
        assert len(ids) == len(set(ids)) == 7
    finally:
        trickle.close()
        silent.close()
        for server in (redirecting, fast, fast2):
            server.clear()
            server.stop()


def test_no_webhook_id_is_posted_twice_while_its_lease_is_live(api, world, app):
    """Two schedulers run at once; a third comes when the first attempts' leases have run out. Every attempt ended
    (and was recorded) inside its lease, so nobody posts a delivery again while it may still be in flight."""
    configure(app, WEBHOOK_RETRY_BASE_SECONDS=3600)
    trickle, silent = RawReceiver(interval=1.0), RawReceiver(answer=None)
    fast = http_receiver(ok)
    try:
        for url in (trickle.url, silent.url, fast.url_for("/hook")):
            subscribe(api, world, url)
        submit(api, world)
        took, said = run_passes(app, [at(NOW), at(NOW)], wait=2 * DEADLINE + SLACK)
        assert None not in took, "a delivery pass outlived two deadlines: %r" % (said,)
        # Ten minutes later every lease the passes above took is long over (checked at the end).
        later = at(NOW) + timedelta(minutes=10)
        [took_later], [said_later] = run_passes(app, [later], wait=2 * DEADLINE + SLACK)
        assert took_later is not None and "sent 0" in said_later
        # The two passes shared the three deliveries, each sent by one of them.
        assert sum(int(text.split("sent ")[1].split(":")[0]) for text in said) == 3, said
        for ids in (trickle.webhook_ids(), silent.webhook_ids(), [r.headers["webhook-id"] for r, _ in fast.log]):
            assert len(ids) == 1, ids
        with app.app_context():
            rows = db.session.scalars(select(WebhookDelivery)).all()
            assert sorted(row.attempts for row in rows) == [1, 1, 1]
        assert DEADLINE < delivery.send_settings(app.config).lease < 10 * 60
    finally:
        trickle.close()
        silent.close()
        fast.clear()
        fast.stop()


# ---------------------------------------------------------------- the deadline itself (notify/deadline.py)


def call_in_background(seconds, function):
    """deadline.call on its own thread: (what it raised or returned, seconds it took), once it is over."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["value"] = deadline.call(time.monotonic() + seconds, function)
        except Exception as error:
            outcome["value"] = error
        outcome["took"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_call_that_connects_after_its_deadline_sends_nothing():
    """A worker held up past the deadline (a slow name lookup, say) connects, but its socket is refused unused."""
    receiver = RawReceiver()
    worker_done = threading.Event()

    def slow_then_send():
        try:
            time.sleep(0.6)
            sock = socket.create_connection(("127.0.0.1", receiver.port))
            deadline.adopt(sock)
            sock.sendall(b"POST /hook HTTP/1.1\r\nwebhook-id: late\r\n\r\n")
        finally:
            worker_done.set()

    try:
        thread, outcome = call_in_background(0.3, slow_then_send)
        thread.join(5)
        assert isinstance(outcome["value"], deadline.DeadlineExceeded) and outcome["took"] < 0.3 + SLACK
        assert worker_done.wait(5)
        time.sleep(0.2)
        assert receiver.requests == []
    finally:
        receiver.close()


def test_the_deadline_cuts_a_tls_handshake_that_never_ends():
    """Sockets are shut down through a duplicate descriptor, so a socket TLS has wrapped (and detached) is cut too."""
    silent = RawReceiver(answer=None)
    worker_ended = {}

    def handshake():
        sock = socket.create_connection(("127.0.0.1", silent.port), timeout=30)
        deadline.adopt(sock)
        context = ssl.create_default_context()
        try:
            context.wrap_socket(sock, server_hostname="localhost")  # the server never says hello
        except (OSError, ssl.SSLError) as error:
            worker_ended["after"] = time.monotonic()
            raise error

    try:
        started = time.monotonic()
        thread, outcome = call_in_background(0.5, handshake)
        thread.join(5)
        assert isinstance(outcome["value"], deadline.DeadlineExceeded)
        for _ in range(50):
            if "after" in worker_ended:
                break
            time.sleep(0.1)
        # Without the shutdown the handshake would wait for its 30 s socket timeout.
        assert worker_ended["after"] - started < 0.5 + SLACK
    finally:
        silent.close()
