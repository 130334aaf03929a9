"""Identifiers and tokens shaped like Slack's, so code that pattern-matches them is exercised."""

from __future__ import annotations

import random
import secrets
import string

_ID_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def slack_id(rng: random.Random, prefix: str, length: int = 10) -> str:
    """An object id such as ``C05ABCDEF12``: a type letter and upper-case alphanumerics."""
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(length))


def block_id(rng: random.Random) -> str:
    """The short id Slack assigns to a block that was posted without one."""
    return "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(5))


def client_id(rng: random.Random) -> str:
    """An OAuth client id in Slack's ``<team number>.<app number>`` form."""
    return f"{rng.randrange(10**9, 10**10)}.{rng.randrange(10**11, 10**12)}"


def _random_part(length: int) -> str:
    # Tokens come from ``secrets``, not the seeded generator: a simulator started from the
    # command line prints a token that must not be guessable from the seed.
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def bot_token(*, rotating: bool) -> str:
    """``xoxb-…`` or, with token rotation, ``xoxe.xoxb-1-…`` (research/slack.md §3)."""
    if rotating:
        return "xoxe.xoxb-1-" + _random_part(40)
    digits = f"{secrets.randbelow(10**11):011d}-{secrets.randbelow(10**11):011d}"
    return f"xoxb-{digits}-{_random_part(24)}"


def refresh_token() -> str:
    """A rotation refresh token, ``xoxe-1-…``."""
    return "xoxe-1-" + _random_part(40)


def oauth_code() -> str:
    """A temporary authorization code as handed to the redirect URI."""
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**13)}." + secrets.token_hex(32)


def client_secret() -> str:
    return secrets.token_hex(16)
