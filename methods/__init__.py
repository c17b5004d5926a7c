"""JMAP methods, one module per data type: argument checking and method logic only."""

from __future__ import annotations

from jmap.api import MethodRegistry

from . import blob, core, push_subscription, search_snippet, vacation_response
from .email import EmailType
from .email_submission import EmailSubmissionType
from .identity import IdentityType
from .mailbox import MailboxType
from .thread import ThreadType

DATA_TYPES = (MailboxType(), EmailType(), ThreadType(), IdentityType(), EmailSubmissionType())


def build_registry() -> MethodRegistry:
    registry = MethodRegistry()
    core.register(registry)
    blob.register(registry)
    search_snippet.register(registry)
    push_subscription.register(registry)
    vacation_response.register(registry)
    for data_type in DATA_TYPES:
        data_type.register(registry)
    return registry
