"""Property-based tests (hypothesis) of the URL guard's address classifier."""

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from captioner.runtime.data.fetch import refusal


@given(st.ip_addresses())
def test_address_classifier_agrees_with_ipaddress(ip):
    why = refusal(str(ip))
    embedded = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    effective = embedded or ip
    if ip.version == 6 and ip.is_site_local:
        assert why == "site-local"
    elif effective.is_loopback or effective.is_private or effective.is_link_local or effective.is_multicast \
            or effective.is_reserved or effective.is_unspecified or not effective.is_global:
        assert why is not None, f"{ip} must be refused"
    else:
        assert why is None, f"{ip} is public and was refused as {why}"
    assert refusal(str(ip), allow_loopback=True) is None or not effective.is_loopback


@given(st.integers(0, 255), st.integers(0, 255))
def test_embedded_ipv4_is_judged_like_the_ipv4(a, b):
    v4 = ipaddress.IPv4Address(f"10.{a}.{b}.1")
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    sixtofour = ipaddress.IPv6Address(f"2002:{int(v4) >> 16:04x}:{int(v4) & 0xFFFF:04x}::1")
    assert refusal(str(v4)) == refusal(str(mapped)) == refusal(str(sixtofour)) == "private"


def test_refusal_names_the_kind_of_address():
    assert refusal("10.0.0.1") == "private"
    assert refusal("fe80::1%eth0") == "private"  # a zone id is ignored (Python counts link-local as private)
    assert refusal("224.0.0.1") == "multicast"
    assert refusal("8.8.8.8") is None
