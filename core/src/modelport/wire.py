"""Pure helpers for a provider's wire translation (`to_wire` / `from_wire`): no I/O, no aiohttp.

```python
from modelport.wire import merge_deep, parse_tool_call, usage

call = parse_tool_call("call_1", "get_weather", '{"city": "Paris"}')   # parse_error on bad JSON
total = usage(input_tokens=12, output_tokens=7)                          # total_tokens = 19
```
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ._config import GenerateConfig
from ._output import ModelUsage
from ._tools import ToolCall

__all__ = ["drop_config", "merge_deep", "parse_arguments", "parse_tool_call", "usage"]

_logger = logging.getLogger("modelport")
_warned: set[tuple[str, str]] = set()

_MAX_SHOWN = 500


def parse_arguments(function: str, arguments: Any) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as a dict, and why they could not be read (else None).

    `arguments` may be a JSON text (as OpenAI-style APIs send it), an object already decoded,
    or empty (no arguments). Anything that is not a JSON object gives `{}` and a `parse_error`
    naming the function and quoting the start of what was received.
    """
    if arguments is None or arguments == "":
        return {}, None
    if isinstance(arguments, dict):
        return arguments, None
    what = f"the arguments of {function!r}"
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}, None
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError) as ex:
            return {}, f"{what} are not valid JSON ({ex}): {arguments[:_MAX_SHOWN]!r}"
        if isinstance(parsed, dict):
            return parsed, None
        return {}, f"{what} are a JSON {type(parsed).__name__}, not an object: " + repr(
            arguments[:_MAX_SHOWN]
        )
    return {}, f"{what} are a {type(arguments).__name__}, not a JSON object"


def parse_tool_call(id: str, function: str, arguments: Any, **fields: Any) -> ToolCall:
    """A `ToolCall` whose arguments are read by `parse_arguments` (`parse_error` set when they
    are not a JSON object). Extra `fields` (e.g. `type`) are passed to `ToolCall`."""
    args, problem = parse_arguments(function, arguments)
    return ToolCall(id=id, function=function, arguments=args, parse_error=problem, **fields)


def usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    **fields: int | None,
) -> ModelUsage:
    """A `ModelUsage`; `total_tokens` defaults to input + output when not given (or zero)."""
    inp = int(input_tokens or 0)
    out = int(output_tokens or 0)
    return ModelUsage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=int(total_tokens or 0) or inp + out,
        **fields,
    )


def merge_deep(target: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `extra` into `target` (and return it): objects merge key by key, at any depth;
    any other value (a list, a string, None) replaces what was there.

    This is how `GenerateConfig.extra_body` is applied to every provider's request body.
    """
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            target[key] = merge_deep(dict(current), value)  # a copy: never the caller's dict
        elif isinstance(value, Mapping):
            target[key] = merge_deep({}, value)
        else:
            target[key] = value
    return target


def drop_config(config: GenerateConfig, fields: Iterable[str], provider: str) -> GenerateConfig:
    """`config` without those of `fields` it sets, each logged once per provider and field per
    process (a warning on the `modelport` logger): the config policy for a field a provider
    cannot honour. Portable code keeps running; nothing is raised."""
    dropped = [name for name in fields if getattr(config, name) is not None]
    if not dropped:
        return config
    for name in dropped:
        if (provider, name) not in _warned:
            _warned.add((provider, name))
            _logger.warning(
                "%s does not support the config field %r: it is not sent", provider or "?", name
            )
    return config.model_copy(update=dict.fromkeys(dropped))
