"""JMAP methods, one module per data type: argument checking and method logic only.

The modules are imported by ``build_registry``, not here, so that a command that needs one
helper (the CLI creating an account's default identity) does not load every method."""

from __future__ import annotations

from jmap.api import MethodRegistry


def build_registry() -> MethodRegistry:
    from . import blob, core, push_subscription, search_snippet, vacation_response
    from .email import EmailType
    from .email_submission import EmailSubmissionType
    from .identity import IdentityType
    from .mailbox import MailboxType
    from .thread import ThreadType

    registry = MethodRegistry()
    for module in (core, blob, search_snippet, push_subscription, vacation_response):
        module.register(registry)
    data_types = (MailboxType(), EmailType(), ThreadType(), IdentityType(), EmailSubmissionType())
    for data_type in data_types:
        data_type.register(registry)
    return registry
