"""Tell systemd when the service is ready and when it is stopping (``sd_notify``).

Under ``Type=notify`` systemd counts the unit as started only once ``READY=1`` arrives, so
``systemctl start`` returns (and units ordered after it start) when the schema has been
checked, the key proved and the web server is listening — not merely when the process
exists. Outside systemd ``NOTIFY_SOCKET`` is unset and these calls do nothing. The protocol
is one datagram on a Unix socket (sd_notify(3)); a leading ``@`` names an abstract socket.
"""

from __future__ import annotations

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to systemd; return whether it was sent."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        # Readiness is a courtesy to the supervisor; failing to send it must not stop us.
        return False
    return True
