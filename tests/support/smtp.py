"""A real SMTP server on loopback for the mail tests (aiosmtpd): it keeps every message it accepts, and can be
stopped and started again on the same port to play a server that is down for a while."""

import email
import email.policy
import socket
import threading

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """The aiosmtpd handler: every accepted message, parsed, with its envelope recipients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def received(self):
        with self.lock:
            return list(self.messages)

    def recipients(self):
        """Every envelope recipient of every message, in order (one per message and address)."""
        return [rcpt for rcpts, _ in self.received() for rcpt in rcpts]

    def by_recipient(self):
        """address -> the messages it received."""
        found = {}
        for rcpts, message in self.received():
            for rcpt in rcpts:
                found.setdefault(rcpt, []).append(message)
        return found


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1:port; `stop` and `start` again to take it down and bring it back."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.inbox = Inbox()
        self.controller = None

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class SilentServer:
    """A TCP server on loopback that accepts connections and never says a word: a send must end by its deadline."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def stop(self):
        self.listener.close()
        for connection in self.accepted:
            connection.close()


def self_signed_tls(tmp_path):
    """(server SSLContext, client SSLContext trusting it) for 127.0.0.1, made with the openssl command."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert), str(key))
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
