"""The decoding loop: a batch of requests, left-padded, one forward pass per generated token.

Each request keeps its own sampling settings and its own random generator (seeded by its
`seed`), so a request samples the same tokens whatever else shares its batch. Log
probabilities are the log-softmax of the model's logits at each step, before temperature,
top_k or top_p reshape them for sampling.

Imported only when a model is created: it imports torch.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Sequence
from typing import Any

import attrs
import torch

from modelport import StopReason

from ._request import ChoiceResult, Request, RequestResult, Sampling, TokenLogprob
from ._tokens import find_stop, token_bytes, token_text

__all__ = ["Engine", "choose_tokens"]

_NEG_INF = float("-inf")


def choose_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> Any:
    """The next token of each row of `logits` ([rows, vocab], float32)."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    x = logits / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < x.shape[-1]:
        kth = torch.topk(x, sampling.top_k, dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, _NEG_INF)
    if sampling.top_p is not None and sampling.top_p < 1.0:
        ordered, order = torch.sort(x, descending=True, dim=-1)
        probs = ordered.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs > sampling.top_p
        x = torch.full_like(x, _NEG_INF).scatter(-1, order, ordered.masked_fill(drop, _NEG_INF))
    return torch.multinomial(x.softmax(dim=-1), 1, generator=generator).squeeze(-1)


@attrs.define
class _Row:
    """One choice being generated."""

    ids: list[int] = attrs.field(factory=list)
    """Generated tokens that make up the text (no end-of-sequence token)."""
    count: int = 0
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = attrs.field(factory=list)
    done: bool = False
    stop_reason: StopReason = "unknown"
    cut: int | None = None
    shown: int = 0
    """Characters of the text given to the request's listener so far."""


@attrs.define
class _Group:
    """The rows of one request."""

    index: int
    request: Request
    prompt: list[int]
    first: int
    limit: int
    length_bound: bool
    generator: torch.Generator
    rows: list[_Row]


class Engine:
    """Runs batches of requests on a causal LM and its tokenizer.

    Args:
        model: A transformers causal LM (in eval mode, on its device).
        tokenizer: Its tokenizer.
        eos_ids: Tokens that end a sequence.
        context_length: The most tokens (prompt and output) the model takes, when known.
    """

    def __init__(
        self, model: Any, tokenizer: Any, eos_ids: set[int], context_length: int | None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.context_length = context_length
        self.device = model.device
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else min(eos_ids, default=0))
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keep_arg = next(
            (a for a in ("logits_to_keep", "num_logits_to_keep") if a in params), None
        )
        decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
        self._byte_level = "ByteLevel" in repr(decoder)
        self._tokens: dict[int, tuple[str, bytes]] = {}

    def token(self, token_id: int) -> tuple[str, bytes]:
        """The text and bytes of one token."""
        found = self._tokens.get(token_id)
        if found is None:
            piece = self.tokenizer.convert_ids_to_tokens(token_id)
            data = token_bytes(str(piece), self._byte_level)
            found = self._tokens[token_id] = (token_text(data), data)
        return found

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`, special tokens left out."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def run(self, requests: Sequence[Request]) -> list[RequestResult]:
        """Generate for every request, as one batch."""
        with torch.inference_mode():
            return self._run(requests)

    def _groups(self, requests: Sequence[Request]) -> tuple[list[_Group], list[RequestResult]]:
        groups: list[_Group] = []
        errors: list[RequestResult] = []
        first = 0
        for i, r in enumerate(requests):
            prompt = [
                int(t) for t in self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"]
            ]
            room = (
                r.max_tokens if self.context_length is None else self.context_length - len(prompt)
            )
            if room <= 0:
                errors.append(
                    RequestResult(
                        input_tokens=len(prompt),
                        error=f"the prompt is {len(prompt)} tokens long; the model's context "
                        f"is {self.context_length} tokens",
                    )
                )
                continue
            generator = torch.Generator(device=self.device)
            seed = r.sampling.seed if r.sampling.seed is not None else random.getrandbits(63)
            generator.manual_seed(seed)
            groups.append(
                _Group(
                    index=i,
                    request=r,
                    prompt=prompt,
                    first=first,
                    limit=min(r.max_tokens, room),
                    length_bound=room < r.max_tokens,
                    generator=generator,
                    rows=[_Row() for _ in range(r.num_choices)],
                )
            )
            first += r.num_choices
        return groups, errors

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any) -> tuple[Any, Any]:
        kwargs: dict[str, Any] = {self._cache_arg: cache}
        if self._keep_arg is not None:
            kwargs[self._keep_arg] = 1
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **kwargs
        )
        return out.logits[:, -1, :].float(), out[self._cache_arg]

    def _run(self, requests: Sequence[Request]) -> list[RequestResult]:
        groups, errors = self._groups(requests)
        if groups:
            self._decode(groups)
        results: dict[int, RequestResult] = {}
        for g in groups:
            results[g.index] = RequestResult(
                input_tokens=len(g.prompt), choices=tuple(self._choice(g, row) for row in g.rows)
            )
        error_iter = iter(errors)
        return [results[i] if i in results else next(error_iter) for i in range(len(requests))]

    def _decode(self, groups: list[_Group]) -> None:
        prompts = [g.prompt for g in groups for _ in g.rows]
        width = max(len(p) for p in prompts)
        ids = torch.tensor(
            [[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device
        )
        mask = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device
        )
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        want_logprobs = any(g.request.logprobs for g in groups)
        cache = None
        for _ in range(max(g.limit for g in groups)):
            logits, cache = self._forward(ids, mask, positions, cache)
            chosen = torch.empty(logits.shape[0], dtype=torch.long, device=self.device)
            for g in groups:
                rows = slice(g.first, g.first + len(g.rows))
                chosen[rows] = choose_tokens(logits[rows], g.request.sampling, g.generator)
            tokens: list[int] = chosen.tolist()
            logprobs = torch.log_softmax(logits, dim=-1) if want_logprobs else None
            chosen_lp: list[float] = []
            if logprobs is not None:
                chosen_lp = logprobs.gather(-1, chosen[:, None]).squeeze(-1).tolist()
            for g in groups:
                tops: list[list[tuple[int, float]]] = [[] for _ in g.rows]
                if logprobs is not None and g.request.top_logprobs:
                    top = torch.topk(
                        logprobs[g.first : g.first + len(g.rows)], g.request.top_logprobs
                    )
                    tops = [
                        list(zip(i, v, strict=True))
                        for i, v in zip(top.indices.tolist(), top.values.tolist(), strict=True)
                    ]
                for j, row in enumerate(g.rows):
                    if not row.done:
                        lp = chosen_lp[g.first + j] if g.request.logprobs else None
                        self._advance(g, row, tokens[g.first + j], lp, tops[j])
            if all(row.done for g in groups for row in g.rows):
                break
            ids = chosen[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            positions = positions[:, -1:] + 1

    def _advance(
        self,
        group: _Group,
        row: _Row,
        token: int,
        logprob: float | None,
        top: list[tuple[int, float]],
    ) -> None:
        self._step(group, row, token, logprob, top)
        if group.request.listener is not None:
            self._show(group, row)

    def _show(self, group: _Group, row: _Row) -> None:
        """Give the listener the text generated since the last time: all of it once the row
        is done (cut at its stop sequence), else what no stop sequence can still cut and no
        unfinished character ends."""
        listener = group.request.listener
        assert listener is not None
        text = self.decode(row.ids)
        if row.done:
            end = len(text) if row.cut is None else row.cut
        else:
            hold = max((len(s) for s in group.request.stop_seqs), default=1) - 1
            end = len(text.rstrip("\ufffd")) - hold
        if end > row.shown:
            listener(group.rows.index(row), text[row.shown : end])
            row.shown = end

    def _step(
        self,
        group: _Group,
        row: _Row,
        token: int,
        logprob: float | None,
        top: list[tuple[int, float]],
    ) -> None:
        row.count += 1
        if token in self.eos_ids:
            row.done, row.stop_reason = True, "stop"
            return
        row.ids.append(token)
        if logprob is not None:
            row.logprobs.append((token, logprob, top))
        if group.request.stop_seqs:
            cut = find_stop(self.decode(row.ids), group.request.stop_seqs)
            if cut is not None:
                row.done, row.stop_reason, row.cut = True, "stop", cut
                return
        if row.count >= group.limit:
            row.done = True
            row.stop_reason = "model_length" if group.length_bound else "max_tokens"

    def _choice(self, group: _Group, row: _Row) -> ChoiceResult:
        text = self.decode(row.ids)
        kept = row.logprobs
        if row.cut is not None:
            text = text[: row.cut]
            n = 0
            while n < len(row.ids) and len(self.decode(row.ids[: n + 1])) <= row.cut:
                n += 1
            kept = kept[:n]
        logprobs = None
        if group.request.logprobs:
            logprobs = tuple(
                TokenLogprob(
                    token=self.token(t)[0],
                    data=self.token(t)[1],
                    logprob=lp,
                    top=tuple((*self.token(i), v) for i, v in top),
                )
                for t, lp, top in kept
            )
        return ChoiceResult(
            text=text, stop_reason=row.stop_reason, tokens=row.count, logprobs=logprobs
        )
