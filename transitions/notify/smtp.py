"""SMTP for mail to people: the settings (SMTP_URL and the rest, checked when the scheduler starts), the message,
and one connection per run that sends within a hard deadline (notify/deadline.py shuts its socket at the deadline).
"""

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

from flask import current_app

from transitions.notify import deadline
from transitions.notify.delivery import LEASE_MARGIN_SECONDS, short_error

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes: SMTP_URL taken apart."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url):
    """SMTP_URL as an SmtpServer; a ValueError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, not %r." % parts.scheme)
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise ValueError("SMTP_URL has a bad port.") from None
    if not parts.hostname:
        raise ValueError("SMTP_URL names no host.")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpServer(parts.scheme, parts.hostname, port, username, password)


@dataclass(frozen=True)
class MailSettings:
    """How mail is sent: the server (None: mail is off), the sender, links, and how each send is bounded."""

    server: SmtpServer | None
    sender: str
    base_url: str
    timeout: float
    deadline: float
    max_attempts: int
    retry_base: float
    retry_max: float
    digest_hour: int
    connections: int = 1

    @property
    def lease(self):
        return self.deadline + LEASE_MARGIN_SECONDS


def _seconds(config, key):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24 * 3600:
        raise ValueError("%s must be a number of seconds above 0, not %r." % (key, value))
    return float(value)


def mail_settings(config=None):
    """The mail settings, validated (a bad one stops the scheduler at start, not at its first mail)."""
    config = config if config is not None else current_app.config
    server = parse_smtp_url(config["SMTP_URL"]) if config.get("SMTP_URL") else None
    sender = config["MAIL_FROM"]
    if not isinstance(sender, str) or "@" not in parseaddr(sender)[1]:
        raise ValueError("MAIL_FROM must be an email address, not %r." % (sender,))
    base_url = config["BASE_URL"]
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError("BASE_URL must be an http(s) URL, not %r." % (base_url,))
    deadline_seconds = _seconds(config, "MAIL_DEADLINE_SECONDS")
    if deadline_seconds > 600:
        raise ValueError("MAIL_DEADLINE_SECONDS must be at most 600.")
    attempts = config["MAIL_MAX_ATTEMPTS"]
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError("MAIL_MAX_ATTEMPTS must be a whole number above 0, not %r." % (attempts,))
    hour = config["MAIL_DIGEST_HOUR"]
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ValueError("MAIL_DIGEST_HOUR must be a whole hour from 0 to 23, not %r." % (hour,))
    connections = config["MAIL_CONNECTIONS"]
    if isinstance(connections, bool) or not isinstance(connections, int) or not 1 <= connections <= 16:
        raise ValueError("MAIL_CONNECTIONS must be a whole number from 1 to 16, not %r." % (connections,))
    hours = config["OFFER_EXPIRING_HOURS"]
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        raise ValueError("OFFER_EXPIRING_HOURS must be a number of hours above 0, not %r." % (hours,))
    return MailSettings(
        server=server,
        sender=sender,
        base_url=base_url.rstrip("/"),
        timeout=_seconds(config, "MAIL_TIMEOUT_SECONDS"),
        deadline=deadline_seconds,
        max_attempts=attempts,
        retry_base=_seconds(config, "MAIL_RETRY_BASE_SECONDS"),
        retry_max=_seconds(config, "MAIL_RETRY_MAX_SECONDS"),
        digest_hour=hour,
        connections=connections,
    )


# ---------------------------------------------------------------- the message and the connection


def build_message(settings, recipient, subject, text, html, message_key):
    """A multipart/alternative message (text, then HTML); its Message-ID is the delivery's, the same if it is ever
    sent again. The email.mime classes: a third of the cost of EmailMessage's, at 10,000 mails a run."""
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(subject, "utf-8") if not subject.isascii() else subject
    message["From"] = settings.sender
    message["To"] = recipient
    message["Date"] = format_datetime(datetime.now().astimezone())
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "transitions"
    message["Message-ID"] = "<%s@%s>" % (message_key, domain)
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return message


@dataclass
class Outcome:
    """What one send got: ok, or an error; `server_down` when the server, not this mail, was the problem."""

    ok: bool = False
    error: str | None = None
    permanent: bool = False
    server_down: bool = False


class _DeadlineSMTP(smtplib.SMTP):
    """smtplib.SMTP whose connection is bound to the running deadline; keeps a duplicate of the plain socket so
    a later send over the same connection can bind it to its own deadline (TLS wraps and detaches the original)."""

    plain_socket = None

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        deadline.adopt(sock)
        self.plain_socket = sock.dup()
        return sock

    def close(self):
        super().close()
        if self.plain_socket is not None:
            self.plain_socket.close()
            self.plain_socket = None


class _DeadlineSMTPS(smtplib.SMTP_SSL, _DeadlineSMTP):
    """Implicit TLS: SMTP_SSL wraps the socket _DeadlineSMTP connected and adopted."""


class Mailer:
    """One SMTP connection, opened on the first send of a pass and reused for the rest of it."""

    def __init__(self, settings, tls_context=None):
        self.settings = settings
        self.tls_context = tls_context or ssl.create_default_context()
        self.connection = None

    def send(self, message, expires_at):
        """One send, over by `expires_at` (time.monotonic()) whatever the server does."""
        try:
            deadline.call(expires_at, self._send, message)
        except deadline.DeadlineExceeded:
            self._drop()
            return Outcome(
                error="timed out: no answer within the %g s deadline" % self.settings.deadline, server_down=True
            )
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)
            return Outcome(error=short_error(error), permanent=permanent)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            permanent = 500 <= error.smtp_code < 600
            return Outcome(error=short_error(error), permanent=permanent, server_down=not permanent)
        except (OSError, smtplib.SMTPException) as error:
            self._drop()
            return Outcome(error=short_error(error), server_down=True)
        return Outcome(ok=True)

    def _send(self, message):
        if self.connection is not None:
            try:
                deadline.adopt(self.connection.plain_socket)
                self.connection.send_message(message)
                return
            except smtplib.SMTPServerDisconnected:
                # The server closed the idle connection: open another one, once.
                self._drop()
        self.connection = self._connect()
        self.connection.send_message(message)

    def _connect(self):
        server, timeout = self.settings.server, self.settings.timeout
        if server.scheme == "smtps":
            connection = _DeadlineSMTPS(server.host, server.port, timeout=timeout, context=self.tls_context)
        else:
            connection = _DeadlineSMTP(server.host, server.port, timeout=timeout)
        try:
            if server.scheme == "smtp+starttls":
                connection.starttls(context=self.tls_context)
            if server.username:
                connection.login(server.username, server.password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def _drop(self):
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()

    def close(self):
        """Say goodbye to the server (best effort) and close the connection."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
