"""A sample third-party provider for a made-up JSON API ("Lumen"), its contract test class, and
variants of it with one bug each, for the tests of the contract kit itself.

The Lumen API: `POST {base}/v2/converse` with the key in `x-lumen-key`; the body holds the
`engine`, the `dialogue` (speakers `brief`, `human`, `engine`, `outcome`), the `abilities` (tools),
the `ability_policy` (tool choice) and `sampling`; the answer holds the `engine`, a `turn` (its
text and `invocations`), a `finish` and a `meter` (tokens). Errors are `{"fault": {...}}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from modelport import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    Content,
    ContentImage,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    Registry,
    StopReason,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    get_model,
)
from modelport.errors import ModelAPIError, ModelInputError
from modelport.http import ErrorDetail, HTTPClient, excerpt, parse_error_body
from modelport.testing import ProviderContract, Reply

PROVIDER = "lumen"
KEY_VAR = "LUMEN_API_KEY"
MODEL = "lumen-zq-7b"

FINISH: dict[str, StopReason] = {
    "done": "stop",
    "budget": "max_tokens",
    "invocation": "tool_calls",
    "withheld": "content_filter",
}
POLICY = {"auto": "free", "any": "must", "none": "never"}


def fault_detail(text: str) -> ErrorDetail:
    """Read Lumen's error body `{"fault": {"detail": ..., "kind": ...}}`."""
    try:
        data = json.loads(text)
    except ValueError:
        return parse_error_body(text)
    fault = data.get("fault") if isinstance(data, dict) else None
    if isinstance(fault, dict) and isinstance(fault.get("detail"), str):
        kind = fault.get("kind")
        return ErrorDetail(fault["detail"], kind if isinstance(kind, str) else None)
    return parse_error_body(text)


class LumenAPI(ModelAPI):
    """Lumen's models. Model args: `read_timeout` (seconds an attempt may wait for data)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        *,
        read_timeout: float | None = 600.0,
        **model_args: Any,
    ) -> None:
        if model_args:
            raise TypeError(f"lumen got unknown model args: {', '.join(sorted(model_args))}")
        root = base_url or "https://api.lumen.invalid"
        super().__init__(model_name, root.rstrip("/"), api_key, [KEY_VAR], config)
        self.check_key()
        self.url = f"{self.base_url}/v2/converse"
        self.http = self.client(config, read_timeout)

    def check_key(self) -> None:
        if not self.api_key:
            raise ModelInputError(f"no API key for lumen: set {KEY_VAR} or pass api_key=")

    def client(self, config: GenerateConfig, read_timeout: float | None) -> HTTPClient:
        # `Model` limits how many calls run at once (per call); the pool itself has no limit
        return HTTPClient(
            provider=PROVIDER,
            model=self.model_name,
            secrets=self.secrets,
            max_connections=0,
            read_timeout=read_timeout,
            error_detail=fault_detail,
        )

    def supported_config(self) -> frozenset[str] | None:
        return frozenset(
            {"max_retries", "timeout", "max_connections", "system_message"}
            | {"max_tokens", "temperature", "top_p", "stop_seqs", "seed", "top_k"}
            | {"frequency_penalty", "presence_penalty"}
        )

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        body = self.body(input, tools, tool_choice, config)
        headers = {"x-lumen-key": self.api_key} if self.api_key else {}
        return await self.http.post_for_output(
            self.url, body, self.read_answer, {**headers, **self.extra_headers()}
        )

    def extra_headers(self) -> dict[str, str]:
        return {}

    async def close(self) -> None:
        await self.http.close()

    # -- request ---------------------------------------------------------------------------

    def body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"engine": self.engine(), "dialogue": self.dialogue(messages)}
        if tools:
            body["abilities"] = [self.ability(t) for t in tools]
            body["ability_policy"] = self.policy(tool_choice)
        sampling = self.sampling(config)
        if sampling:
            body["sampling"] = sampling
        return body

    def engine(self) -> str:
        return self.model_name

    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [self.turn(m) for m in messages]

    def turn(self, m: ChatMessage) -> dict[str, Any]:
        if isinstance(m, ChatMessageSystem):
            return {"speaker": self.speaker("brief"), "says": m.text}
        if isinstance(m, ChatMessageTool):
            return {
                "speaker": self.speaker("outcome"),
                "ref": self.ref(m.tool_call_id or ""),
                "says": m.text,
            }
        if isinstance(m, ChatMessageAssistant):
            turn: dict[str, Any] = {
                "speaker": self.speaker("engine"),
                "says": self.assistant_text(m),
            }
            if m.tool_calls:
                turn["invocations"] = [
                    {"ref": self.ref(c.id), "fn": c.function, "with": c.arguments}
                    for c in m.tool_calls
                ]
            return turn
        turn = {"speaker": self.speaker("human"), "says": m.text}
        pictures = self.pictures(m.content)
        if pictures:
            turn["pictures"] = pictures
        return turn

    def speaker(self, role: str) -> str:
        return role

    def assistant_text(self, m: ChatMessageAssistant) -> str:
        return m.text

    def ref(self, call_id: str) -> str:
        return call_id

    def pictures(self, content: str | list[Content]) -> list[dict[str, str]]:
        out = []
        for part in content if isinstance(content, list) else []:
            if isinstance(part, ContentImage):
                if part.image.startswith("data:"):
                    header, _, data = part.image.partition(",")
                    out.append({"mime": header[5:].partition(";")[0], "b64": data})
                else:
                    out.append({"url": part.image})
        return out

    def ability(self, tool: ToolInfo) -> dict[str, Any]:
        return {
            "fn": tool.name,
            "about": tool.description,
            "takes": tool.parameters.model_dump(exclude_none=True),
        }

    def policy(self, choice: ToolChoice) -> dict[str, str]:
        if isinstance(choice, ToolFunction):
            return {"mode": "only", "fn": choice.name}
        return {"mode": POLICY[choice]}

    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        values = {
            "heat": config.temperature,
            "nucleus": config.top_p,
            "budget": config.max_tokens,
            "halt": config.stop_seqs,
            "dice": config.seed,
            "shortlist": config.top_k,
            "repeat_penalty": config.frequency_penalty,
            "novelty_penalty": config.presence_penalty,
        }
        return {k: v for k, v in values.items() if v is not None}

    # -- answer ----------------------------------------------------------------------------

    def read_answer(self, data: Any) -> ModelOutput:
        """The output of an answer body; a ValueError for any other shape."""
        if not isinstance(data, dict) or not isinstance(data.get("turn"), dict):
            raise ValueError(f"not a Lumen answer: {excerpt(json.dumps(data))}")
        turn = data["turn"]
        says = turn.get("says") or ""
        raw_calls = turn.get("invocations") or []
        finish = data.get("finish")
        if not isinstance(says, str) or not isinstance(raw_calls, list):
            raise ValueError(f"not a Lumen turn: {excerpt(json.dumps(turn))}")
        if finish is not None and not isinstance(finish, str):
            raise ValueError(f"finish is not a string: {excerpt(json.dumps(finish))}")
        calls = [self.invocation(c, i) for i, c in enumerate(raw_calls)]
        engine = data.get("engine")
        model = self.answer_model(engine if isinstance(engine, str) else "")
        message = ChatMessageAssistant(
            content=says, tool_calls=calls or None, model=model, source="generate"
        )
        stop = self.finish(finish or "")
        return ModelOutput(
            model=model,
            choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
            usage=self.usage(data.get("meter")),
        )

    def finish(self, finish: str) -> StopReason:
        return FINISH.get(finish, "unknown")

    def answer_model(self, engine: str) -> str:
        return engine or self.model_name

    def invocation(self, raw: Any, i: int) -> ToolCall:
        if not isinstance(raw, dict) or not isinstance(raw.get("fn"), str):
            raise ValueError(f"invocation {i} has no function name")
        args = raw.get("with") or {}
        if not isinstance(args, dict):
            raise ValueError(f"the arguments of invocation {i} are not an object")
        ref = raw.get("ref")
        call_id = ref if isinstance(ref, str) and ref else f"{raw['fn']}_{i}"
        return ToolCall(id=call_id, function=raw["fn"], arguments=args)

    def usage(self, meter: Any) -> ModelUsage | None:
        if not isinstance(meter, dict):
            return None
        read, written = meter.get("read"), meter.get("written")
        if not isinstance(read, int) or not isinstance(written, int):
            return None
        return ModelUsage(input_tokens=read, output_tokens=written, total_tokens=read + written)


REGISTRY = Registry()
"""The registry of the sample and its variants (the process's default one is left alone)."""
REGISTRY.register(
    PROVIDER, LumenAPI, env_vars=[KEY_VAR], description="a made-up API (contract kit tests)"
)


# -- the provider's contract test class, as its author writes it --------------------------------


def answer_body(output: ModelOutput) -> dict[str, Any]:
    """`output` as the Lumen API sends it."""
    choice = output.choices[0]
    wire_finish = {v: k for k, v in FINISH.items()}
    turn: dict[str, Any] = {"says": choice.message.text}
    if choice.message.tool_calls:
        turn["invocations"] = [
            {"ref": c.id, "fn": c.function, "with": c.arguments} for c in choice.message.tool_calls
        ]
    body: dict[str, Any] = {
        "engine": output.model,
        "turn": turn,
        "finish": wire_finish.get(choice.stop_reason, "other"),
    }
    if output.usage is not None:
        body["meter"] = {"read": output.usage.input_tokens, "written": output.usage.output_tokens}
    return body


class LumenContract(ProviderContract):
    provider: ClassVar[str] = PROVIDER
    stop_reasons: ClassVar[tuple[StopReason, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "content_filter",
    )
    supports_images = True

    def reply_for(self, output: ModelOutput) -> Reply:
        return Reply(json=answer_body(output))

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return Reply(
            status=status,
            json={"fault": {"detail": message, "kind": "refused"}},
            headers=headers or {},
        )

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"{self.provider}/{MODEL}",
            base_url=base_url,
            api_key=api_key,
            config=config,
            memoize=False,
            registry=REGISTRY,
        )


# -- one bug each ------------------------------------------------------------------------------


class ReversedHistory(LumenAPI):
    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return super().dialogue(messages)[::-1]


class NoSystem(LumenAPI):
    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [t for t in super().dialogue(messages) if t["speaker"] != "brief"]


class NoAssistantText(LumenAPI):
    def assistant_text(self, m: ChatMessageAssistant) -> str:
        return ""


class NoToolResults(LumenAPI):
    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [t for t in super().dialogue(messages) if t["speaker"] != "outcome"]


class NoHistoryToolCalls(LumenAPI):
    def turn(self, m: ChatMessage) -> dict[str, Any]:
        turn = super().turn(m)
        turn.pop("invocations", None)
        return turn


class NewHistoryIds(LumenAPI):
    """Numbers the calls afresh (consistently, so the API would not notice)."""

    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        self.refs: dict[str, str] = {}
        return super().dialogue(messages)

    def ref(self, call_id: str) -> str:
        return self.refs.setdefault(call_id, f"call-{len(self.refs) + 1}")


class NewAnswerIds(LumenAPI):
    def invocation(self, raw: Any, i: int) -> ToolCall:
        return super().invocation(raw, i).model_copy(update={"id": f"lumen-call-{i}"})


class NoToolDefinitions(LumenAPI):
    def body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        body = super().body(messages, tools, tool_choice, config)
        body.pop("abilities", None)
        return body


class NoToolParameters(LumenAPI):
    def ability(self, tool: ToolInfo) -> dict[str, Any]:
        return {"fn": tool.name, "about": tool.description}


class ChoiceIgnored(LumenAPI):
    def policy(self, choice: ToolChoice) -> dict[str, str]:
        return {"mode": "free"}


class NoneIsAuto(LumenAPI):
    def policy(self, choice: ToolChoice) -> dict[str, str]:
        return {"mode": "free"} if choice == "none" else super().policy(choice)


class AnyIsAuto(LumenAPI):
    def policy(self, choice: ToolChoice) -> dict[str, str]:
        return {"mode": "free"} if choice == "any" else super().policy(choice)


class NamedIsAny(LumenAPI):
    def policy(self, choice: ToolChoice) -> dict[str, str]:
        return {"mode": "must"} if isinstance(choice, ToolFunction) else super().policy(choice)


class Drops(LumenAPI):
    """Leaves one sampling field out (`dropped`)."""

    dropped = ""

    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        out.pop(self.dropped, None)
        return out


class NoStopSeqs(Drops):
    dropped = "halt"


class NoTemperature(Drops):
    dropped = "heat"


class NoMaxTokens(Drops):
    dropped = "budget"


class NoTopP(Drops):
    dropped = "nucleus"


class NoSeed(Drops):
    dropped = "dice"


class FirstStopOnly(LumenAPI):
    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        if config.stop_seqs:
            out["halt"] = config.stop_seqs[:1]
        return out


class StopAsString(LumenAPI):
    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        if config.stop_seqs:
            out["halt"] = "\n".join(config.stop_seqs)
        return out


class TemperatureAsTopP(LumenAPI):
    """Sends temperature under top_p's key, where top_p, when set, overwrites it."""

    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        if "heat" in out:
            out["nucleus"] = out.pop("heat")
        if config.top_p is not None:
            out["nucleus"] = config.top_p
        return out


class SamplingMixedUp(LumenAPI):
    """Sends the smaller of temperature and top_p as the temperature, the larger as top_p."""

    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        if "heat" in out and "nucleus" in out:
            out["heat"], out["nucleus"] = sorted((out["heat"], out["nucleus"]))
        return out


class FalsyTemperature(LumenAPI):
    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        out = super().sampling(config)
        if not config.temperature:
            out.pop("heat", None)
        return out


class OneRole(LumenAPI):
    def speaker(self, role: str) -> str:
        return "human"


class SystemLast(LumenAPI):
    def dialogue(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        turns = super().dialogue(messages)
        return [t for t in turns if t["speaker"] != "brief"] + [
            t for t in turns if t["speaker"] == "brief"
        ]


class ModelNameInHeader(LumenAPI):
    """Not a bug: the model name goes in a header, not in the body."""

    def body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        body = super().body(messages, tools, tool_choice, config)
        del body["engine"]
        return body

    def extra_headers(self) -> dict[str, str]:
        return {"x-lumen-engine": self.model_name}


class KeyInRepr(LumenAPI):
    def __repr__(self) -> str:
        return f"LumenAPI(model_name={self.model_name!r}, api_key={self.api_key!r})"


class ServerErrorIsEmpty(LumenAPI):
    """Reads a 5xx as an empty answer."""

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        try:
            return await super().generate(input, tools, tool_choice, config)
        except ModelAPIError as ex:
            if ex.status is not None and ex.status >= 500:
                return ModelOutput.from_content(self.model_name, "")
            raise


class NoUsage(LumenAPI):
    def usage(self, meter: Any) -> ModelUsage | None:
        return None


class BudgetIsDone(LumenAPI):
    """Maps the API's "budget" finish to "stop"."""

    def finish(self, finish: str) -> StopReason:
        return "stop" if finish == "budget" else super().finish(finish)


class SwallowsCancellation(LumenAPI):
    """Retries a failed request itself, with a bare `except:` that catches the cancellation a
    timeout sends too."""

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        for _ in range(2):
            try:
                return await super().generate(input, tools, tool_choice, config)
            except:  # noqa: E722 (the bug)
                await asyncio.sleep(0.01)
        return await super().generate(input, tools, tool_choice, config)


class FixedModelName(LumenAPI):
    def engine(self) -> str:
        return "lumen-default"


class UncheckedAnswer(LumenAPI):
    """Reads the answer without looking at its shape, outside `post_for_output` (which would
    turn its `KeyError` into `InvalidResponseError`)."""

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        body = self.body(input, tools, tool_choice, config)
        headers = {"x-lumen-key": self.api_key} if self.api_key else {}
        data = (await self.http.post_json(self.url, body, headers)).json
        return ModelOutput.from_content(data["engine"] or self.model_name, data["turn"]["says"])


class CloseDoesNothing(LumenAPI):
    async def close(self) -> None:
        pass


class ReadTimeoutIgnored(LumenAPI):
    def client(self, config: GenerateConfig, read_timeout: float | None) -> HTTPClient:
        return super().client(config, 600.0)


class NoReadTimeoutArg(LumenAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        if model_args:
            raise TypeError(f"lumen got unknown model args: {', '.join(sorted(model_args))}")
        super().__init__(model_name, base_url, api_key, config)


class PoolFromBuildConfig(LumenAPI):
    def client(self, config: GenerateConfig, read_timeout: float | None) -> HTTPClient:
        http = super().client(config, read_timeout)
        http.max_connections = config.max_connections or self.max_connections()
        return http


class NoKeyCheck(LumenAPI):
    def check_key(self) -> None:
        pass


class NoImages(LumenAPI):
    def pictures(self, content: str | list[Content]) -> list[dict[str, str]]:
        return []


class NoModelInOutput(LumenAPI):
    def answer_model(self, engine: str) -> str:
        return ""


class DeclaresFewerFields(NoTemperature):
    """Does not send temperature, and says so."""

    def supported_config(self) -> frozenset[str] | None:
        declared = super().supported_config() or frozenset()
        return declared - {"temperature"}


class UndeclaredNoSeed(NoSeed):
    """Declares no config fields, and does not send seed."""

    def supported_config(self) -> frozenset[str] | None:
        return None


class DeclaresNoSamplingFields(LumenAPI):
    def supported_config(self) -> frozenset[str] | None:
        return frozenset({"max_retries", "timeout", "max_connections"})


VARIANTS: dict[str, type[LumenAPI]] = {
    "reversed-history": ReversedHistory,
    "no-system": NoSystem,
    "no-assistant-text": NoAssistantText,
    "no-tool-results": NoToolResults,
    "no-history-tool-calls": NoHistoryToolCalls,
    "new-history-ids": NewHistoryIds,
    "new-answer-ids": NewAnswerIds,
    "no-tool-definitions": NoToolDefinitions,
    "no-tool-parameters": NoToolParameters,
    "choice-ignored": ChoiceIgnored,
    "none-is-auto": NoneIsAuto,
    "any-is-auto": AnyIsAuto,
    "named-is-any": NamedIsAny,
    "no-stop-seqs": NoStopSeqs,
    "no-temperature": NoTemperature,
    "no-max-tokens": NoMaxTokens,
    "no-top-p": NoTopP,
    "no-seed": NoSeed,
    "first-stop-only": FirstStopOnly,
    "stop-as-string": StopAsString,
    "temperature-as-top-p": TemperatureAsTopP,
    "sampling-mixed-up": SamplingMixedUp,
    "falsy-temperature": FalsyTemperature,
    "one-role": OneRole,
    "system-last": SystemLast,
    "model-name-in-header": ModelNameInHeader,
    "key-in-repr": KeyInRepr,
    "server-error-is-empty": ServerErrorIsEmpty,
    "no-usage": NoUsage,
    "budget-is-done": BudgetIsDone,
    "swallows-cancellation": SwallowsCancellation,
    "fixed-model-name": FixedModelName,
    "unchecked-answer": UncheckedAnswer,
    "close-does-nothing": CloseDoesNothing,
    "read-timeout-ignored": ReadTimeoutIgnored,
    "no-read-timeout-arg": NoReadTimeoutArg,
    "pool-from-build-config": PoolFromBuildConfig,
    "no-key-check": NoKeyCheck,
    "no-images": NoImages,
    "no-model-in-output": NoModelInOutput,
    "declares-fewer-fields": DeclaresFewerFields,
    "declares-no-sampling-fields": DeclaresNoSamplingFields,
    "undeclared-no-seed": UndeclaredNoSeed,
}
"""Variants by name; each is registered as provider `lumen-<name>`."""

for _name, _api in VARIANTS.items():
    REGISTRY.register(f"{PROVIDER}-{_name}", _api, env_vars=[KEY_VAR])


def contract_for(variant: str | None = None, **flags: Any) -> LumenContract:
    """The sample's contract test class pointed at the variant `variant` (None: the sample
    itself), with the class attributes `flags` set."""
    provider = f"{PROVIDER}-{variant}" if variant else PROVIDER
    cls: type[LumenContract] = type(
        f"Lumen_{variant}", (LumenContract,), {"provider": provider, **flags}
    )
    return cls()
