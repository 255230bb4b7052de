"""`HuggingFaceAPI`: a local transformers causal LM behind the `ModelAPI` contract.

Creating one loads the tokenizer and the model (importing torch and transformers then, never
at plugin import). `generate` renders the chat template on the event loop, then hands the
request to a `Batcher`, whose worker thread runs batches of concurrent calls.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import attrs

from modelport import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    StreamEvent,
    TextDelta,
    ToolChoice,
    ToolInfo,
    events_from_output,
)
from modelport.errors import ModelAPIError, ModelInputError, ModelportError, PluginLoadError

from ._batcher import Batcher
from ._chat import template_takes_tools, to_template_messages, to_template_tools
from ._request import GenerationDefaults, Request, RequestResult, make_request, to_output

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_BATCH_WAIT", "DEFAULT_MAX_TOKENS", "HuggingFaceAPI"]

DEFAULT_BATCH_SIZE = 8
DEFAULT_BATCH_WAIT = 0.01
DEFAULT_MAX_TOKENS = 1024


def _read_template(chat_template: str | None) -> str | None:
    if chat_template is not None and "{" not in chat_template and os.path.isfile(chat_template):
        with open(chat_template, encoding="utf-8") as f:
            return f.read()
    return chat_template


def _context_length(config: Any) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


class HuggingFaceAPI(ModelAPI):
    """A causal language model run in-process with transformers.

    Args:
        model_name: A model id on the Hub, or the path of a local folder (`hf/./my-model`).
        base_url: Unused.
        api_key: Hub token for gated models (else `HF_TOKEN`); used only for downloads.
        config: Model configuration.
        device: "cpu", "cuda", "cuda:1", "mps"...; default the first of cuda, mps and cpu.
        torch_dtype: "float32", "float16", "bfloat16", "auto" or a `torch.dtype`; default
            float32 on cpu and the checkpoint's own dtype elsewhere.
        tokenizer: Tokenizer id or path, when it is not the model's.
        chat_template: A Jinja chat template (or the path of a file holding one) used instead
            of the tokenizer's.
        batch_size: The most sequences (choices) generated together in one batch.
        batch_wait: Seconds a batch waits for more calls once its first has come.
        **model_args: Passed to `AutoModelForCausalLM.from_pretrained` (e.g. `revision`,
            `trust_remote_code`, `attn_implementation`, `device_map`).

    Raises:
        modelport.errors.NotFoundError: no such model or tokenizer (locally, when offline).
        ModelInputError: invalid arguments, or no chat template at all.
    """

    honoured_content = frozenset({"text"})
    """Local chat templates take text only."""

    honoured_config = frozenset(
        {
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "seed",
            "stop_seqs",
            "num_choices",
            "logprobs",
            "top_logprobs",
        }
    )
    """Sampling, stop sequences, choices and logprobs; the rest (penalties, `logit_bias`,
    `response_schema`, tools' choices...) is dropped by `Model` with one warning each."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        device: str | None = None,
        torch_dtype: Any = None,
        tokenizer: str | None = None,
        chat_template: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_wait: float = DEFAULT_BATCH_WAIT,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, ["HF_TOKEN"], config)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ModelInputError(f"batch_size must be a whole number >= 1, not {batch_size!r}")
        if not isinstance(batch_wait, int | float) or batch_wait < 0:
            raise ModelInputError(
                f"batch_wait must be a number of seconds >= 0, not {batch_wait!r}"
            )
        if torch_dtype is None and "dtype" in model_args:
            torch_dtype = model_args.pop("dtype")

        try:  # torch and transformers load here, not at plugin import
            from . import _load
            from ._engine import Engine
        except ImportError as ex:
            raise PluginLoadError("hf", "modelport-hf", ex) from ex

        target = device or _load.best_device()
        placement = str(model_args.get("device_map", target))
        dtype = _load.resolve_dtype(torch_dtype, placement)
        _load.check_exists(model_name, model_name, is_model=True)
        hub_args: dict[str, Any] = {
            k: model_args[k] for k in ("revision", "trust_remote_code") if k in model_args
        }
        self.tokenizer = _load.load_tokenizer(
            tokenizer or model_name,
            model=model_name,
            token=self.api_key,
            extra=hub_args,
            secrets=self.secrets,
        )
        self.chat_template = _read_template(chat_template)
        self._template = self.chat_template or self.tokenizer.chat_template
        if not self._template:
            raise ModelInputError(
                f"[hf/{model_name}] the tokenizer has no chat template: pass "
                f"chat_template='...' (a Jinja template, or the path of a file holding one)"
            )
        self.model = _load.load_model(
            model_name,
            model=model_name,
            device=target,
            dtype=dtype,
            token=self.api_key,
            model_args=model_args,
            secrets=self.secrets,
        )
        self.defaults = GenerationDefaults.from_generation_config(self.model.generation_config)
        self.engine: Engine = Engine(
            self.model,
            self.tokenizer,
            _eos_ids(self.model, self.tokenizer),
            _context_length(self.model.config),
        )
        self.batcher: Batcher[Request, RequestResult] = Batcher(
            self.engine.run,
            max_size=batch_size,
            wait=float(batch_wait),
            rows=lambda r: r.num_choices,
            name=f"modelport-hf:{model_name}",
        )
        self.batch_size = batch_size

    def render(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice
    ) -> str:
        """The prompt text: the messages (and tools) through the chat template."""
        messages = to_template_messages(input)
        tool_specs = to_template_tools(tools) if tools and tool_choice != "none" else None
        if tool_specs and not template_takes_tools(self._template):
            raise ModelInputError(
                f"[hf/{self.model_name}] tools were given but the chat template takes no "
                f"tools: pass a chat_template that does, or no tools"
            )
        try:
            prompt = self.tokenizer.apply_chat_template(
                messages,
                tools=tool_specs,
                chat_template=self.chat_template,
                add_generation_prompt=True,
                tokenize=False,
            )
        except ModelportError:
            raise
        except Exception as ex:  # jinja2 errors, and templates' raise_exception(...)
            raise ModelInputError(
                f"[hf/{self.model_name}] the chat template refused the messages: "
                f"{type(ex).__name__}: {ex}"
            ) from None
        return str(prompt)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        prompt = self.render(input, tools, tool_choice)
        request = make_request(prompt, config, self.defaults, self.max_tokens())
        result = await self._result(request)
        parse_tools = bool(tools) and tool_choice != "none"
        return to_output(result, request, self.model_name, parse_tools)

    async def stream(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> AsyncGenerator[StreamEvent | ModelOutput, None]:
        """Stream the text as the tokens are generated (batching as `generate`), then the
        tool calls, finish and usage of the output, which is the one `generate` returns."""
        prompt = self.render(input, tools, tool_choice)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

        def listener(choice: int, text: str) -> None:  # called in the worker thread
            loop.call_soon_threadsafe(pieces.put_nowait, (choice, text))

        request = attrs.evolve(
            make_request(prompt, config, self.defaults, self.max_tokens()), listener=listener
        )
        call = asyncio.ensure_future(self._result(request))
        try:
            while not (call.done() and pieces.empty()):
                if pieces.empty():
                    getter = asyncio.ensure_future(pieces.get())
                    await asyncio.wait({getter, call}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        continue
                    choice, text = getter.result()
                else:
                    choice, text = pieces.get_nowait()
                yield TextDelta(text, choice)
            result = call.result()
        finally:
            if not call.done():
                call.cancel()
        output = to_output(result, request, self.model_name, bool(tools) and tool_choice != "none")
        for event in events_from_output(output):
            if not isinstance(event, TextDelta):
                yield event
        yield output

    async def _result(self, request: Request) -> RequestResult:
        try:
            return await self.batcher.submit(request)
        except ModelportError:
            raise
        except Exception as ex:
            raise ModelAPIError(
                f"generation failed: {type(ex).__name__}: {ex}",
                provider=self.provider,
                model=self.model_name,
                secrets=self.secrets,
            ) from ex

    async def close(self) -> None:
        """Stop the batch worker (the model stays loaded; the worker restarts on use)."""
        self.batcher.close()

    def max_tokens(self) -> int:
        """The model's `max_new_tokens` default, else 1024."""
        return self.defaults.max_new_tokens or DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        """Enough calls in flight to fill a batch while the one before runs."""
        return max(32, 2 * self.batch_size)

    def connection_key(self) -> str:
        return f"{self.provider}:{self.model_name}:{id(self)}"
