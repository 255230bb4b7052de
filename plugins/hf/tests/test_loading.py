"""Loading: local folders, offline ids, clear typed errors, chat templates, light import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from modelport_hf.testing import make_tiny_model

from modelport import get_model
from modelport.errors import ModelInputError, NotFoundError, PluginLoadError
from modelport.testing import WEATHER_TOOL, run

NO_TOOLS_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_a_missing_torch_is_a_plugin_load_error_naming_the_distribution(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelport_hf

    for name in ("_load", "_engine"):  # imported again, with torch unimportable
        monkeypatch.delitem(sys.modules, f"modelport_hf.{name}", raising=False)
        monkeypatch.delattr(modelport_hf, name, raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(PluginLoadError, match=r"modelport-hf.*torch"):
        get_model(f"hf/{tiny_dir}", memoize=False)


def test_importing_the_plugin_loads_neither_torch_nor_transformers() -> None:
    code = "import modelport_hf, sys, json; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(proc.stdout))
    assert "modelport_hf" in modules
    assert not {m for m in modules if m.split(".")[0] in ("torch", "transformers", "tokenizers")}


def test_missing_local_folder_is_a_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        get_model(f"hf/{tmp_path / 'nowhere'}", memoize=False)
    assert "nowhere" in str(info.value)
    assert info.value.provider == "hf"


def _no_chained_traceback(error: BaseException) -> bool:
    return error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_folder_without_a_model_is_a_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"config\.json") as info:
        get_model(f"hf/{tmp_path}", memoize=False)
    assert str(tmp_path) in str(info.value)
    assert _no_chained_traceback(info.value)


def test_folder_without_weights_is_a_not_found_error(tiny_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_dir, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(NotFoundError) as info:
        get_model(f"hf/{folder}", memoize=False)
    assert "cannot load the model" in str(info.value)
    assert _no_chained_traceback(info.value)


def test_unknown_hub_id_offline_fails_at_once_without_network() -> None:
    start = time.monotonic()
    with pytest.raises(NotFoundError) as info:
        get_model("hf/modelport-tests/no-such-model", memoize=False)
    assert "modelport-tests/no-such-model" in str(info.value)
    assert _no_chained_traceback(info.value)
    assert time.monotonic() - start < 30


def test_no_chat_template_is_a_clear_error(tmp_path: Path, gen: Any) -> None:
    folder = make_tiny_model(tmp_path / "plain", chat_template=None)
    with pytest.raises(ModelInputError, match=r"no chat template.*chat_template="):
        get_model(f"hf/{folder}", memoize=False)
    model = get_model(f"hf/{folder}", memoize=False, chat_template=NO_TOOLS_TEMPLATE)
    assert gen(model, temperature=0, max_tokens=3).usage.output_tokens == 3


def test_chat_template_from_a_file(tiny_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "template.jinja"
    path.write_text("{% for m in messages %}[{{ m['content'] }}]{% endfor %}")
    model = get_model(f"hf/{tiny_dir}", memoize=False, chat_template=str(path))
    messages = model.prepare("a")[0]
    assert model.api.render(messages, [], "none") == "[a]"  # type: ignore[attr-defined]


def test_tools_reach_a_template_that_takes_them(tiny_dir: Path) -> None:
    from modelport import ChatMessageAssistant, ChatMessageTool, ChatMessageUser, ToolCall

    model = get_model(f"hf/{tiny_dir}", memoize=False)
    messages = [
        ChatMessageUser(content="Weather in Paris?"),
        ChatMessageAssistant(
            content="",
            tool_calls=[ToolCall(id="c1", function="get_weather", arguments={"city": "Paris"})],
        ),
        ChatMessageTool(content="Sunny", tool_call_id="c1", function="get_weather"),
    ]
    prompt = model.api.render(messages, [WEATHER_TOOL], "auto")  # type: ignore[attr-defined]
    assert prompt.startswith('<|system|>tools: [{"type": "function", "function": {"name": ')
    assert '"get_weather"' in prompt and '"city"' in prompt
    assert (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>' in prompt
    )
    assert "<|tool|>Sunny<|end|>" in prompt
    assert "tools:" not in model.api.render(messages, [WEATHER_TOOL], "none")  # type: ignore[attr-defined]


def test_tools_with_a_template_that_takes_none_is_a_clear_error(tiny_dir: Path) -> None:
    model = get_model(f"hf/{tiny_dir}", memoize=False, chat_template=NO_TOOLS_TEMPLATE)
    with pytest.raises(ModelInputError, match="takes no tools"):
        run(model.generate("Weather?", tools=[WEATHER_TOOL]))


def test_template_errors_are_input_errors(tiny_dir: Path) -> None:
    strict = "{{ raise_exception('roles must alternate') }}"
    model = get_model(f"hf/{tiny_dir}", memoize=False, chat_template=strict)
    with pytest.raises(ModelInputError, match="roles must alternate"):
        run(model.generate("Hi"))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"torch_dtype": "float8"}, "torch_dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_wait": -1}, "batch_wait"),
    ],
)
def test_bad_arguments_are_input_errors(tiny_dir: Path, args: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelInputError, match=match):
        get_model(f"hf/{tiny_dir}", memoize=False, **args)


def test_dtype_and_device_are_honoured(tiny_dir: Path, gen: Any) -> None:
    import torch

    model = get_model(f"hf/{tiny_dir}", memoize=False, device="cpu", torch_dtype="bfloat16")
    assert model.api.model.dtype == torch.bfloat16  # type: ignore[attr-defined]
    assert str(model.api.model.device) == "cpu"  # type: ignore[attr-defined]
    assert gen(model, temperature=0, max_tokens=4).usage.output_tokens == 4
    default = get_model(f"hf/{tiny_dir}", memoize=False, device="cpu")
    assert default.api.model.dtype == torch.float32  # type: ignore[attr-defined]


def test_image_content_is_refused(model: Any) -> None:
    from modelport import ChatMessageUser, ContentImage, ContentText
    from modelport.errors import UnsupportedContentError

    message = ChatMessageUser(
        content=[ContentText(text="What is this?"), ContentImage(image="data:image/png;base64,")]
    )
    with pytest.raises(ModelInputError, match="hf does not accept image content") as info:
        run(model.generate([message]))
    assert isinstance(info.value, UnsupportedContentError)
    assert (info.value.kind, info.value.provider) == ("image", "hf")
