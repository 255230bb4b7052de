"""Provider-side tools and what they leave: `ServerTool`s are refused before any call by a
provider that runs none, sent as function tools with `internal_tools=False`, and the content
parts and citations they come back as survive JSON and stay out of cache keys when unset."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    ContentData,
    ContentText,
    ContentToolUse,
    DocumentCitation,
    DocumentRange,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    Registry,
    ServerTool,
    ToolChoice,
    ToolInfo,
    UrlCitation,
    UrlContext,
    WebSearch,
    get_model,
)
from modelport.cache._key import cache_key
from modelport.errors import ModelInputError
from modelport.wire import check_server_tools


class Plain(ModelAPI):
    """A provider that runs no tool itself (its config does not list `internal_tools`)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.tools: list[list[ToolInfo]] = []

    async def generate(
        self, input: Any, tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        self.tools.append(tools)
        return ModelOutput.from_content(self.model_name, "ok")

    def supported_config(self) -> frozenset[str] | None:
        return frozenset({"max_tokens", "temperature"})

    def supported_content(self) -> frozenset[str] | None:
        return frozenset({"text"})


REGISTRY = Registry()
REGISTRY.register("plain", Plain, description="runs no tool")


def _generate(model: Model, **kwargs: Any) -> ModelOutput:
    async def go() -> ModelOutput:
        return await model.generate("Search", **kwargs)

    return asyncio.run(go())


def test_a_provider_that_runs_no_tool_refuses_one_before_any_call() -> None:
    model = get_model("plain/m", registry=REGISTRY, memoize=False)
    with pytest.raises(
        ModelInputError, match="plain cannot run the provider-side tool 'web_search'"
    ):
        _generate(model, tools=[WebSearch()])
    assert model.api.tools == []  # type: ignore[attr-defined]


def test_internal_tools_false_sends_server_tools_as_function_tools() -> None:
    model = get_model("plain/m", registry=REGISTRY, memoize=False)
    _generate(model, tools=[CodeExecution()], config=GenerateConfig(internal_tools=False))
    [[tool]] = model.api.tools  # type: ignore[attr-defined]
    assert isinstance(tool, ServerTool) and tool.name == "code_execution"


def test_each_server_tool_is_a_tool_with_its_own_fields() -> None:
    search = WebSearch(max_uses=2, allowed_domains=["example.org"], options={"x": 1})
    assert (search.name, search.tool_type, search.description) == (
        "web_search",
        "web_search",
        "Search the web.",
    )
    assert ComputerUse(display_width=1280).display_height == 768
    assert UrlContext().tool_type == "url_context"
    with pytest.raises(ValueError, match="max_uses"):
        WebSearch(max_uses=0)
    assert check_server_tools(
        [search, ToolInfo(name="f", description="")], ("web_search",), "p"
    ) == [search]
    with pytest.raises(ModelInputError, match=r"p cannot run .*'url_context' .*web_search"):
        check_server_tools([UrlContext()], ("web_search",), "p")


def test_tool_use_citations_and_data_survive_json() -> None:
    message = ChatMessageAssistant(
        content=[
            ContentToolUse(
                tool_type="web_search",
                id="s1",
                name="web_search",
                arguments='{"query": "q"}',
                result="[]",
                internal=[{"type": "x"}],
            ),
            ContentText(
                text="Cited.",
                citations=[
                    UrlCitation(url="https://example.org", title="E", cited_text=(0, 6)),
                    DocumentCitation(
                        cited_text="Cited",
                        range=DocumentRange(type="page", start_index=1, end_index=2),
                    ),
                ],
            ),
            ContentData(data={"groundingMetadata": {"webSearchQueries": ["q"]}}, internal="g"),
        ]
    )
    again = ChatMessageAssistant.model_validate_json(message.model_dump_json())
    assert again == message
    assert again.text == "Cited."


def test_unset_new_fields_leave_cache_keys_as_they_were() -> None:
    plain = ChatMessageUser(content=[ContentText(text="hi")])
    dumped = plain.model_dump(exclude_none=True)
    assert dumped["content"] == [{"type": "text", "text": "hi"}]

    def key(message: ChatMessageUser) -> str:
        return cache_key(
            provider="p",
            model="m",
            base_url=None,
            model_args={},
            messages=[message],
            tools=[],
            tool_choice="none",
            config=GenerateConfig(),
            epoch=None,
            scopes={},
        )

    cited = ChatMessageUser(content=[ContentText(text="hi", citations=[UrlCitation(url="u")])])
    assert key(cited) != key(plain)
    assert key(ChatMessageUser(content=[ContentText(text="hi", internal=None)])) == key(plain)


def test_another_providers_tool_use_in_the_history_passes_the_content_check() -> None:
    model = get_model("plain/m", registry=REGISTRY, memoize=False)
    history: list[ChatMessage] = [
        ChatMessageUser(content="Search"),
        ChatMessageAssistant(
            content=[
                ContentToolUse(tool_type="web_search", id="s1", name="web_search"),
                ContentData(data={"type": "compaction"}, internal="anthropic"),
                ContentText(text="Found."),
            ]
        ),
        ChatMessageUser(content="More"),
    ]

    async def go() -> ModelOutput:
        return await model.generate(history)

    assert asyncio.run(go()).completion == "ok"
