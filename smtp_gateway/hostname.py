"""The SMTP host name: EHLO greeting, Received fields, the MX target `fulmar dns` prints."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from jmap.config import Config


def smtp_hostname(config: Config) -> str:
    """``smtp_hostname`` if set, else the host of ``base_url``, else ``socket.getfqdn()``."""
    if config.smtp_hostname:
        return config.smtp_hostname.strip().rstrip(".").lower()
    host = urlsplit(config.base_url).hostname if config.base_url else None
    return (host or socket.getfqdn()).rstrip(".").lower()
