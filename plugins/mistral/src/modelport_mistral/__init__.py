"""The `mistral` provider for modelport: Mistral's models through its chat-completions API.

```python
from modelport import get_model

model = get_model("mistral/mistral-large-latest")  # key from MISTRAL_API_KEY
```
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import MISTRAL, MistralAPI
from ._batch import MistralBatch
from ._wire import STOP_REASONS, MistralOptions, from_wire, mistral_call_id, to_wire

__all__ = [
    "STOP_REASONS",
    "MISTRAL",
    "MistralAPI",
    "MistralBatch",
    "MistralOptions",
    "from_wire",
    "mistral_call_id",
    "register_models",
    "to_wire",
]

__version__ = "0.1.0"


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `mistral` provider."""
    register(MISTRAL.name, MistralAPI, env_vars=MISTRAL.env_vars, description=MISTRAL.description)
