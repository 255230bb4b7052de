"""Settings, read from the environment when the store or the limiter is first built."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from redis.connection import parse_url

URL_ENV = "MODELPORT_REDIS_URL"
PREFIX_ENV = "MODELPORT_REDIS_PREFIX"
LEASE_TTL_ENV = "MODELPORT_REDIS_LEASE_TTL"
MAX_WAIT_ENV = "MODELPORT_REDIS_MAX_WAIT"
MAX_ENTRY_BYTES_ENV = "MODELPORT_REDIS_MAX_ENTRY_BYTES"
RETRY_ENV = "MODELPORT_REDIS_RETRY"

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "modelport"
DEFAULT_LEASE_TTL = 10.0
DEFAULT_MAX_WAIT = 600.0
DEFAULT_MAX_ENTRY_BYTES = 16 * 1024 * 1024
DEFAULT_RETRY = 1.0

WARN_EVERY = 60.0
"""Seconds between the warnings repeated while Redis stays unavailable."""


@dataclass(frozen=True)
class Settings:
    """How the plugin reaches and uses Redis.

    Attributes:
        url: The server (`redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS,
            `unix:///path.sock`); socket options may be given as query arguments
            (`?socket_timeout=2`).
        prefix: First part of every key and channel, so several deployments (or other users
            of the server) do not meet.
        lease_ttl: Seconds a lease (a call in flight, a concurrency slot) lives without being
            renewed: how long a process that died keeps others waiting.
        max_wait: Seconds a call waits for an identical call in flight before making it
            itself.
        max_entry_bytes: Entries larger than this are neither written nor read.
        retry: Seconds between attempts to reach a server that is unavailable.
    """

    url: str = DEFAULT_URL
    prefix: str = DEFAULT_PREFIX
    lease_ttl: float = DEFAULT_LEASE_TTL
    max_wait: float = DEFAULT_MAX_WAIT
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    retry: float = DEFAULT_RETRY

    def __post_init__(self) -> None:
        if not self.url.strip():
            raise ValueError(f"{URL_ENV} is empty: give a redis:// URL")
        try:
            parse_url(self.url)  # type: ignore[no-untyped-call]
        except ValueError:  # its text may quote part of the password: not shown
            raise ValueError(
                f"{URL_ENV} is not a Redis URL ({redact_url(self.url)}): give "
                "redis://[[user]:password@]host[:port][/db], rediss://... or unix:///path, "
                "with any '#', '/', '?' or '@' in the password percent-encoded (%23, %2F, "
                "%3F, %40)"
            ) from None
        if not self.prefix or any(c.isspace() for c in self.prefix):
            raise ValueError(f"{PREFIX_ENV} must be a word without spaces, not {self.prefix!r}")
        for name, value in (
            (LEASE_TTL_ENV, self.lease_ttl),
            (MAX_WAIT_ENV, self.max_wait),
            (RETRY_ENV, self.retry),
        ):
            if not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.lease_ttl < 0.1:
            raise ValueError(f"{LEASE_TTL_ENV} must be at least 0.1 seconds")
        if self.max_entry_bytes < 1:
            raise ValueError(f"{MAX_ENTRY_BYTES_ENV} must be a positive number of bytes")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the `MODELPORT_REDIS_*` variables give (defaults for those unset).

        Raises:
            ValueError: a variable holds a value that is not valid (named in the message).
        """
        env = os.environ if environ is None else environ
        return cls(
            url=env.get(URL_ENV) or DEFAULT_URL,
            prefix=env.get(PREFIX_ENV) or DEFAULT_PREFIX,
            lease_ttl=_number(env, LEASE_TTL_ENV, DEFAULT_LEASE_TTL),
            max_wait=_number(env, MAX_WAIT_ENV, DEFAULT_MAX_WAIT),
            max_entry_bytes=int(_number(env, MAX_ENTRY_BYTES_ENV, DEFAULT_MAX_ENTRY_BYTES)),
            retry=_number(env, RETRY_ENV, DEFAULT_RETRY),
        )

    @property
    def where(self) -> str:
        """The server, for messages: the URL without its user, password or query."""
        return redact_url(self.url)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None


def redact_url(url: str) -> str:
    """`url` without user, password, query or fragment (messages never show a password)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an invalid Redis URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"
