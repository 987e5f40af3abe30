"""Where webhooks may go: the mesh's destination policy (a defence against request forgery).

A webhook makes the mesh's own process send HTTP requests to a URL a principal chose. Left
open, that lets any principal reach what the mesh's host can reach and its users cannot
(``http://127.0.0.1:5432``, a cloud metadata service at ``169.254.169.254``, an admin port on
the private network) and learn from the recorded outcome what answers there. So a webhook URL
is checked when it is subscribed *and* again before every delivery:

- only ``http`` and ``https``, no credentials (``user:pass@``), at most
  :data:`MAX_URL_LENGTH` characters, an IP address only in its canonical form (``127.1``,
  ``0x7f.1`` or ``2130706433`` are refused: they name 127.0.0.1 in disguise);
- the host name is resolved, and **every** address it resolves to must be allowed: by
  default only public addresses are (no loopback, private, link-local, multicast, reserved,
  unspecified or shared address, in IPv4 or IPv6, IPv4 inside IPv6 included);
- a delivery connects to one of the addresses it just checked, never resolving the name
  again (a DNS answer that changes between check and connection cannot redirect it), and
  follows no HTTP redirect.

The operator widens or narrows the policy with a list of entries (``webhook_allowed_hosts``,
``MESHLAKE_WEBHOOK_ALLOWED_HOSTS``); a URL is allowed when an entry allows it:

``public``
    every public address (the default list is just this entry);
``10.0.0.0/8``, ``127.0.0.1``, ``[fd00::]/8``, ``::1``
    addresses inside the network (IP address entries are one-address networks);
``hooks.internal``, ``*.corp.example``
    that host name (or its subdomains), *whatever it resolves to*: list a name only when you
    trust its DNS, else list its addresses;
``...:8443``, ``https://...``
    any entry may be narrowed to one port and to one scheme.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from meshlake.config import ENV_WEBHOOK_ALLOWED_HOSTS
from meshlake.errors import InvalidInputError

__all__ = [
    "MAX_URL_LENGTH",
    "PUBLIC",
    "AllowEntry",
    "Destination",
    "Resolver",
    "Target",
    "WebhookPolicy",
    "address_problem",
    "parse_destination",
    "parse_entry",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The entry that allows every public address.
PUBLIC = "public"
#: Schemes a webhook may use, with their default ports.
SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOW_TO_ALLOW = (
    f"an operator may allow more destinations with {ENV_WEBHOOK_ALLOWED_HOSTS}, "
    "`meshlake serve --webhook-allowed-host` or connect(..., webhook_allowed_hosts=[...]), "
    "e.g. '10.1.2.3', '10.0.0.0/8' or 'hooks.internal:8443'"
)

#: ``resolver(host, port) -> addresses`` (IP address strings; raises ``OSError`` when the
#: name does not resolve).
Resolver = Callable[[str, int], list[str]]


#: Seconds a name lookup may take before the destination counts as not resolving.
RESOLVE_TIMEOUT_S = 5.0
#: Lookups run on a few threads of their own, so that a slow name server holds neither the
#: caller (a request thread of the server, a delivery) past the timeout nor more threads.
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="meshlake-resolve")


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now (every family, the system resolver's order),
    within :data:`RESOLVE_TIMEOUT_S` seconds.

    Raises:
        OSError: the name does not resolve, or not in time.
    """
    lookup = _LOOKUPS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=RESOLVE_TIMEOUT_S)
    except FutureTimeout:
        lookup.cancel()
        raise OSError(f"looking up {host} took longer than {RESOLVE_TIMEOUT_S:g} s") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# ---------------------------------------------------------------------- addresses
def _unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as the IPv4 address it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 (``2002::/16``) or NAT64 (``64:ff9b::/96``) address carries."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``None`` when it is one).

    >>> address_problem(ipaddress.ip_address("169.254.169.254"))
    'a link-local address'
    >>> address_problem(ipaddress.ip_address("::ffff:127.0.0.1"))
    'a loopback address'
    >>> address_problem(ipaddress.ip_address("2002:a00:1::"))
    'a private address (inside an IPv6 address)'
    >>> address_problem(ipaddress.ip_address("8.8.8.8")) is None
    True
    """
    ip = _unmapped(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(inner)
            return None if problem is None else f"{problem} (inside an IPv6 address)"
    checks = (
        ("an unspecified address", ip.is_unspecified),
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
        ("a site-local address", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("not a public address", not ip.is_global),
    )
    return next((why for why, hit in checks if hit), None)


# ---------------------------------------------------------------------- hosts
def _numeric_ipv4(host: str) -> bool:
    """Whether the system resolver reads ``host`` as an IPv4 address in some form."""
    try:
        socket.inet_aton(host)
    except (OSError, UnicodeError, ValueError):
        return False
    return True


def _host_name(host: str) -> str | None:
    """``host`` as a DNS name (lower case, no trailing dot), or None when it is not one."""
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > MAX_HOST_LENGTH or not all(_LABEL.match(x) for x in labels):
        return None
    if labels[-1].isdigit():  # no top-level domain is a number: an address in disguise
        return None
    return name


def _literal(url: str, host: str) -> IPAddress | None:
    """The IP address ``host`` (of ``url``) spells in canonical form (``None`` for a name).

    Raises:
        InvalidInputError: a non-canonical numeric form (``127.1``, ``0x7f.1``, ``017.0.0.1``,
            ``2130706433``) or an IPv6 zone.
    """
    if "%" in host:
        raise InvalidInputError(f"webhook URL {url!r}: IPv6 zone ids are not allowed")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _numeric_ipv4(host):
        raise InvalidInputError(
            f"webhook URL {url!r}: {host!r} is an IPv4 address in a non-canonical form; write "
            "it as four decimal numbers (a.b.c.d)"
        )
    return None


# ---------------------------------------------------------------------- destinations
@dataclass(frozen=True)
class Destination:
    """A webhook URL, parsed and checked for form (not yet for where it leads).

    Attributes:
        url: the URL as given.
        scheme: ``http`` or ``https``.
        host: the host name (lower case, no trailing dot) or the IP address literal.
        port: the port (the scheme's default when the URL names none).
        target: the request target sent (path and query; ``/`` when empty).
        address: the IP address when ``host`` is one.
    """

    url: str
    scheme: str
    host: str
    port: int
    target: str
    address: IPAddress | None


def parse_destination(url: str) -> Destination:
    """Parse a webhook URL, refusing forms that hide where it leads.

    >>> parse_destination("https://Hooks.Example.com./mesh?x=1").host
    'hooks.example.com'
    >>> parse_destination("http://[::1]:8080").target
    '/'

    Raises:
        InvalidInputError: not an ``http``/``https`` URL with a host, too long, with
            credentials, spaces or control characters, a bad port, or an IP address in a
            non-canonical form.
    """
    if not isinstance(url, str) or not url:
        raise InvalidInputError("a webhook URL must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInputError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInputError(
            "webhook URL may hold only printable ASCII (percent-encode the rest; give an "
            "internationalised host name in its xn-- form)"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidInputError(f"webhook URL {url!r} is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInputError(f"webhook URL {url!r} must be http:// or https://")
    if "@" in parts.netloc:
        raise InvalidInputError(
            f"webhook URL {url!r} may not carry credentials (user:password@): receivers "
            "authenticate deliveries by their Meshlake-Signature"
        )
    host = parts.hostname or ""
    if not host:
        raise InvalidInputError(f"webhook URL {url!r} names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"webhook URL {url!r} has a bad port: {exc}") from exc
    if port == 0:
        raise InvalidInputError(f"webhook URL {url!r} has a bad port: 0")
    address = _literal(url, host)
    if address is not None and parts.netloc.startswith("[") != (address.version == 6):
        raise InvalidInputError(f"webhook URL {url!r}: write IPv6 addresses in brackets")
    name = str(address) if address is not None else _host_name(host)
    if name is None:
        raise InvalidInputError(f"webhook URL {url!r}: {host!r} is not a host name")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(url, scheme, name, port or SCHEMES[scheme], target, address)


# ---------------------------------------------------------------------- the allow-list
@dataclass(frozen=True)
class AllowEntry:
    """One entry of the allow-list (see the module docstring for its forms).

    Attributes:
        text: the entry as configured.
        public: the entry allows every public address.
        network: the addresses the entry allows.
        name: the host name it allows (``*.x`` for the subdomains of ``x``).
        port: the one port it allows (``None``: any).
        scheme: the one scheme it allows (``None``: http and https).
    """

    text: str
    public: bool = False
    network: IPNetwork | None = None
    name: str | None = None
    port: int | None = None
    scheme: str | None = None

    def admits(self, dest: Destination) -> bool:
        """Whether ``dest``'s scheme and port are the entry's."""
        return (self.scheme is None or self.scheme == dest.scheme) and (
            self.port is None or self.port == dest.port
        )

    def names(self, dest: Destination) -> bool:
        """Whether this is a host-name entry naming ``dest``'s host."""
        if self.name is None or dest.address is not None or not self.admits(dest):
            return False
        if self.name.startswith("*."):
            return dest.host.endswith(self.name[1:])
        return dest.host == self.name

    def covers(self, dest: Destination, ip: IPAddress) -> bool:
        """Whether the entry lets ``dest`` reach address ``ip``."""
        if not self.admits(dest):
            return False
        if self.public:
            return address_problem(ip) is None
        return self.network is not None and _unmapped(ip) in self.network


def _bad_entry(text: str, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"{ENV_WEBHOOK_ALLOWED_HOSTS} / webhook_allowed_hosts entry {text!r}: {why} (expected "
        "'public', an address, a network such as 10.0.0.0/8, or a host name, each optionally "
        "with :port and an http:// or https:// prefix)"
    )


def parse_entry(text: str) -> AllowEntry:
    """Parse one allow-list entry.

    >>> parse_entry("https://10.0.0.0/8:8443").port
    8443
    >>> str(parse_entry("[fd00::]/8").network)
    'fd00::/8'
    >>> parse_entry("*.Corp.Example").name
    '*.corp.example'

    Raises:
        InvalidInputError: the entry is none of the accepted forms.
    """
    rest = text.strip().lower()
    scheme = None
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme not in SCHEMES:
            raise _bad_entry(text, "only http:// and https:// are webhook schemes")
    port_text = None
    if rest.startswith("["):  # [v6], [v6]/len, [v6/len], each optionally :port
        inner, sep, after = rest[1:].partition("]")
        if not sep or ":" not in inner:
            raise _bad_entry(text, "brackets hold an IPv6 address or network")
        if after.startswith("/"):
            length, _, after = after[1:].partition(":")
            inner, after = f"{inner}/{length}", f":{after}" if after else ""
        if after and not after.startswith(":"):
            raise _bad_entry(text, f"unexpected {after!r} after the brackets")
        host, port_text = inner, after[1:] if after else None
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host = rest
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _bad_entry(text, f"bad port {port_text!r}")
        port = int(port_text)
    if host == PUBLIC:
        return AllowEntry(text, public=True, port=port, scheme=scheme)
    try:
        network = ipaddress.ip_network(host, strict=True)
    except ValueError as exc:
        if "/" in host or ":" in host:
            raise _bad_entry(text, str(exc)) from exc
    else:
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128:
            network = ipaddress.ip_network(_unmapped(network.network_address))
        return AllowEntry(text, network=network, port=port, scheme=scheme)
    wildcard = host.startswith("*.")
    name = _host_name(host[2:] if wildcard else host)
    if name is None or _numeric_ipv4(host):
        raise _bad_entry(text, "not a host name or an IP address in canonical form")
    return AllowEntry(text, name=f"*.{name}" if wildcard else name, port=port, scheme=scheme)


@dataclass(frozen=True)
class Target:
    """A destination that passed the policy, with the addresses it was checked at (a
    delivery connects to these, never resolving the name again)."""

    destination: Destination
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class WebhookPolicy:
    """The mesh's webhook destinations (see the module docstring).

    Attributes:
        entries: the allow-list; the default allows every public address, and an empty one
            no destination at all.
    """

    entries: tuple[AllowEntry, ...] = (AllowEntry(PUBLIC, public=True),)

    @classmethod
    def of(cls, allowed: Iterable[str] | None) -> WebhookPolicy:
        """The policy of a configured list (``None``: the default, public addresses only).

        Raises:
            InvalidInputError: an entry is malformed.
        """
        if allowed is None:
            return cls()
        return cls(tuple(parse_entry(e) for e in allowed if e.strip()))

    @property
    def public_only(self) -> bool:
        """Whether the policy allows exactly the public addresses (the default)."""
        return bool(self.entries) and all(
            e.public and e.port is None and e.scheme is None for e in self.entries
        )

    def _refuse(self, dest: Destination, why: str) -> InvalidInputError:
        allowed = (
            "public addresses only"
            if self.public_only
            else "the destinations its operator allowed only"
            if self.entries
            else "no destination at all"
        )
        return InvalidInputError(
            f"webhook URL {dest.url!r} is refused: {why}; this mesh sends webhooks to "
            f"{allowed}; {_HOW_TO_ALLOW}"
        )

    def check(self, url: str, resolver: Resolver | None = None) -> Target:
        """Check ``url`` against the policy, resolving its host name now.

        A host-name entry allows its name whatever it resolves to; otherwise every address
        the name resolves to must be covered by an entry (an IP address URL: that address).
        Messages never tell which addresses a name resolved to.

        Args:
            url: the webhook URL.
            resolver: resolves host names (default :func:`resolve`).

        Returns:
            The destination and the addresses checked (connect only to these).

        Raises:
            InvalidInputError: the URL is malformed, its host does not resolve, or it leads
                somewhere the policy does not allow.
        """
        dest = parse_destination(url)
        if dest.address is not None:
            found = [str(dest.address)]
        else:
            try:
                found = (resolver or resolve)(dest.host, dest.port)
            except (OSError, UnicodeError, ValueError):
                found = []
        try:
            addresses = [ipaddress.ip_address(a) for a in found]
        except ValueError:
            addresses = []
        unresolved = (
            f"{dest.host} does not resolve, or resolves to an address this mesh may not send "
            "to (loopback, private, link-local, reserved, or off its allow-list)"
        )
        if not addresses:
            raise self._refuse(dest, unresolved)
        if not any(e.names(dest) for e in self.entries):
            for ip in addresses:
                if not any(e.covers(dest, ip) for e in self.entries):
                    if dest.address is None:  # never tell where a name leads
                        raise self._refuse(dest, unresolved)
                    why = address_problem(ip) or "not on the allow-list"
                    shown = _unmapped(ip)
                    named = dest.host if shown == ip else f"{dest.host} ({shown})"
                    raise self._refuse(dest, f"{named} is {why}")
        return Target(dest, tuple(str(_unmapped(ip)) for ip in addresses))
