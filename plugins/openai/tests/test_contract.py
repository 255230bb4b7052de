"""The contract every HTTP provider passes, against a real local server speaking OpenAI's API."""

from __future__ import annotations

from modelport_openai.testing import CompatibleContract


class TestOpenAIContract(CompatibleContract):
    provider = "openai"
    model_name = "gpt-4o"
    stop_reasons = ("stop", "max_tokens", "tool_calls", "content_filter", "model_length")
