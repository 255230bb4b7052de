"""Where AWS credentials and the region come from, as the AWS SDKs and CLI read them:
environment variables and the shared `credentials` and `config` files, with static keys.

Profiles that get their keys some other way (IAM Identity Center, an assumed role, a
`credential_process`, instance or container metadata) need the SDK's machinery: pass
`aws_credentials=` a function returning them (e.g. botocore's frozen credentials).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Mapping
from typing import Any

from modelport.errors import ModelInputError

from ._sigv4 import Credentials

__all__ = [
    "CREDENTIAL_VARS",
    "REGION_VARS",
    "AwsCredentials",
    "as_credentials",
    "find_credentials",
    "find_region",
]

CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
"""The variables credentials are read from."""

REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
"""The variables the region is read from, in order."""

AwsCredentials = Credentials | Callable[[], Any]
"""Credentials found in the environment or files, or a function returning fresh ones before
each request: a `Credentials`, an object with `access_key`, `secret_key` and `token`
attributes (botocore's), or a tuple `(access_key_id, secret_access_key[, session_token])`."""

_INDIRECT = (
    "role_arn",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "credential_source",
)


def as_credentials(value: Any) -> Credentials:
    """`value` (see `AwsCredentials`) as `Credentials`, or `ModelInputError` (not echoing it)."""
    if isinstance(value, Credentials):
        found = value
    elif isinstance(value, tuple) and len(value) in (2, 3):
        found = Credentials(*value)
    elif hasattr(value, "access_key") and hasattr(value, "secret_key"):
        found = Credentials(value.access_key, value.secret_key, getattr(value, "token", None))
    else:
        raise ModelInputError(
            f"bedrock: aws_credentials gave a {type(value).__name__}, not credentials: give "
            "Credentials, (access_key_id, secret_access_key[, session_token]) or an object "
            "with access_key, secret_key and token"
        )
    for what in (found.access_key_id, found.secret_access_key, found.session_token):
        if what is None:
            continue
        if (
            not isinstance(what, str)
            or not what
            or any(not c.isprintable() or c.isspace() for c in what)
        ):
            raise ModelInputError(
                "bedrock: an AWS access key id, secret access key or session token is empty, "
                "not a string, or contains whitespace or control characters"
            )
    return found


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def _read(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(_expand(path), encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as ex:
        raise ModelInputError(
            f"bedrock: cannot read the AWS file {path}: {type(ex).__name__}"
        ) from None
    return parser


def _section(parser: configparser.RawConfigParser, name: str) -> Mapping[str, str] | None:
    if parser.has_section(name):
        return dict(parser.items(name))
    return None


def _profile(env: Mapping[str, str], name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The profile's entries in the credentials file and in the config file."""
    credentials_file = env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    config_file = env.get("AWS_CONFIG_FILE") or "~/.aws/config"
    in_credentials = _section(_read(credentials_file), name) or {}
    config = _read(config_file)
    in_config = _section(config, f"profile {name}") or (
        _section(config, "default") if name == "default" else None
    )
    return dict(in_credentials), dict(in_config or {})


def _profile_name(env: Mapping[str, str], profile: str | None) -> str:
    return profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"


def find_credentials(
    profile: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """Static credentials as the AWS SDKs find them: a named `profile` (given here) first,
    then `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), then the
    profile `AWS_PROFILE` (else `default`) of the shared credentials file, then of the config
    file. None when there are none.

    Raises:
        ModelInputError: the profile was named but does not exist, or it gets its keys in a
            way this reader does not follow (a role, IAM Identity Center, a process).
    """
    env = os.environ if env is None else env
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return as_credentials(
            (
                env["AWS_ACCESS_KEY_ID"],
                env["AWS_SECRET_ACCESS_KEY"],
                env.get("AWS_SESSION_TOKEN") or None,
            )
        )
    name = _profile_name(env, profile)
    named = profile is not None or bool(env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"))
    in_credentials, in_config = _profile(env, name)
    for entries in (in_credentials, in_config):
        key, secret = entries.get("aws_access_key_id"), entries.get("aws_secret_access_key")
        if key and secret:
            return as_credentials((key, secret, entries.get("aws_session_token") or None))
    indirect = sorted(k for k in _INDIRECT if k in in_config or k in in_credentials)
    if indirect:
        raise ModelInputError(
            f"bedrock: the AWS profile {name!r} gets its credentials through "
            f"{', '.join(indirect)}, which modelport-bedrock does not resolve itself: pass "
            "aws_credentials= a function returning them, e.g. "
            f"boto3.Session(profile_name={name!r}).get_credentials().get_frozen_credentials"
        )
    if named and not in_credentials and not in_config:
        raise ModelInputError(f"bedrock: the AWS profile {name!r} is not in the shared files")
    return None


def find_region(
    region: str | None = None, profile: str | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The region: `region` (given here), else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else
    the profile's `region` in the config file; None when none says."""
    env = os.environ if env is None else env
    found = region or next((env[v] for v in REGION_VARS if env.get(v)), None)
    if found:
        return found
    _, in_config = _profile(env, _profile_name(env, profile))
    return in_config.get("region") or None
