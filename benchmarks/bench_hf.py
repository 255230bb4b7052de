"""The hf provider's batching: 32 concurrent short generations, batched against one at a time.

A tiny random-weight Llama (built locally, nothing downloaded) answers 32 concurrent greedy
calls of 16 tokens each. Figures: calls per second with batching (the default batch size, and
one batch of 32) against the same model with `batch_size=1`, which runs the calls one after
another: the floor. Rounds alternate between the settings; each figure is the median.

    python benchmarks/bench_hf.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: F401  (an ImportError here skips this module in run.py)
from modelport_hf import DEFAULT_BATCH_SIZE
from modelport_hf.testing import make_tiny_model

from modelport import GenerateConfig, Model, get_model

sys.path.insert(0, str(Path(__file__).parent))

CALLS = 32
MAX_TOKENS = 16
PROMPTS = [f"Question {i}: what is {i} plus {i + 1}?" for i in range(CALLS)]


async def _burst(model: Model) -> float:
    """Seconds for CALLS concurrent calls."""
    config = GenerateConfig(temperature=0, max_tokens=MAX_TOKENS)
    start = time.perf_counter()
    await asyncio.gather(*(model.generate(p, config=config) for p in PROMPTS))
    return time.perf_counter() - start


def measure(folder: Path, rounds: int) -> dict[int, float]:
    """Median calls/s of a CALLS-call burst, by batch size (1 is the floor)."""
    sizes = [1, DEFAULT_BATCH_SIZE, CALLS]
    models = {s: get_model(f"hf/{folder}", memoize=False, batch_size=s) for s in sizes}
    samples: dict[int, list[float]] = {s: [] for s in sizes}

    async def main() -> None:
        for model in models.values():  # warm up: first forward passes, worker threads
            await _burst(model)
        for _ in range(rounds):
            for size, model in models.items():  # interleaved, so drift hits all alike
                samples[size].append(CALLS / await _burst(model))
        for model in models.values():
            await model.close()

    asyncio.run(main())
    return {s: statistics.median(v) for s, v in samples.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: batched throughput as a ratio to one-at-a-time throughput."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_tiny_model(Path(tmp) / "tiny", hidden_size=64)
        rates = measure(folder, 2 if quick else 5)
    floor = rates[1]
    floor_name = f"batch_size=1 (one at a time), {CALLS} concurrent calls of {MAX_TOKENS} tokens"
    return [
        {
            "name": f"hf: batched throughput, batch_size={size}",
            "value": rates[size],
            "unit": "calls/s",
            "floor": floor_name,
            "floor_value": floor,
            "ratio": rates[size] / floor,
            "target": "> 2x",
        }
        for size in (DEFAULT_BATCH_SIZE, CALLS)
    ]


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
