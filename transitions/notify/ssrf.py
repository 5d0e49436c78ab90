"""The SSRF guard: which webhook URLs and peer addresses this service refuses to call, and HTTP pools that check peers.

A URL is checked at save and again before every send, after DNS resolution; the connection's actual
peer is checked too, so a name that later points inside the network (DNS rebinding) is still refused.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError


class UnsafeURL(ValueError):
    """A webhook URL this service refuses to call."""


def address_problem(address):
    """Why an IP address is off limits for webhooks, or None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def resolve(host, port):
    """Every address the name resolves to (tests replace this to simulate DNS)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def check_url(url, allow_private, resolve_names=True):
    """Refuse what must never be called: bad schemes, credentials in URLs, private/loopback/link-local targets."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("Not a URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Use an http:// or https:// URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("Credentials do not belong in a webhook URL; the signature authenticates us.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeURL("A URL cannot contain spaces or control characters.")
    if allow_private:
        return
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    elif host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        raise UnsafeURL("The host %s is internal." % host)
    elif not resolve_names:
        return
    else:
        try:
            addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError, OSError):
            raise UnsafeURL("The host %s does not resolve." % host) from None
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise UnsafeURL("The host %s resolves to %s, a %s address." % (host, address, problem))


class PeerCheckedMixin:
    """Refuse a connection whose actual peer is private, whatever DNS said a moment earlier."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        problem = address_problem(peer)
        if problem:
            sock.close()
            raise NewConnectionError(self, "refused: connected to %s, a %s address" % (peer, problem))
        return sock


class CheckedHTTPConnection(PeerCheckedMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(PeerCheckedMixin, HTTPSConnection):
    pass


class CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class PeerCheckedAdapter(HTTPAdapter):
    """A requests adapter whose pools refuse private peers."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}


def http_session(allow_private):
    """A requests session for webhook sends: no retries, no proxies, and (unless allowed) no private peers."""
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would hide where the request really goes.
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=0) if allow_private else PeerCheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
