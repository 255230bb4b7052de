"""The shell's default `to_wire` and `from_wire`: a provider that sets `translation` gets both,
with local media files read first and its `options` passed on; the headers a body calls for
(`body_headers`) go with that request only."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from modelport import (
    ChatMessage,
    ChatMessageUser,
    ContentImage,
    ContentText,
    GenerateConfig,
    Model,
    ModelOutput,
    ToolChoice,
    ToolInfo,
)
from modelport.http import Endpoint, HTTPModelAPI, Translation
from modelport.testing import LocalServer, Reply

ENDPOINT = Endpoint(
    name="echo", base_url="http://127.0.0.1:9", path="/chat", api_key_vars=(), key_required=False
)


def echo_to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: Any,
) -> dict[str, Any]:
    parts = [p for m in messages if isinstance(m.content, list) for p in m.content]
    images = [p.image for p in parts if isinstance(p, ContentImage)]
    return {"model": model, "text": messages[-1].text, "images": images, "tone": options}


def echo_from_wire(body: Any, model: str) -> ModelOutput:
    return ModelOutput.from_content(model, body["reply"])


class EchoAPI(HTTPModelAPI):
    endpoint = ENDPOINT
    translation = Translation(echo_to_wire, echo_from_wire)

    def setup(self) -> None:
        self.options = "dry"

    def body_headers(self, body: Any) -> Mapping[str, str] | None:
        return {"x-images": str(len(body["images"]))} if body["images"] else None


def test_the_default_translation_reads_local_files_and_passes_the_options(
    tmp_path: Path,
) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG tiny")
    with LocalServer(default=Reply(json={"reply": "Seen."})) as server:
        api = EchoAPI("echo-1", base_url=server.url)
        model = Model(api, GenerateConfig(max_retries=0))
        message = ChatMessageUser(
            content=[ContentText(text="Look"), ContentImage(image=str(image))]
        )

        async def go() -> list[ModelOutput]:
            async with model:
                return [await model.generate([message]), await model.generate("Again")]

        with_image, without = asyncio.run(go())
    assert with_image.completion == without.completion == "Seen."
    assert with_image.model == "echo-1"
    first, second = (r.json for r in server.requests)
    data = base64.b64encode(b"\x89PNG tiny").decode()
    assert first == {
        "model": "echo-1",
        "text": "Look",
        "images": [f"data:image/png;base64,{data}"],
        "tone": "dry",
    }
    assert server.requests[0].headers["x-images"] == "1"
    assert second["images"] == [] and "x-images" not in server.requests[1].headers


def test_without_a_translation_both_must_be_written() -> None:
    class Bare(HTTPModelAPI):
        endpoint = ENDPOINT

    api = Bare("m", base_url="http://127.0.0.1:9")
    with pytest.raises(NotImplementedError, match="Bare must implement to_wire"):
        api.to_wire([ChatMessageUser(content="hi")], [], "none", GenerateConfig())
    with pytest.raises(NotImplementedError, match="Bare must implement from_wire"):
        api.from_wire({})


def test_the_shared_chat_dialect_helpers() -> None:
    from modelport import ResponseSchema, ToolFunction
    from modelport.wire import chat_tool_choice, count, json_schema_format, usage

    values = {"auto": "auto", "any": "required", "none": "none"}
    assert chat_tool_choice("any", values) == "required"
    assert chat_tool_choice(ToolFunction(name="lookup"), values) == {
        "type": "function",
        "function": {"name": "lookup"},
    }
    schema = ResponseSchema(name="out", json_schema={"type": "object"})
    assert json_schema_format(schema) == {"name": "out", "schema": {"type": "object"}}
    strict = ResponseSchema(name="out", json_schema={}, description="The answer.", strict=True)
    assert json_schema_format(strict) == {
        "name": "out",
        "schema": {},
        "description": "The answer.",
        "strict": True,
    }
    assert (count(None), count(7), count("3")) == (None, 7, 3)
    read = usage(10, 5, None, input_tokens_cache_read=count(4))
    assert (read.total_tokens, read.input_tokens_cache_read) == (15, 4)


def test_config_values_gives_the_set_fields_by_their_wire_names() -> None:
    from modelport.wire import config_values

    config = GenerateConfig(temperature=0.5, seed=7, top_p=None)
    names = {"top_p": "topP", "seed": "randomSeed", "temperature": "temperature"}
    assert config_values(config, names) == {"randomSeed": 7, "temperature": 0.5}
    assert list(config_values(config, names)) == ["randomSeed", "temperature"]  # names' order


def test_sent_back_returns_only_the_providers_own_blocks() -> None:
    from modelport import ContentData, ContentToolUse
    from modelport.wire import sent_back

    def is_use(block: dict[str, Any]) -> bool:
        return block.get("type") == "server_tool_use"

    use: dict[str, Any] = {"type": "server_tool_use", "id": "u1"}
    result: dict[str, Any] = {"type": "web_search_tool_result", "tool_use_id": "u1"}
    part = ContentToolUse(
        tool_type="web_search", id="u1", name="web_search", internal=[use, result]
    )
    assert sent_back(part, "acme", is_use) == [use, result]
    foreign = ContentToolUse(tool_type="web_search", id="x", name="s", internal={"id": "x"})
    assert sent_back(foreign, "acme", is_use) == []
    data = ContentData(data={"k": 1}, internal="acme")
    assert sent_back(data, "acme", is_use) == [{"k": 1}]
    assert sent_back(data, "other", is_use) == []


def test_decoded_tool_call_keeps_objects_and_flags_anything_else() -> None:
    from modelport.wire import decoded_tool_call

    assert decoded_tool_call("t1", "lookup", {"q": "x"}) == {
        "id": "t1",
        "function": "lookup",
        "arguments": {"q": "x"},
    }
    bad = decoded_tool_call("t2", "lookup", ["a", "b"])
    assert bad["arguments"] == {}
    assert bad["parse_error"] == 'tool input is not a JSON object: ["a", "b"]'
    long = decoded_tool_call("t3", "lookup", "x" * 300)["parse_error"]
    assert long.endswith("...") and len(long) == len("tool input is not a JSON object: ") + 100


def test_turn_helpers_alternate_roles_and_put_results_first() -> None:
    from modelport import ChatMessageAssistant, ContentReasoning
    from modelport.wire import add_turn, assistant_parts, results_first

    turns: list[dict[str, Any]] = []
    add_turn(turns, "user", ["a"])
    add_turn(turns, "user", ["note", "result-1"])
    add_turn(turns, "assistant", [])  # nothing to add
    add_turn(turns, "assistant", ["b"])
    results_first(turns, lambda b: str(b).startswith("result"))
    assert turns == [
        {"role": "user", "content": ["result-1", "a", "note"]},
        {"role": "assistant", "content": ["b"]},
    ]
    said = ChatMessageAssistant(content="Done.", reasoning="Thought.")
    parts, others = assistant_parts(said, with_reasoning=True)
    assert [p.reasoning for p in parts] == ["Thought."]
    assert [o.text for o in others if isinstance(o, ContentText)] == ["Done."]
    assert assistant_parts(said, with_reasoning=False)[0] == []
    mixed = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="r", signature="s"), ContentText(text="t")]
    )
    parts, others = assistant_parts(mixed, with_reasoning=True)
    assert [(p.reasoning, p.signature) for p in parts] == [("r", "s")]
    assert others == [ContentText(text="t")]
