"""The roles of a node (``fulmar serve --roles api,smtp,worker``).

- ``api``: JMAP over HTTP (Session, API, uploads and downloads) and the push endpoints
  (WebSocket, EventSource, the VAPID key);
- ``smtp``: the SMTP listeners (``smtp_listen``, ``submission_listen``,
  ``submissions_listen``);
- ``worker``: the background work: the inbound delivery and outbound queues, housekeeping,
  the search feeder.

Every node, whatever its roles, answers ``/healthz`` and ``/metrics``, publishes its own
writes on the bus and sends the PushSubscription pushes of the changes it published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config

API, SMTP, WORKER = "api", "smtp", "worker"
ALL_ROLES = (API, SMTP, WORKER)


class RolesError(ValueError):
    """The roles setting names no role, or a role that does not exist."""


def parse_roles(value: Any) -> tuple[str, ...]:
    """``"api,worker"`` or ``["api", "worker"]`` → ``("api", "worker")`` in the canonical
    order, each once; names are case-insensitive and blanks around them ignored."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise RolesError(f"roles must be a list of {', '.join(ALL_ROLES)}, not {value!r}")
    names = {i.strip().lower() for i in items if i.strip()}
    if not names:
        raise RolesError(f"roles must name at least one of {', '.join(ALL_ROLES)}")
    unknown = sorted(names - set(ALL_ROLES))
    if unknown:
        raise RolesError(
            f"unknown role {', '.join(map(repr, unknown))}: roles are {', '.join(ALL_ROLES)}"
        )
    return tuple(r for r in ALL_ROLES if r in names)


def roles_problem(config: Config) -> str | None:
    """Why this node's roles cannot run with these settings (checked before serving).

    A node with the ``smtp`` role must listen somewhere. The one exception is a node that
    runs every role (the default, one server for everything): it may run without any SMTP
    listener, as it always could.
    """
    roles = config.roles
    listeners = config.smtp_listen or config.submission_listen or config.submissions_listen
    if SMTP in roles and not listeners and set(roles) != set(ALL_ROLES):
        return (
            "the smtp role needs an SMTP listener: set smtp_listen, submission_listen "
            "or submissions_listen (--smtp-listen, FULMAR_SMTP_LISTEN)"
        )
    return None
