"""Settings from the environment: defaults, checked values, and URLs shown without secrets."""

from __future__ import annotations

import asyncio

import pytest
from modelport_redis import Settings
from modelport_redis._settings import redact_url

from modelport import GenerateConfig, get_model
from modelport.errors import CacheError, ModelInputError


def test_defaults_and_variables() -> None:
    assert Settings.from_env({}) == Settings()
    got = Settings.from_env(
        {
            "MODELPORT_REDIS_URL": "rediss://u:pw@cache:6380/2",
            "MODELPORT_REDIS_PREFIX": "team-a",
            "MODELPORT_REDIS_LEASE_TTL": "2.5",
            "MODELPORT_REDIS_MAX_WAIT": "30",
            "MODELPORT_REDIS_MAX_ENTRY_BYTES": "1000",
            "MODELPORT_REDIS_RETRY": "0.5",
        }
    )
    assert (got.prefix, got.lease_ttl, got.max_wait, got.max_entry_bytes, got.retry) == (
        "team-a",
        2.5,
        30.0,
        1000,
        0.5,
    )
    assert got.where == "rediss://cache:6380/2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODELPORT_REDIS_LEASE_TTL", "soon"),
        ("MODELPORT_REDIS_LEASE_TTL", "0"),
        ("MODELPORT_REDIS_MAX_WAIT", "-1"),
        ("MODELPORT_REDIS_RETRY", "inf"),
        ("MODELPORT_REDIS_MAX_ENTRY_BYTES", "0"),
        ("MODELPORT_REDIS_PREFIX", "two words"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h:1/0", "redis://h:1/0"),
        ("redis://user:secret@h/3?socket_timeout=1", "redis://h/3"),
        ("rediss://[::1]:6380/0", "rediss://[::1]:6380/0"),
        ("unix:///run/redis.sock?password=secret", "unix:///run/redis.sock"),
    ],
)
def test_urls_are_shown_without_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_bad_settings_fail_the_store_and_the_limiter_clearly(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_REDIS_LEASE_TTL", "soon")
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    model = get_model("redisecho/model", base_url="http://127.0.0.1:9", memoize=False)
    with pytest.raises(CacheError, match="MODELPORT_REDIS_LEASE_TTL"):
        asyncio.run(model.generate("hi", cache=True))
    monkeypatch.delenv("MODELPORT_CACHE_STORE")
    monkeypatch.setenv("MODELPORT_LIMITER", "redis")
    with pytest.raises(ModelInputError, match="MODELPORT_REDIS_LEASE_TTL"):
        asyncio.run(model.generate("hi", config=GenerateConfig(max_retries=0)))


@pytest.mark.parametrize(
    "url",
    [
        "redis://:S3cretPrefix#rest@127.0.0.1:6399/0",  # '#' starts a fragment
        "redis://:S3cret/Prefix@127.0.0.1:6399/0",  # '/' ends the host
        "http://127.0.0.1:6379/0",
    ],
)
def test_a_url_redis_cannot_parse_is_refused_without_its_password(
    fresh: None, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """A password with an unencoded '#' or '/' makes a URL redis-py cannot read (its error
    quotes the start of the password). The settings refuse it at once, naming the variable
    and not the password; the limiter and the store fail clearly instead of hanging."""
    with pytest.raises(ValueError, match="MODELPORT_REDIS_URL is not a Redis URL") as info:
        Settings.from_env({"MODELPORT_REDIS_URL": url})
    assert "S3cret" not in str(info.value)
    monkeypatch.setenv("MODELPORT_REDIS_URL", url)
    monkeypatch.setenv("MODELPORT_LIMITER", "redis")
    model = get_model("redisecho/model", base_url="http://127.0.0.1:9", memoize=False)
    with pytest.raises(ModelInputError, match="MODELPORT_REDIS_URL") as error:
        asyncio.run(
            asyncio.wait_for(model.generate("hi", config=GenerateConfig(max_retries=0)), 10)
        )
    assert "S3cret" not in str(error.value) and "S3cret" not in repr(error.value.__cause__)
    monkeypatch.delenv("MODELPORT_LIMITER")
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    with pytest.raises(CacheError, match="MODELPORT_REDIS_URL"):
        asyncio.run(asyncio.wait_for(model.generate("hi", cache=True), 10))
