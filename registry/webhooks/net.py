"""Outgoing webhook requests: only to allowed addresses, pinned to the address checked, no redirects.

A URL's host is resolved once per send; every address is checked against the policy and the request
connects to the checked address itself (the Host header and, for https, SNI and the certificate check
use the host name), so a name that resolves to a public address at the check and to 127.0.0.1 at the
connect (DNS rebinding) cannot reach an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_RESPONSE_BYTES = 65536


class Refused(Exception):
    """The URL or the address it resolves to is not allowed (the message says why)."""


@dataclass(frozen=True)
class Policy:
    """REGISTRY_WEBHOOK_ALLOWED_HOSTS: host names (``*.example.com`` for a domain) and CIDR ranges."""

    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Policy:
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def name_listed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def allows(self, host: str, address: Address) -> bool:
        """Public addresses are allowed; any other only for a listed host name or a listed range."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.networks):
            return True
        if self.name_listed(host):
            return True
        return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def split_url(url: str) -> tuple[str, str, int, str]:
    """Return (scheme, host, port, path with query) or raise Refused for a URL webhooks cannot use."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("the scheme must be http or https")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not hold a user name or password")
    if parts.fragment:
        raise Refused("the URL must not have a fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str, policy: Policy) -> Target:
    """Resolve the URL's host and return the first allowed address; Refused if none is."""
    scheme, host, port, path = split_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve: {exc}") from None
    refused = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if policy.allows(host, address):
            return Target(scheme, host, port, path, str(address))
        refused.append(str(address))
    raise Refused(
        f"{host} resolves to {', '.join(sorted(set(refused)))}: not allowed (loopback, private and "
        "link-local addresses need REGISTRY_WEBHOOK_ALLOWED_HOSTS)"
    )


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Sender:
    """Keeps one connection pool per (scheme, address, port, host): keep-alive between sends."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_size: int = 4) -> None:
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.pool_size = pool_size
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                options: dict[str, Any] = {
                    "timeout": self.timeout,
                    "retries": False,
                    "maxsize": self.pool_size,
                    "block": False,
                }
                if target.scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        target.address,
                        target.port,
                        server_hostname=target.host,
                        assert_hostname=target.host,
                        cert_reqs="CERT_REQUIRED",
                        **options,
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
                self._pools[key] = pool
        return pool

    def post(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST to the checked address; redirects are answers, never followed."""
        default_port = 443 if target.scheme == "https" else 80
        host = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host and not target.host.startswith("["):
            host = f"[{target.host}]" + ("" if target.port == default_port else f":{target.port}")
        response = self._pool(target).urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            data = response.read(MAX_RESPONSE_BYTES, decode_content=False) or b""
        except BaseException:
            response.close()
            raise
        if len(data) >= MAX_RESPONSE_BYTES:
            response.close()  # a receiver answering at length: drop the connection, read no more
        else:
            response.release_conn()
        return Answer(response.status, data)

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
