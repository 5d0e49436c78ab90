"""The SSRF guard: which webhook URLs and peer addresses this service refuses to call, and HTTP pools that check peers.

A URL is checked at save and again before every send, after DNS resolution; the connection's actual
peer is checked too, so a name that later points inside the network (DNS rebinding) is still refused.
An IPv6 address that carries an IPv4 address (6to4, Teredo, NAT64, IPv4-mapped, ...) is judged by that IPv4.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from transitions.notify import deadline


class UnsafeURL(ValueError):
    """A webhook URL this service refuses to call."""


class UnresolvedHost(UnsafeURL):
    """A host name that does not resolve: refused at save, but at send a passing DNS failure worth a retry."""


class RefusedPeer(NewConnectionError):
    """A connection whose actual peer the guard refused (at send: the URL is refused, not the receiver down)."""

    def __init__(self, connection, message):
        super().__init__(connection, message)
        self.refusal = message.removeprefix("refused: ")


# IPv6 forms that carry an IPv4 address, each judged by that address first. The transparent ones reach exactly that
# IPv4 host through a translator or relay, so they are as good as it; the others are not global in themselves and
# stay refused after their IPv4 address passed (they are unwrapped so the refusal names what they point at).
MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # RFC 4291 2.5.5.2
TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 2.5.5.1, deprecated
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")  # RFC 3056
TEREDO = ipaddress.IPv6Network("2001::/32")  # RFC 4380
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix, any RFC 6052 length within it
RFC6052_LENGTHS = (48, 56, 64, 96)
ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # RFC 5214 interface identifiers: 0:5efe or 200:5efe, then the IPv4
TRANSPARENT = ("IPv4-mapped", "6to4", "NAT64")


def _v4(bits):
    return ipaddress.IPv4Address(bits & 0xFFFFFFFF)


def rfc6052_ipv4(ip, prefix_length):
    """The IPv4 address embedded after a prefix of this length (RFC 6052 2.2: bits 64-71 skipped), or None when the
    suffix after it is not zero, so the address cannot have been built with that length."""
    bits = int(ip)
    if prefix_length == 96:
        return _v4(bits)
    before = (64 - prefix_length) // 8  # IPv4 octets before bits 64-71
    after_bits = 8 * (4 - before)
    suffix_bits = 56 - after_bits
    if bits & ((1 << suffix_bits) - 1):
        return None
    high = (bits >> 64) & ((1 << (8 * before)) - 1)
    low = (bits >> suffix_bits) & ((1 << after_bits) - 1)
    return _v4((high << after_bits) | low)


def embedded_ipv4(ip):
    """(form, [IPv4 addresses it carries]) for an IPv6 address that carries IPv4, else None."""
    if ip.version != 6:
        return None
    bits = int(ip)
    if ip in MAPPED:
        return "IPv4-mapped", [ip.ipv4_mapped]
    if ip in TRANSLATED:
        return "IPv4-translated", [_v4(bits)]
    if ip in COMPATIBLE and bits > 1:  # :: and ::1 are the unspecified and loopback addresses, not IPv4
        return "IPv4-compatible", [_v4(bits)]
    if ip in SIX_TO_FOUR:
        return "6to4", [ip.sixtofour]
    if ip in TEREDO:
        server, client = ip.teredo
        return "Teredo", [client, server]
    if ip in NAT64:
        return "NAT64", [_v4(bits)]
    if ip in LOCAL_NAT64:
        candidates = [rfc6052_ipv4(ip, length) for length in RFC6052_LENGTHS]
        return "local-use NAT64", [v4 for v4 in candidates if v4 is not None]
    if (bits >> 32) & 0xFFFFFFFF in ISATAP_IDS:
        return "ISATAP", [_v4(bits)]
    return None


def plain_problem(ip):
    """Why this address itself is off limits, as a phrase ("a loopback address"), or None for public unicast."""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives here)"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


def address_problem(address):
    """Why an IP address is off limits for webhooks, as a phrase that completes "X is ...", or None.

    An IPv6 address that carries an IPv4 address (6to4, Teredo, IPv4-mapped, -compatible or -translated, NAT64,
    ISATAP) is judged by that IPv4 address first: `2002:a9fe:a9fe::` is 6to4 for 169.254.169.254.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    carried = embedded_ipv4(ip)
    if carried is not None:
        form, addresses = carried
        for ipv4 in addresses:
            problem = plain_problem(ipv4)
            if problem:
                return "%s for %s, %s" % (form, ipv4, problem)
        if form in TRANSPARENT:
            return None
    return plain_problem(ip)


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
        problem = address_problem(str(literal))
        if problem:
            raise UnsafeURL("The address %s is %s." % (literal, problem))
        return
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        raise UnsafeURL("The host %s is internal." % host)
    if not resolve_names:
        return
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError, OSError):
        raise UnresolvedHost("The host %s does not resolve." % host) from None
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise UnsafeURL("The host %s resolves to %s, %s." % (host, address, problem))


class GuardedConnectionMixin:
    """A connection bound to the current call's deadline (notify/deadline.py) that refuses private peers, whatever
    DNS said a moment earlier; `check_peer` False (WEBHOOK_ALLOW_PRIVATE) keeps only the deadline."""

    check_peer = True

    def _new_conn(self):
        sock = super()._new_conn()
        deadline.adopt(sock)
        if self.check_peer:
            peer = sock.getpeername()[0]
            problem = address_problem(peer)
            if problem:
                sock.close()
                raise RefusedPeer(self, "refused: connected to %s, %s" % (peer, problem))
        return sock


class CheckedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class TrustingHTTPConnection(CheckedHTTPConnection):
    check_peer = False


class TrustingHTTPSConnection(CheckedHTTPSConnection):
    check_peer = False


def _pools(http_connection, https_connection):
    http = type("Pool", (HTTPConnectionPool,), {"ConnectionCls": http_connection})
    https = type("Pool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection})
    return {"http": http, "https": https}


CHECKED_POOLS = _pools(CheckedHTTPConnection, CheckedHTTPSConnection)
TRUSTING_POOLS = _pools(TrustingHTTPConnection, TrustingHTTPSConnection)


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections are deadline-bound and (unless private peers are allowed) peer-checked."""

    def __init__(self, allow_private):
        self.pools = TRUSTING_POOLS if allow_private else CHECKED_POOLS
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pools)


def http_session(allow_private):
    """A requests session for webhook sends (which follow no redirects): no retries, no proxies, connections bound to
    the current call's deadline, and (unless allowed) no private peers."""
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would hide where the request really goes.
    session.trust_env = False
    adapter = GuardedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def refusal_in(error):
    """The RefusedPeer behind a requests error (requests wraps urllib3's retry error, which wraps it), or None."""
    seen, pending = set(), [error]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, RefusedPeer):
            return error
        pending.extend((error.__cause__, error.__context__, getattr(error, "reason", None)))
        pending.extend(arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException))
    return None
