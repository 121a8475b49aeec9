"""Which addresses the ADO and Jira clients may call: the outbound policy.

On a shared server (auth on) a tenant names the URLs Migrayt calls, so a URL is a request to reach
anything the server can reach: loopback services, the cloud metadata endpoint, the internal network.
There, every connection goes to a public address only:

- the host is resolved and EVERY address it resolves to is classified (one internal answer refuses
  the name); the connection then goes to an address that was checked, never to the name again, so a
  DNS answer that changes between check and connect (rebinding) cannot switch it. This happens at
  connect time, for every new connection (pool refills and retries included), inside the HTTP
  client's network backend: no code path can call out around it;
- addresses are classified after resolution, so every spelling of one address (`127.1`,
  `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`, a name that resolves to loopback) is the same;
- IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4) are
  judged by the IPv4 address they carry;
- redirects are never followed (`ResilientHttp` reports them as an error).

An operator lets an on-premises ADO Server or Jira Data Center on an internal network through with
`MIGRAYT_OUTBOUND_ALLOW` (CIDRs, addresses, host names, `*.domain`). With auth off (one user on their
own machine, the embedded default) nothing is refused: the local sandbox on loopback is the point.

URL shape (http/https only; no user info, query or fragment) is checked at input in every mode:
`service_url`.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpx
from pydantic import BaseModel, ConfigDict

from migrayt.connectors.errors import HttpError

if TYPE_CHECKING:
    from migrayt.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "MIGRAYT_OUTBOUND_ALLOW"

# Checked before Python's own `is_global`, so the answer names the class (and does not depend on the
# Python version's idea of "global": 3.11 calls multicast and 192.0.0.0/24 global).
_REFUSED: list[tuple[IPNetwork, str]] = [
    (ipaddress.ip_network(net), label)
    for net, label in [
        ("0.0.0.0/8", "this-network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ]
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def carried_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def refused_class(ip: IPAddress | str) -> str | None:
    """Why `ip` is not a public address ("loopback", "private", …), or None when it is one."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    inner = carried_ipv4(ip)
    if inner is not None:
        return refused_class(inner)
    for net, label in _REFUSED:
        if ip.version == net.version and ip in net:
            return label
    if ip.is_multicast:
        return "multicast"
    if not ip.is_global or ip.is_reserved:
        return "reserved"
    return None


def parse_allow_list(value: str) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """(networks, host names) from `10.0.0.0/8, jira.corp.example, *.ado.corp.example`."""
    networks: list[IPNetwork] = []
    hosts: list[str] = []
    for raw in value.replace(";", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = entry.removeprefix("*.")
        labels = name.rstrip(".").split(".")
        if not name or not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
            raise ValueError(f"{ALLOW_SETTING}: {raw.strip()!r} is neither a CIDR, an address nor a host name")
        hosts.append(("*." if entry.startswith("*.") else "") + name.rstrip("."))
    return tuple(networks), tuple(hosts)


class OutboundRefused(HttpError):
    """A call the outbound policy refused; nothing was sent. Not retried: the answer would not change."""

    def __init__(self, host: str, why: str) -> None:
        self.host = host
        self.why = why
        super().__init__(
            f"refused address: {host} ({why}); this server calls public addresses only"
            f" (an operator can allow internal ones with {ALLOW_SETTING})"
        )


class OutboundPolicy(BaseModel):
    """`public_only` off: no checks (auth off). On: public addresses, plus what the operator allows."""

    model_config = ConfigDict(frozen=True)

    public_only: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def for_settings(cls, settings: Settings) -> OutboundPolicy:
        from migrayt.settings import auth_mode

        networks, hosts = parse_allow_list(settings.outbound_allow)
        return cls(public_only=auth_mode(settings) == "on", allow_networks=networks, allow_hosts=hosts)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.allow_hosts:
            if entry.startswith("*.") and host.endswith(entry[1:]):
                return True
            if host == entry:
                return True
        return False

    def address_refused(self, ip: IPAddress) -> str | None:
        """Why a connection to `ip` is refused, or None."""
        if not self.public_only:
            return None
        why = refused_class(ip)
        if why is None:
            return None
        inner = carried_ipv4(ip)
        for net in self.allow_networks:
            if any(a is not None and a.version == net.version and a in net for a in (ip, inner)):
                return None
        return why

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host` a connection may go to, in resolver order; refuses if any is refused."""
        try:
            answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as err:
            raise httpcore.ConnectError(f"cannot resolve host {host}") from err
        addresses: list[str] = []
        for *_, sockaddr in answers:
            address = str(sockaddr[0]).split("%", 1)[0]
            if address not in addresses:
                addresses.append(address)
        if not self.public_only or self.host_allowed(host):
            return addresses
        for address in addresses:
            why = self.address_refused(ipaddress.ip_address(address))
            if why is not None:
                raise OutboundRefused(host, why)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve host {host}")
        return addresses


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, and connects to the checked address; TLS still names the host (SNI, certificate)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._policy.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._network.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise OutboundRefused(path, "local socket")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


def checked_transport(
    policy: OutboundPolicy, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through the policy.

    No proxy from the environment (a client given a transport takes none): a proxy would resolve and connect
    where the policy cannot see. Certificates still follow SSL_CERT_FILE / SSL_CERT_DIR, as before, for an
    on-premises server with its own CA."""
    ssl_context = ssl_context or httpx.create_ssl_context(trust_env=True)
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=ssl_context)
    # httpx has no public hook for httpcore's network backend; the pool is rebuilt with the same limits.
    # tests/security/test_outbound_policy.py proves through real listeners that the hook holds.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_CheckedBackend(policy),
    )
    return transport


# --------------------------------------------------------------------------- URL shape (every mode)


def service_url(value: str) -> str:
    """An ADO or Jira base URL: http(s), a host, no user info, query string or fragment.

    A `?` or `#` in a base URL turns every path the client appends into a parameter of one chosen
    URL (any path of the target); user info would send credentials the user did not choose.
    """
    text = value.strip()
    if any(c in text for c in "?#\\") or any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError("a base URL has no query string (?), fragment (#), backslash or spaces")
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as err:
        raise ValueError(f"not a usable URL: {err}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("expected an http(s) URL with a host")
    if url.userinfo or "@" in text.split("//", 1)[-1].split("/", 1)[0]:
        raise ValueError("a base URL carries no user name or password (give credentials as secrets)")
    return text
