"""Free 127.0.0.1 ports for the servers the tests start (SuperLinks, SuperNodes, JupyterLab).

A port from bind(("127.0.0.1", 0)) is ephemeral: any client socket of the busy test session
can be given it between the check and the server's own bind (CI once saw a SuperNode fail
with "address already in use"). Ports below the kernel's ephemeral range are never handed
to outgoing connections, so only a listener could take one, and this process never gives
one out twice.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_LOCK = threading.Lock()
_GIVEN: set[int] = set()
_SPAN = 12_000  # how many ports below the ephemeral range to draw from


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections (Linux; its default elsewhere)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return low, high


def free_port() -> int:
    """A port below the ephemeral range that is free now and was not given out before."""
    low, _ = ephemeral_range()
    candidates = list(range(max(1024, low - _SPAN), low)) or [0]  # [0]: the kernel's choice
    random.SystemRandom().shuffle(candidates)
    with _LOCK:
        for port in candidates:
            if port in _GIVEN:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = probe.getsockname()[1]
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free port on 127.0.0.1 below {low}")
