"""What one push client has been told, and what it has not been told yet.

Every write bumps its account's modseq, and a type's state is the modseq of its last change
(``jmap.ids.encode_state``). So the whole state a user can see is the modseq of each of their
accounts, and "what changed since" is every type whose modseq is above the account's modseq
the client last saw. That is the pushState of RFC 8887 and the EventSource event id of
RFC 8620 §7.3: ``ACCOUNT:MODSEQ`` pairs (modseq in hex) joined with ``.``, for example
``a1b2c3:1f.a9f0e1:4``. Account ids never contain ``:`` or ``.``.
"""

from __future__ import annotations

from jmap.ids import encode_state, is_id

#: types whose changes are never pushed (they live in the data store but have no /get state);
#: so are the server's own records kept in an account, whose type names start with "_"
#: (the suppression list, when a vacation reply went to whom)
HIDDEN_TYPES = frozenset({"PushSubscription"})


def is_hidden(type_name: str) -> bool:
    return type_name in HIDDEN_TYPES or type_name.startswith("_")


TypeStates = dict[str, int]


def encode_push_state(modseqs: dict[str, int]) -> str:
    return ".".join(f"{account}:{modseq:x}" for account, modseq in sorted(modseqs.items()))


def decode_push_state(value: object) -> dict[str, int] | None:
    """The modseqs a pushState stands for, or None if it is not one of ours."""
    if not isinstance(value, str) or len(value) > 65536:
        return None
    modseqs: dict[str, int] = {}
    if not value:
        return modseqs
    for part in value.split("."):
        account, sep, hex_modseq = part.partition(":")
        if not sep or not is_id(account) or not hex_modseq or len(hex_modseq) > 16:
            return None
        try:
            modseqs[account] = int(hex_modseq, 16)
        except ValueError:
            return None
    return modseqs


class PushView:
    """One client's view: the accounts it sees, the types it wants, what it was last told."""

    def __init__(self, account_ids: list[str], types: set[str] | None) -> None:
        self.account_ids = list(account_ids)
        self.types = types
        #: account -> the modseq up to which the client knows every change
        self.known: dict[str, int] = {}

    def wants(self, type_name: str) -> bool:
        return not is_hidden(type_name) and (self.types is None or type_name in self.types)

    def start(self, account_id: str, states: TypeStates, since: int | None = None) -> None:
        """Take the account's current states as known (or ``since``, to report the rest).

        A ``since`` beyond the current state (a token from elsewhere) reports everything.
        """
        current = max(states.values(), default=0)
        if since is not None and since > current:
            since = 0
        self.known[account_id] = current if since is None else since

    def advance(self, account_id: str, states: TypeStates) -> dict[str, str]:
        """The wanted types that changed since the client was last told; now told."""
        since = self.known.get(account_id, 0)
        changed = {
            name: encode_state(modseq)
            for name, modseq in states.items()
            if modseq > since and self.wants(name)
        }
        self.known[account_id] = max(since, max(states.values(), default=0))
        return changed

    def push_state(self) -> str:
        return encode_push_state(self.known)


def state_change(changed: dict[str, dict[str, str]]) -> dict[str, object]:
    return {"@type": "StateChange", "changed": changed}
