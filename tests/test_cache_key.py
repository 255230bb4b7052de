"""The cache policy, the epoch and the cache key (a pure function)."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.cache_kit import CONFIG_VALUES

from modelport import (
    CachePolicy,
    ChatMessageSystem,
    ChatMessageUser,
    ContentAudio,
    ContentDocument,
    ContentImage,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ToolFunction,
    ToolInfo,
    cache_epoch,
)
from modelport.cache import EXCLUDED_FIELDS, KEY_FIELDS, cache_key
from modelport.errors import CacheError, ModelportError

# -- policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("12h", 43_200),
        ("2D", 172_800),
        ("1W", 604_800),
        ("1M", 2_592_000),
        ("1Y", 31_536_000),
    ],
)
def test_expiry_strings(text: str, seconds: int) -> None:
    policy = CachePolicy(expiry=text)
    assert policy.expiry == seconds
    assert policy.expiry_text == text


def test_default_policy_and_never_expiring() -> None:
    policy = CachePolicy()
    assert (policy.expiry, policy.per_epoch, policy.scopes) == (604_800, True, {})
    assert CachePolicy(expiry=None).expiry is None


@pytest.mark.parametrize("bad", ["1w", "12", "h", "0h", "-1h", "1.5h", " 1h", "1 h", "1hh", ""])
def test_malformed_expiry_is_an_error_naming_the_value(bad: str) -> None:
    with pytest.raises(CacheError, match=repr(bad)) as info:
        CachePolicy(expiry=bad)
    assert isinstance(info.value, ValueError), "code written for the reference catches this"


def test_cache_error_is_a_modelport_error_and_a_value_error() -> None:
    assert issubclass(CacheError, ModelportError) and issubclass(CacheError, ValueError)


def test_scopes_are_copied_and_checked() -> None:
    scopes = {"role": "grader"}
    policy = CachePolicy(scopes=scopes)
    scopes["role"] = "changed"
    assert policy.scopes == {"role": "grader"}
    with pytest.raises(CacheError, match="scopes"):
        CachePolicy(scopes={1: "x"})  # type: ignore[dict-item]
    assert CachePolicy(expiry="1h") == CachePolicy(expiry="60m")
    assert "expiry='1h'" in repr(CachePolicy(expiry="1h"))


# -- epoch ---------------------------------------------------------------------------------


def _epoch() -> int | None:
    from modelport.cache._policy import current_epoch

    return current_epoch()


def test_cache_epoch_sets_and_restores() -> None:
    assert _epoch() is None
    with cache_epoch(1):
        assert _epoch() == 1
        with cache_epoch(2) as inner:
            assert inner == 2 and _epoch() == 2
        assert _epoch() == 1
    assert _epoch() is None


def test_cache_epoch_is_per_task() -> None:
    async def task(n: int) -> list[int | None]:
        seen = []
        with cache_epoch(n):
            for _ in range(3):
                await asyncio.sleep(0)
                seen.append(_epoch())
        return seen

    async def main() -> list[list[int | None]]:
        return list(await asyncio.gather(task(1), task(2), task(3)))

    assert asyncio.run(main()) == [[1] * 3, [2] * 3, [3] * 3]


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_cache_epoch_rejects_what_is_not_a_count(bad: Any) -> None:
    with pytest.raises(CacheError, match="epoch"), cache_epoch(bad):
        pass


# -- key -----------------------------------------------------------------------------------


def test_every_config_field_is_decided() -> None:
    """A new GenerateConfig field must be put in KEY_FIELDS or EXCLUDED_FIELDS (in
    modelport/cache/_key.py): does it change what the model answers?"""
    fields = set(GenerateConfig.model_fields)
    undecided = fields - KEY_FIELDS - EXCLUDED_FIELDS
    assert not undecided, f"decide whether these belong in the cache key: {sorted(undecided)}"
    assert not KEY_FIELDS & EXCLUDED_FIELDS
    assert not (KEY_FIELDS | EXCLUDED_FIELDS) - fields, "a decided field no longer exists"
    assert {"max_retries", "timeout", "max_connections", "batch"} == EXCLUDED_FIELDS


BASE: dict[str, Any] = {
    "provider": "p",
    "model": "m",
    "base_url": None,
    "model_args": {},
    "messages": [ChatMessageUser(content="hi")],
    "tools": [],
    "tool_choice": "none",
    "config": GenerateConfig(),
    "epoch": None,
    "scopes": {},
}

TOOL = ToolInfo(name="f", description="d")

CHANGES: dict[str, Any] = {
    "provider": "q",
    "model": "m2",
    "base_url": "http://127.0.0.1:1/v1",
    "model_args": {"region": "eu"},
    "messages": [ChatMessageUser(content="hi!")],
    "tools": [TOOL],
    "tool_choice": ToolFunction(name="f"),
    "epoch": 1,
    "scopes": {"role": "grader"},
}


def key(**changes: Any) -> str:
    return cache_key(**{**BASE, **changes})


def test_key_is_a_stable_sha256() -> None:
    assert key() == key()
    assert len(key()) == 64 and int(key(), 16) >= 0


@pytest.mark.parametrize("ingredient", sorted(CHANGES))
def test_each_ingredient_changes_the_key(ingredient: str) -> None:
    assert key(**{ingredient: CHANGES[ingredient]}) != key()


def test_config_values_cover_every_key_field() -> None:
    assert set(CONFIG_VALUES) == KEY_FIELDS


@pytest.mark.parametrize("field", sorted(KEY_FIELDS))
def test_each_output_affecting_config_field_changes_the_key(field: str) -> None:
    config = GenerateConfig(**{field: CONFIG_VALUES[field]})
    assert key(config=config) != key()


@pytest.mark.parametrize(
    ("field", "value"), [("max_retries", 3), ("timeout", 5.0), ("max_connections", 2)]
)
def test_call_mechanics_do_not_change_the_key(field: str, value: Any) -> None:
    assert key(config=GenerateConfig(**{field: value})) == key()


def test_message_ids_and_source_do_not_change_the_key() -> None:
    plain = key(messages=[ChatMessageUser(content="hi")])
    assert key(messages=[ChatMessageUser(content="hi", id="abc", source="input")]) == plain
    assert key(messages=[ChatMessageSystem(content="hi")]) != plain


def test_message_order_and_dict_order() -> None:
    a, b = ChatMessageUser(content="a"), ChatMessageUser(content="b")
    assert key(messages=[a, b]) != key(messages=[b, a])
    assert key(model_args={"x": 1, "y": 2}) == key(model_args={"y": 2, "x": 1})
    assert key(scopes={"a": "1", "b": "2"}) == key(scopes={"b": "2", "a": "1"})


def test_model_args_without_a_canonical_form_are_an_error() -> None:
    with pytest.raises(CacheError, match="model arg"):
        key(model_args={"client": object()})
    with pytest.raises(CacheError, match="canonical"):
        key(model_args={"x": float("nan")})


# -- local files, functions ------------------------------------------------------------------


def _media(kind: str, value: str) -> ChatMessageUser:
    part: Any
    if kind == "image":
        part = ContentImage(image=value)
    elif kind == "audio":
        part = ContentAudio(audio=value, format="wav")
    elif kind == "document":
        part = ContentDocument(document=value, mime_type="application/pdf")
    else:
        part = ContentVideo(video=value, format="mp4")
    return ChatMessageUser(content=[ContentText(text="what is this?"), part])


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document"])
def test_local_files_are_keyed_by_content_not_path(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(b"first content")
    first = key(messages=[_media(kind, str(path))])
    path.write_bytes(b"other content")
    assert key(messages=[_media(kind, str(path))]) != first, "a changed file is a new key"
    path.write_bytes(b"first content")
    assert key(messages=[_media(kind, str(path))]) == first
    copy = tmp_path / "copy.bin"
    copy.write_bytes(b"first content")
    assert key(messages=[_media(kind, str(copy))]) == first, "same bytes, same key"


def test_urls_and_missing_files_are_keyed_as_given(tmp_path: Path) -> None:
    url = key(messages=[_media("image", "https://example.com/a.png")])
    assert url != key(messages=[_media("image", "https://example.com/b.png")])
    missing = str(tmp_path / "gone.png")
    assert key(messages=[_media("image", missing)]) == key(messages=[_media("image", missing)])


def _outputs_a(*args: Any) -> None:
    return None


def _outputs_b(*args: Any) -> None:
    return None


class _Tokens:
    def token(self) -> str:
        return "t"


def test_functions_as_model_args_are_keyed_by_identity() -> None:
    a = key(model_args={"custom_outputs": _outputs_a})
    assert a == key(model_args={"custom_outputs": _outputs_a})
    assert a != key(model_args={"custom_outputs": _outputs_b})
    assert key(model_args={"f": lambda: 1}) != key(model_args={"f": lambda: 2}), "code differs"
    assert key(model_args={"token": _Tokens().token}) == key(
        model_args={"token": _Tokens().token}
    ), "a bound method is its function"
    part = functools.partial(_outputs_a, 1)
    assert key(model_args={"f": part}) != key(model_args={"f": functools.partial(_outputs_a, 2)})
    assert key(model_args={"f": len}) != key(model_args={"f": abs})
    assert key(model_args={"cls": dict}) != key(model_args={"cls": list})


def test_function_keys_are_stable_across_processes(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(
        "def outputs(*args):\n    return {'a', 'b', 'c'}\n\n"
        "class Tokens:\n    def token(self):\n        return frozenset({'x', 'y'})\n"
    )
    code = (
        "import hooks\n"
        "from modelport import GenerateConfig\n"
        "from modelport.cache import cache_key\n"
        "print(cache_key(provider='p', model='m', base_url=None, messages=[], tools=[],\n"
        "    tool_choice='none', config=GenerateConfig(), epoch=None, scopes={},\n"
        "    model_args={'f': hooks.outputs, 'g': hooks.Tokens().token}))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(tmp_path)},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1 and len(next(iter(keys))) == 64


@pytest.mark.parametrize("long", ["1001Y", "8000Y", "999999999Y", "999999999M"])
def test_an_expiry_past_what_an_entry_can_record_is_refused(long: str) -> None:
    """An expiry whose end no date can hold (year 9999 at most) would make every store fail,
    each call going to the provider: refused at once, naming None as the way to never
    expire. 1000 years is accepted."""
    with pytest.raises(CacheError, match="use None"):
        CachePolicy(expiry=long)
    assert CachePolicy(expiry="1000Y").expiry == 1000 * 31_536_000
