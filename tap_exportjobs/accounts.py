"""Whose data a stream's state describes: state written for one account never applies to
another.

A provider's streams name the settings that say which account they read (`account_settings`,
e.g. an org id); with the API's address they make a fingerprint kept in each stream's state.
A run whose fingerprint differs from the state's (a changed `api_url`, org, account, tenant
or store key) starts that stream fresh from `start_date`, with a warning, instead of
skipping the new account's jobs behind the old one's bookmark. State without a fingerprint
(written before it existed) is taken as the current account's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Stream

logger = logging.getLogger(__name__)

#: The key in a stream's state holding its account fingerprint.
ACCOUNT_KEY = "account"


def account_fingerprint(stream: Stream) -> str | None:
    """A short hash of the API address and account settings a stream reads with; None for a
    stream bound to no account (a rows stream: its progress lives in its job stream's state)."""
    provider = getattr(stream, "provider", None)
    keys = getattr(stream, "account_settings", None)
    if provider is None or keys is None:
        return None
    block = stream.config.get(provider) or {}
    own = getattr(stream, "account_identity", None)  # a provider's resolved values, if any
    values = own() if callable(own) else {key: block.get(key) for key in keys}
    identity = [provider, stream.url_base, values]  # type: ignore[attr-defined]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def start_fresh_for_other_accounts(streams: t.Iterable[Stream]) -> None:
    """Drop the state of every stream that was written for another account, and record the
    current account in each (so the STATE the run writes says whose it is)."""
    for stream in streams:
        fingerprint = account_fingerprint(stream)
        if fingerprint is None:
            continue
        state = stream.get_context_state(None)
        recorded = state.get(ACCOUNT_KEY)
        if recorded is not None and recorded != fingerprint:
            logger.warning(
                "%s: the state was written for another account (the %s block's api_url or %s "
                "changed): starting this stream fresh from start_date",
                stream.name,
                getattr(stream, "provider", "?"),
                " / ".join(getattr(stream, "account_settings", ())),
            )
            state.clear()
        state[ACCOUNT_KEY] = fingerprint
