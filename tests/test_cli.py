"""The `modelport` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def modelport(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_generate_prints_the_completion() -> None:
    proc = modelport("generate", "Hello", "--model", "mockllm/model")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Default output from mockllm/model"


def test_generate_json_and_model_from_environment() -> None:
    proc = modelport(
        "generate", "-", "--json", env={"MODELPORT_MODEL": "mockllm/model"}, stdin="hi"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["choices"][0]["message"]["content"] == "Default output from mockllm/model"
    assert out["model"] == "model" and out["time"] >= 0


def test_model_args_reach_the_provider() -> None:
    outputs = json.dumps(
        [{"model": "m", "choices": [{"message": {"role": "assistant", "content": "scripted"}}]}]
    )
    proc = modelport("generate", "x", "-m", "mockllm/model", "-M", f"custom_outputs={outputs}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "scripted"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "x", "-m", "mockllm/model", "--temperature", "5"], 2, "--temperature"),
        (["generate", "x", "-m", "mockllm/model", "--top-p", "abc"], 2, "--top-p"),
        (["generate", "x", "-m", "mockllm/model", "-M", "novalue"], 2, "key=value"),
        (["generate", "x", "-m", "nosuch/model"], 2, "pip install modelport-nosuch"),
        (["generate", "x", "-m", "gpt-4o"], 2, "<provider>/<model>"),
        (["generate", "x"], 2, "MODELPORT_MODEL"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_errors_have_exit_codes_and_messages(args: list[str], code: int, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODELPORT_MODEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_providers_lists_mockllm() -> None:
    proc = modelport("providers")
    assert proc.returncode == 0
    assert "mockllm" in proc.stdout and "modelport-mockllm" in proc.stdout
