"""Where outbound requests may go: one destination policy for every request
a call makes (webhooks, data_map, includes, remote documents, summaries).

Addresses are checked after DNS resolution, on every connection (redirects
included), so a public name that resolves to a private address is refused
too. Refused unless the operator allows them:

- loopback (127.0.0.0/8, ::1) — `allow_loopback`, the development switch
  (`CALLKERNEL_ALLOW_LOOPBACK=1`; the demo and the tests use it);
- private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) —
  `allow_private` (`CALLKERNEL_ALLOW_PRIVATE_NETWORKS=1`), for an application
  on the operator's own network.

Never allowed: link-local addresses (169.254.0.0/16, fe80::/10), which hold
cloud metadata services, and unspecified, multicast and reserved addresses.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

_TRUE = ("1", "true", "yes", "on")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class DestinationRefused(OSError):
    """The policy refused every address the name resolved to."""


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    allow_loopback: bool = False
    allow_private: bool = False
    # Where the policy comes from, so a refusal says how to allow it: the
    # environment (the CLI), or a server's settings.
    set_by_server: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DestinationPolicy:
        return cls(env.get("CALLKERNEL_ALLOW_LOOPBACK", "").lower() in _TRUE,
                   env.get("CALLKERNEL_ALLOW_PRIVATE_NETWORKS", "").lower() in _TRUE)

    def why_refused(self, address: str) -> str | None:
        """None when requests may go to `address` (an IP literal), else why not."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address} is not an IP address"
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if ip.is_loopback:
            return None if self.allow_loopback else \
                "a loopback address (" + ("serve --allow-loopback true allows it"
                                          if self.set_by_server else
                                          "set CALLKERNEL_ALLOW_LOOPBACK=1") + \
                " for development)"
        if ip.is_link_local:
            return "a link-local address (cloud metadata lives there)"
        if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
            return "not a routable unicast address"
        if ip.is_private or ip in _CGNAT:
            return None if self.allow_private else \
                "a private network address (" + ("serve --allow-private-networks true "
                                                 "allows it" if self.set_by_server
                                                 else "set CALLKERNEL_ALLOW_PRIVATE_NETWORKS"
                                                 "=1 to allow") + ")"
        return None


class PolicyResolver(AbstractResolver):
    """Resolves with the default resolver, then keeps only allowed addresses."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        literal = _literal(host)
        if literal is not None:
            why = self.policy.why_refused(literal)
            if why is not None:
                raise DestinationRefused(f"{host} is {why}")
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if self.policy.why_refused(r["host"]) is None]
        if not allowed:
            why = self.policy.why_refused(results[0]["host"]) if results else "unresolved"
            raise DestinationRefused(f"{host} resolves to {why}")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def _literal(host: str) -> str | None:
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    return candidate


def connector(policy: DestinationPolicy, **options: Any) -> aiohttp.TCPConnector:
    """A connector whose every connection obeys the policy."""
    return aiohttp.TCPConnector(resolver=PolicyResolver(policy), **options)
