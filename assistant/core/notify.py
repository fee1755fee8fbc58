"""systemd's notify protocol, spoken directly: a datagram to $NOTIFY_SOCKET.
Outside systemd (no NOTIFY_SOCKET) every call is a no-op."""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


def notify(*lines: str) -> bool:
    """Send e.g. ``notify("READY=1", "STATUS=listening")``; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        return True
    except OSError as err:
        logger.warning("cannot notify systemd at %s: %s", address, err)
        return False


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None if not asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.05)
    except ValueError:
        return None
