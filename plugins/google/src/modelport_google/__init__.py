"""The `google` provider for modelport: Gemini models through the Gemini API or Vertex AI.

```python
from modelport import get_model

model = get_model("google/gemini-2.5-flash")  # key from GOOGLE_API_KEY or GEMINI_API_KEY
vertex = get_model("google/vertex/gemini-2.5-flash", project="my-project", location="us-central1")
```
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import GeminiAPI, GoogleAPI, VertexAPI, google_api
from ._batch import GeminiBatch
from ._endpoints import ENV_VARS, GEMINI, VERTEX, VERTEX_EXPRESS
from ._wire import STOP_REASONS, GoogleOptions, from_wire, to_wire

__all__ = [
    "STOP_REASONS",
    "GEMINI",
    "VERTEX",
    "VERTEX_EXPRESS",
    "GeminiAPI",
    "GeminiBatch",
    "GoogleAPI",
    "GoogleOptions",
    "VertexAPI",
    "from_wire",
    "google_api",
    "register_models",
    "to_wire",
]

__version__ = "0.1.0"


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `google` provider (`google/<model>`, `google/vertex/<model>`)."""
    register("google", google_api, env_vars=ENV_VARS, description=GEMINI.description)
