"""The `anthropic` provider for modelport: Claude models through the Messages API, on aiohttp.

```python
from modelport import get_model

model = get_model("anthropic/claude-sonnet-4-5")  # key from ANTHROPIC_API_KEY
```

`AnthropicAPI` is core's provider shell around the `ANTHROPIC` endpoint; `to_wire` and
`from_wire` translate to and from the wire format without I/O.
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import (
    ANTHROPIC,
    API_KEY_VAR,
    BASE_URL_VAR,
    DEFAULT_BASE_URL,
    DEFAULT_VERSION,
    STREAM_ABOVE_MAX_TOKENS,
    AnthropicAPI,
)
from ._batch import AnthropicBatch
from ._wire import (
    EFFORTS,
    MIN_THINKING_BUDGET,
    STOP_REASONS,
    AnthropicOptions,
    default_max_tokens,
    error_detail,
    from_wire,
    overflow_output,
    to_wire,
)

__all__ = [
    "ANTHROPIC",
    "API_KEY_VAR",
    "BASE_URL_VAR",
    "DEFAULT_BASE_URL",
    "DEFAULT_VERSION",
    "EFFORTS",
    "MIN_THINKING_BUDGET",
    "STOP_REASONS",
    "STREAM_ABOVE_MAX_TOKENS",
    "AnthropicAPI",
    "AnthropicBatch",
    "AnthropicOptions",
    "default_max_tokens",
    "error_detail",
    "from_wire",
    "overflow_output",
    "register_models",
    "to_wire",
]

__version__ = "0.1.0"


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `anthropic` provider."""
    register(
        ANTHROPIC.name, AnthropicAPI, env_vars=ANTHROPIC.env_vars, description=ANTHROPIC.description
    )
