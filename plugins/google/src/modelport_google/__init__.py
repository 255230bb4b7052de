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

from ._provider import GoogleAPI
from ._wire import FINISH_REASONS, GoogleOptions, from_wire, to_wire

__all__ = [
    "FINISH_REASONS",
    "GoogleAPI",
    "GoogleOptions",
    "from_wire",
    "register_models",
    "to_wire",
]


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `google` provider."""
    register(
        "google",
        GoogleAPI,
        env_vars=[
            "GOOGLE_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_BASE_URL",
            "GOOGLE_CLOUD_ACCESS_TOKEN",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_CLOUD_LOCATION",
        ],
        description="Google Gemini models (Gemini API; Vertex AI as google/vertex/<model>)",
    )
