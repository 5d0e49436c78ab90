"""The SSRF guard on addresses alone: every IPv6 form that carries an IPv4 address is judged by that IPv4 address."""

import ipaddress

import pytest

from transitions.notify import ssrf

METADATA = "169.254.169.254"


def teredo(server, client):
    """A Teredo address (2001::/32): the server's IPv4, flags and port, then the client's IPv4 XORed with all ones."""
    server_bits = int(ipaddress.IPv4Address(server))
    client_bits = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(
        ipaddress.IPv6Address((0x2001 << 112) | (server_bits << 64) | (0x8000 << 48) | (0x63BF << 32) | client_bits)
    )


def rfc6052(prefix, prefix_length, ipv4):
    """An IPv4-embedded IPv6 address (RFC 6052 section 2.2): the IPv4 bits around the zero octet at bits 64-71."""
    prefix_bits = int(ipaddress.IPv6Address(prefix))
    v4 = int(ipaddress.IPv4Address(ipv4))
    if prefix_length == 96:
        return str(ipaddress.IPv6Address(prefix_bits | v4))
    before = (64 - prefix_length) // 8  # IPv4 octets before the zero octet
    high, low = v4 >> (8 * (4 - before)), v4 & ((1 << (8 * (4 - before))) - 1)
    value = prefix_bits | (high << 64) | (low << (56 - 8 * (4 - before)))
    return str(ipaddress.IPv6Address(value))


# (address, the form it is, the embedded IPv4 that makes it unsafe)
EMBEDDED_UNSAFE = [
    ("2002:a9fe:a9fe::", "6to4", METADATA),
    ("2002:a9fe:a9fe:1234:5678::1", "6to4", METADATA),
    ("2002:7f00:1::", "6to4", "127.0.0.1"),
    ("2002:a00:1::", "6to4", "10.0.0.1"),
    (teredo("65.54.227.120", METADATA), "Teredo", METADATA),
    (teredo("65.54.227.120", "192.168.1.20"), "Teredo", "192.168.1.20"),
    (teredo("10.9.8.7", "8.8.8.8"), "Teredo", "10.9.8.7"),
    ("::ffff:a9fe:a9fe", "IPv4-mapped", METADATA),
    ("::ffff:127.0.0.1", "IPv4-mapped", "127.0.0.1"),
    ("::a9fe:a9fe", "IPv4-compatible", METADATA),
    ("::10.0.0.1", "IPv4-compatible", "10.0.0.1"),
    ("::ffff:0:a9fe:a9fe", "IPv4-translated", METADATA),
    ("64:ff9b::a9fe:a9fe", "NAT64", METADATA),
    ("64:ff9b::127.0.0.1", "NAT64", "127.0.0.1"),
    ("64:ff9b:1::a9fe:a9fe", "local-use NAT64", METADATA),
    (rfc6052("64:ff9b:1::", 48, METADATA), "local-use NAT64", METADATA),
    (rfc6052("64:ff9b:1:ab00::", 56, "10.1.2.3"), "local-use NAT64", "10.1.2.3"),
    (rfc6052("64:ff9b:1:abcd::", 64, METADATA), "local-use NAT64", METADATA),
    ("2600:1f18::5efe:a9fe:a9fe", "ISATAP", METADATA),
    ("2600:1f18::200:5efe:a00:1", "ISATAP", "10.0.0.1"),
]


@pytest.mark.parametrize("address, form, ipv4", EMBEDDED_UNSAFE)
def test_an_embedded_unsafe_ipv4_is_refused_and_named(address, form, ipv4):
    problem = ssrf.address_problem(address)
    assert problem is not None, address
    assert problem.startswith("%s for %s, " % (form, ipv4)), problem


def test_the_rfc6052_helper_builds_what_the_rfc_shows():
    # RFC 6052 section 2.4's table, 192.0.2.33 under 2001:db8::/n.
    assert rfc6052("2001:db8:100::", 40, "192.0.2.33") == "2001:db8:1c0:2:21::"
    assert rfc6052("2001:db8:122::", 48, "192.0.2.33") == "2001:db8:122:c000:2:2100::"
    assert rfc6052("2001:db8:122:300::", 56, "192.0.2.33") == "2001:db8:122:3c0:0:221::"
    assert rfc6052("2001:db8:122:344::", 64, "192.0.2.33") == "2001:db8:122:344:c0:2:2100:0"
    assert rfc6052("2001:db8:122:344::", 96, "192.0.2.33") == "2001:db8:122:344::c000:221"


@pytest.mark.parametrize(
    "address",
    [
        "2002:808:808::",  # 6to4 for 8.8.8.8
        "2002:5db8:d70e::1",  # 6to4 for 93.184.215.14
        "64:ff9b::808:808",  # NAT64 (the well-known prefix) for 8.8.8.8: how an IPv6-only host reaches it via DNS64
        "::ffff:8.8.8.8",
        "93.184.215.14",
        "2606:4700:4700::1111",
    ],
)
def test_a_transparent_form_of_a_public_ipv4_is_as_good_as_the_ipv4(address):
    assert ssrf.address_problem(address) is None


@pytest.mark.parametrize(
    "address",
    [
        # Forms that are not global in themselves stay refused even around a public IPv4.
        teredo("65.54.227.120", "8.8.8.8"),
        "::8.8.8.8",
        "64:ff9b:1::808:808",
    ],
)
def test_a_non_global_form_stays_refused_around_a_public_ipv4(address):
    assert ssrf.address_problem(address) is not None


@pytest.mark.parametrize(
    "address, problem",
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        (METADATA, "a link-local address (cloud metadata lives here)"),
        ("fe80::1%eth0", "a link-local address (cloud metadata lives here)"),
        ("10.1.1.1", "a private address"),
        ("fd00:ec2::254", "a private address"),
        ("100.100.100.200", "a private address"),
        ("0.0.0.0", "not a unicast address"),
        ("::", "not a unicast address"),
        ("224.0.0.1", "not a unicast address"),
        ("ff02::1", "not a unicast address"),
        ("240.0.0.1", "not a unicast address"),
    ],
)
def test_plain_addresses_are_named_in_plain_words(address, problem):
    assert ssrf.address_problem(address) == problem


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://[2002:a9fe:a9fe::]/", "6to4 for 169.254.169.254, a link-local address"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "NAT64 for 169.254.169.254, a link-local address"),
        ("http://[%s]:8080/" % teredo("65.54.227.120", METADATA), "Teredo for 169.254.169.254, a link-local address"),
        ("http://[::ffff:a9fe:a9fe]/", "IPv4-mapped for 169.254.169.254"),
        ("http://[::a9fe:a9fe]/", "IPv4-compatible for 169.254.169.254"),
        ("http://[64:ff9b:1::a9fe:a9fe]/", "local-use NAT64 for 169.254.169.254"),
        ("http://224.0.0.1/", "The address 224.0.0.1 is not a unicast address."),
        ("http://127.0.0.1:8000/", "The address 127.0.0.1 is a loopback address."),
    ],
)
def test_a_literal_address_in_a_url_is_refused_with_a_readable_reason(url, message):
    with pytest.raises(ssrf.UnsafeURL) as refused:
        ssrf.check_url(url, allow_private=False)
    assert message in str(refused.value)
    # The old message read "a not a unicast address address".
    assert "address address" not in str(refused.value) and "a not " not in str(refused.value)


def test_a_name_that_resolves_to_an_embedded_unsafe_address_is_refused(monkeypatch):
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.215.14", "2002:a9fe:a9fe::"])
    with pytest.raises(ssrf.UnsafeURL) as refused:
        ssrf.check_url("https://hooks.example.org/in", allow_private=False)
    assert str(refused.value) == (
        "The host hooks.example.org resolves to 2002:a9fe:a9fe::, "
        "6to4 for 169.254.169.254, a link-local address (cloud metadata lives here)."
    )


def test_a_name_that_does_not_resolve_is_its_own_kind_of_refusal(monkeypatch):
    """At save it is refused like any other; at send it is a passing DNS failure, retried, not a refused URL."""

    def fail(host, port):
        raise OSError("temporary failure in name resolution")

    monkeypatch.setattr(ssrf, "resolve", fail)
    with pytest.raises(ssrf.UnresolvedHost):
        ssrf.check_url("https://hooks.example.org/in", allow_private=False)
    assert issubclass(ssrf.UnresolvedHost, ssrf.UnsafeURL)
