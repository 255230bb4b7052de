"""A tiny random-weight causal LM and tokenizer, built locally, for tests and benchmarks.

`make_tiny_model(folder)` trains a small byte-level BPE tokenizer on a few sentences, builds a
two-layer Llama (or GPT-2) with random weights and saves both to `folder`, with a chat template that
takes tools. Nothing is downloaded; `get_model(f"hf/{folder}")` then loads it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "make_tiny_model"]

CHAT_TEMPLATE = (
    "{%- if tools %}<|system|>tools: {{ tools | tojson }}<|end|>{% endif -%}"
    "{%- for m in messages -%}"
    "<|{{ m['role'] }}|>{{ m['content'] }}"
    "{%- if m.tool_calls %}{% for c in m.tool_calls %}"
    "<tool_call>{{ c.function | tojson }}</tool_call>"
    "{%- endfor %}{% endif -%}"
    "<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>{% endif -%}"
)
"""A chat template marking each role, listing tools and writing tool calls."""

SPECIAL_TOKENS = [
    "<pad>",
    "<s>",
    "<|end|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|tool|>",
]
"""Special tokens of the tiny tokenizer (ids 0 to 6); `<|end|>` ends a sequence."""

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, how are you today? I am fine, thank you.",
    "Paris is the capital of France; Rome is the capital of Italy.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "def add(a, b):\n    return a + b\n",
    "The weather in Paris is sunny and warm.",
    "café, naïve, résumé, 東京, Zürich",
]


def make_tiny_model(
    folder: str | Path,
    *,
    seed: int = 0,
    chat_template: str | None = CHAT_TEMPLATE,
    vocab_size: int = 512,
    hidden_size: int = 32,
    layers: int = 2,
    context_length: int = 256,
    init_range: float = 0.3,
    architecture: str = "llama",
) -> Path:
    """Build and save a random-weight causal LM and its tokenizer; return `folder`.

    Args:
        folder: Where to save (created if needed).
        seed: Seed of the random weights (the same seed gives the same model).
        chat_template: The tokenizer's chat template; None leaves it without one.
        vocab_size: Target vocabulary size of the trained tokenizer.
        hidden_size: Width of the model.
        layers: Number of decoder layers.
        context_length: The model's `max_position_embeddings`.
        init_range: Standard deviation of the random weights; larger makes the model's
            next-token distributions sharper.
        architecture: "llama" (rotary positions) or "gpt2" (learned absolute positions).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    if architecture not in ("llama", "gpt2"):
        raise ValueError(f"architecture must be 'llama' or 'gpt2', not {architecture!r}")

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>"
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)

    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context_length,
        initializer_range=init_range,
        tie_word_embeddings=False,
        **ids,
    )
    if architecture == "gpt2":
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=hidden_size,
            n_layer=layers,
            n_head=4,
            n_positions=context_length,
            initializer_range=init_range,
            **ids,
        )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config) if architecture == "gpt2" else LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    return folder
