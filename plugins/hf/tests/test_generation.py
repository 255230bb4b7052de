"""Generation on a tiny local model: greedy, seeds, top_k, logprobs, stops, usage, choices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from modelport import Model, get_model

PROMPT = "Hello world"


def prompt_ids(model: Model, text: str = PROMPT) -> list[int]:
    tok = model.api.tokenizer  # type: ignore[attr-defined]
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
    )
    return list(tok(rendered, add_special_tokens=False)["input_ids"])


def reference_greedy(model: Model, n: int, text: str = PROMPT) -> list[int]:
    """Token ids transformers' own `generate` picks greedily, up to (not with) an EOS."""
    lm = model.api.model  # type: ignore[attr-defined]
    ids = prompt_ids(model, text)
    with torch.inference_mode():
        out = lm.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=False,
            max_new_tokens=n,
        )
    generated = [int(t) for t in out[0, len(ids) :]]
    eos = lm.generation_config.eos_token_id
    eos_ids = set(eos) if isinstance(eos, list) else {eos}
    return next((generated[:i] for i, t in enumerate(generated) if t in eos_ids), generated)


def reference_logprobs(model: Model, generated: list[int], text: str = PROMPT) -> Any:
    """log_softmax of the model's logits at each generated position, one plain forward pass."""
    lm = model.api.model  # type: ignore[attr-defined]
    ids = prompt_ids(model, text)
    with torch.inference_mode():
        logits = lm(input_ids=torch.tensor([ids + generated])).logits[0].float()
    return torch.log_softmax(logits[len(ids) - 1 : -1], dim=-1)


def decode(model: Model, ids: list[int]) -> str:
    return str(model.api.tokenizer.decode(ids, skip_special_tokens=True))  # type: ignore[attr-defined]


def test_greedy_is_deterministic_and_matches_transformers(any_dir: Path, gen: Any) -> None:
    model = get_model(f"hf/{any_dir}", memoize=False)
    a = gen(model, temperature=0, max_tokens=24)
    b = gen(model, temperature=0, max_tokens=24)
    assert a.completion == b.completion
    expected = reference_greedy(model, 24)
    assert a.completion == decode(model, expected)
    assert a.stop_reason == ("max_tokens" if len(expected) == 24 else "stop")
    assert len(expected) >= 3


def test_same_seed_same_sample_different_seeds_differ(model: Model, gen: Any) -> None:
    first = gen(model, temperature=1.5, seed=11, max_tokens=20).completion
    again = gen(model, temperature=1.5, seed=11, max_tokens=20).completion
    others = {gen(model, temperature=1.5, seed=s, max_tokens=20).completion for s in (12, 13)}
    assert first == again
    assert first not in others
    assert len(others) == 2


def test_unseeded_samples_vary(model: Model, gen: Any) -> None:
    samples = {gen(model, temperature=1.5, max_tokens=20).completion for _ in range(3)}
    assert len(samples) > 1


def test_top_k_1_and_top_p_0_equal_greedy(model: Model, gen: Any) -> None:
    greedy = gen(model, temperature=0, max_tokens=16).completion
    assert gen(model, temperature=1.0, top_k=1, seed=3, max_tokens=16).completion == greedy
    assert gen(model, temperature=1.0, top_p=0.0, seed=4, max_tokens=16).completion == greedy
    assert gen(model, top_k=1, max_tokens=16).completion == greedy  # top_k alone samples


def test_logprobs_are_log_softmax_of_the_models_logits(model: Model, gen: Any) -> None:
    n = 12
    out = gen(model, temperature=0, max_tokens=n, logprobs=True, top_logprobs=3)
    content = out.choices[0].logprobs.content
    ids = reference_greedy(model, n)
    expected = reference_logprobs(model, ids)
    assert len(content) == len(ids) == n
    for i, (lp, token_id) in enumerate(zip(content, ids, strict=True)):
        assert lp.logprob == pytest.approx(float(expected[i, token_id]), abs=1e-4)
        top = torch.topk(expected[i], 3)
        assert [t.logprob for t in lp.top_logprobs] == pytest.approx(top.values.tolist(), abs=1e-4)
        assert lp.top_logprobs[0].token == lp.token
        assert lp.logprob <= 0
    joined = b"".join(bytes(lp.bytes) for lp in content)
    assert joined.decode("utf-8", errors="replace") == out.completion
    assert all(lp.token == bytes(lp.bytes).decode("utf-8", errors="replace") for lp in content)


def test_logprobs_ignore_sampling_filters(model: Model, gen: Any) -> None:
    """top_k=1 narrows the sampling, not the reported distribution."""
    out = gen(model, temperature=0.7, top_k=1, seed=5, max_tokens=8, logprobs=True)
    expected = reference_logprobs(model, reference_greedy(model, 8))
    ids = reference_greedy(model, 8)
    got = [lp.logprob for lp in out.choices[0].logprobs.content]
    assert got == pytest.approx([float(expected[i, t]) for i, t in enumerate(ids)], abs=1e-4)
    assert all(g < -1e-3 for g in got)
    assert out.choices[0].logprobs.content[0].top_logprobs is None


def test_no_logprobs_unless_asked(model: Model, gen: Any) -> None:
    assert gen(model, temperature=0, max_tokens=4).choices[0].logprobs is None


def test_stop_sequence_cuts_the_output(model: Model, gen: Any) -> None:
    full = gen(model, temperature=0, max_tokens=30).completion
    stop = full[12:15]
    cut = full.find(stop)
    out = gen(model, temperature=0, max_tokens=30, stop_seqs=[stop, "never-there"], logprobs=True)
    assert out.completion == full[:cut]
    assert out.stop_reason == "stop"
    assert out.usage is not None and out.usage.output_tokens < 30
    joined = b"".join(bytes(lp.bytes) for lp in out.choices[0].logprobs.content)
    assert full[:cut].startswith(joined.decode("utf-8", errors="replace"))


def test_usage_counts_tokens_with_the_tokenizer(model: Model, gen: Any) -> None:
    out = gen(model, temperature=0, max_tokens=7)
    assert out.usage is not None
    assert out.usage.input_tokens == len(prompt_ids(model))
    assert out.usage.output_tokens == 7
    assert out.usage.total_tokens == out.usage.input_tokens + 7
    assert out.stop_reason == "max_tokens"


def test_end_of_sequence_token_stops_with_stop(tiny_dir: Path, tmp_path: Path, gen: Any) -> None:
    """A model whose EOS is the 4th greedy token stops there, the EOS left out of the text."""
    base = get_model(f"hf/{tiny_dir}", memoize=False)
    ids = reference_greedy(base, 10)
    eos = next(t for t in ids[3:] if t not in ids[:3])
    stop_at = ids.index(eos)
    folder = tmp_path / "eos"
    shutil.copytree(tiny_dir, folder)
    gc = json.loads((folder / "generation_config.json").read_text())
    gc["eos_token_id"] = [gc["eos_token_id"], eos]
    (folder / "generation_config.json").write_text(json.dumps(gc))
    out = gen(get_model(f"hf/{folder}", memoize=False), temperature=0, max_tokens=10)
    assert out.stop_reason == "stop"
    assert out.completion == decode(base, ids[:stop_at])
    assert out.usage is not None and out.usage.output_tokens == stop_at + 1


def test_num_choices(model: Model, gen: Any) -> None:
    out = gen(model, temperature=1.5, seed=7, num_choices=3, max_tokens=10)
    again = gen(model, temperature=1.5, seed=7, num_choices=3, max_tokens=10)
    texts = [c.message.text for c in out.choices]
    assert len(texts) == 3 and len(set(texts)) > 1
    assert texts == [c.message.text for c in again.choices]
    assert out.usage is not None and out.usage.output_tokens == 30
    greedy = gen(model, temperature=0, num_choices=2, max_tokens=10)
    assert greedy.choices[0].message.text == greedy.choices[1].message.text


def test_context_length_bounds_the_output(model: Model, gen: Any) -> None:
    context = model.api.model.config.max_position_embeddings  # type: ignore[attr-defined]
    base = len(prompt_ids(model, ""))
    long_prompt = " ".join(["fox"] * (context - base - 5))
    n_prompt = len(prompt_ids(model, long_prompt))
    assert n_prompt < context
    out = gen(model, long_prompt, temperature=0, max_tokens=50)
    assert out.stop_reason == "model_length"
    assert out.usage is not None and out.usage.output_tokens == context - n_prompt

    too_long = gen(model, " ".join(["fox"] * (context + 10)), temperature=0, max_tokens=5)
    assert too_long.stop_reason == "model_length"
    assert too_long.error is not None and "context" in too_long.error
    assert too_long.completion == ""


def test_system_message_and_history_reach_the_prompt(model: Model) -> None:
    api: Any = model.api
    from modelport import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    prompt = api.render(
        [
            ChatMessageSystem(content="Be terse."),
            ChatMessageUser(content="Hi"),
            ChatMessageAssistant(content="Hello"),
            ChatMessageUser(content="Bye"),
        ],
        [],
        "none",
    )
    assert prompt == (
        "<|system|>Be terse.<|end|><|user|>Hi<|end|><|assistant|>Hello<|end|>"
        "<|user|>Bye<|end|><|assistant|>"
    )
