"""The settings of what listens on the network: the status API and the Wyoming
service. Loopback unless a setting says otherwise, and checked at load."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlparse

from assistant.core.schema import check


@dataclass(frozen=True, slots=True)
class StatusApiConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    allow_remote: bool = False
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides loopback ones (DNS rebinding guard)
    token_env: str | None = None  # environment variable holding a bearer token every request must carry

    def __post_init__(self) -> None:
        check(0 <= self.port <= 65535, "port", "must be between 0 and 65535")
        check(all(h.strip() and "/" not in h for h in self.allowed_hosts), "allowed_hosts",
               "host names only, e.g. [coach.lan]")
        check(self.token_env is None or bool(self.token_env.strip()), "token_env", "must not be empty")
        check(
            self.allow_remote or is_loopback(self.host),
            "host",
            f"{self.host!r} is not a loopback address; set status_api.allow_remote: true to expose the API",
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class WyomingConfig:
    """The coach as a Wyoming ``handle`` service (a conversation agent for Home
    Assistant): ``listen`` tcp://HOST:PORT (None: off); ``allow``: the peer
    addresses served (the protocol has no authentication)."""

    listen: str | None = None
    allow: tuple[str, ...] = ("127.0.0.1", "::1")
    zeroconf: bool = False  # advertise the service over mDNS (_wyoming._tcp.local.) for Home Assistant to find

    def __post_init__(self) -> None:
        where = address(self.listen) if self.listen is not None else None
        check(self.listen is None or where is not None, "listen", f"not a tcp://HOST:PORT address: {self.listen!r}")
        check(not self.zeroconf or (where is not None and not is_loopback(where[0])), "zeroconf",
              "advertises the service to other machines: set wyoming.listen to a LAN address, e.g. "
              "tcp://0.0.0.0:10800, and wyoming.allow to Home Assistant's address"
              + (f" ({where[0]} is loopback)" if where is not None else " (wyoming.listen is not set)"))
        for peer in self.allow:
            try:
                ipaddress.ip_address(peer)
            except ValueError:
                check(False, "allow", f"not an IP address: {peer!r} (peers are allowed by address)")


def address(uri: str) -> tuple[str, int] | None:
    """(host, port) of tcp://HOST:PORT, or None when ``uri`` is not one."""
    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None or parsed.path not in ("", "/"):
        return None
    return parsed.hostname, port


def check_remote(uri: str | None, timeout_s: float) -> None:
    """A remote speech service's settings (stt.uri, tts.uri and their timeouts)."""
    check(uri is None or address(uri) is not None, "uri", f"not a tcp://HOST:PORT address: {uri!r}")
    check(0.2 <= timeout_s <= 60, "timeout_s", "must be between 0.2 and 60 seconds")


def check_satellites(satellites: dict[str, str]) -> None:
    """``satellites``: names (a room each) to tcp://HOST:PORT, each address once."""
    seen: dict[tuple[str, int], str] = {}
    for name, uri in satellites.items():
        where = address(uri)
        check(where is not None, f"satellites.{name}", f"not a tcp://HOST:PORT address: {uri!r}")
        assert where is not None
        check(where not in seen, f"satellites.{name}", f"{uri} is satellites.{seen.get(where)}'s address too")
        seen[where] = name
