"""The name this server gives itself in SMTP (EHLO/greeting, Received, MX records)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from jmap.config import Config


def smtp_hostname(config: Config) -> str:
    """``smtp_hostname``; else the host of ``base_url``; else ``socket.getfqdn()``."""
    if config.smtp_hostname:
        return config.smtp_hostname.strip().rstrip(".").lower()
    if config.base_url:
        host = urlsplit(config.base_url).hostname
        if host:
            return _literal(host.rstrip(".").lower())
    return socket.getfqdn()


def _literal(host: str) -> str:
    """An IP address as an address literal (RFC 5321 §4.1.3), a name as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"
