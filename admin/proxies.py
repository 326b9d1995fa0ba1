"""The client's address behind a reverse proxy.

Anyone can send X-Forwarded-For, so it is believed only from the proxies the operator names
(SUPPORTDESK_TRUSTED_PROXIES); from any other peer the header is ignored and the peer's own
address is the client. The login throttle and the contact form's limit key on this address.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp_remotes import XForwardedFiltered

Network = IPv4Network | IPv6Network


def client_address(request: web.Request) -> str:
    """The address limits are counted by ("" for a Unix socket without a proxy)."""
    return request.remote or ""


class TrustedProxies:
    """Outermost middleware: replaces `request.remote` with the client a trusted proxy
    reports. X-Forwarded-For goes through aiohttp-remotes (rightmost untrusted hop);
    RFC 7239 Forwarded is read the same way."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = list(networks)
        self._x_forwarded = XForwardedFiltered(set(self._networks)) if self._networks else None

    def trusts(self, address: str | None) -> bool:
        parsed = _ip(address)
        return parsed is not None and any(parsed in net for net in self._networks)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._x_forwarded is None or not self.trusts(request.remote):
            return await handler(request)
        if hdrs.X_FORWARDED_FOR in request.headers:
            return await self._x_forwarded.middleware(request, handler)
        client = self._forwarded_client(request)
        if client is not None:
            request = request.clone(remote=client)
        return await handler(request)

    def _forwarded_client(self, request: web.Request) -> str | None:
        """The rightmost `for=` that is not one of our proxies; None when there is none
        or it is not an address (e.g. an obfuscated `_hidden`)."""
        for element in reversed(request.forwarded):
            address = _ip(_strip_port(element.get("for") or ""))
            if address is None:
                return None
            if not self.trusts(str(address)):
                return str(address)
        return None


def _strip_port(value: str) -> str:
    if value.startswith("["):  # "[2001:db8::1]:4711"
        return value[1:].split("]", 1)[0]
    host, sep, _ = value.rpartition(":")
    return host if sep and host.count(":") == 0 else value


def _ip(value: str | None) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value or "")
    except ValueError:
        return None
