"""The `modelport` command line, run as a user runs it (a subprocess), or through `main`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from modelport import ModelAPI, ModelOutput, modelapi
from modelport.cli import main


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
        (["generate", "x", "-m", "mockllm/model", "--cache", "1"], 2, "unrecognized"),
        (["generate", "x", "-m", "mockllm/model", "--cache-prom", "1"], 2, "unrecognized"),
        (["generate", "x", "-m", "mockllm/model", "--max-tok", "5"], 2, "unrecognized"),
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


def OPENAI(args: list[str], message: str) -> Any:  # noqa: N802 (reads as a case's label)
    return pytest.param(args, message, marks=pytest.mark.providers("openai"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "mockllm/model", "-M", "nosuch=1"], "nosuch"),
        OPENAI(["-m", "openai/gpt-4o", "-M", "read_timout=3"], "read_timout"),
        OPENAI(["-m", "openai/gpt-4o", "-M", "read_timeout=-1"], "read_timeout"),
        (["-m", "mockllm/model", "-M", "config={}"], "config options"),
        (["-m", "mockllm/model", "-M", "model=mockllm/other"], "--model"),
        (["-m", "mockllm/model", "-M", "base_url=http://127.0.0.1:9"], "--base-url"),
        OPENAI(["-m", "openai/gpt-4o", "-M", "api_key=12 34"], "API key"),
    ],
)
def test_bad_model_args_are_one_line_usage_errors(args: list[str], message: str) -> None:
    """An unknown `-M` key, one that clashes with an option, or a bad value: exit 2 and one
    line, `modelport: error: ...`, naming it (no traceback)."""
    proc = modelport("generate", "x", *args, env={"OPENAI_API_KEY": "sk-test-not-used"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("modelport: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def _a_model_of_each_installed_provider() -> list[str]:
    import importlib.metadata

    names = {ep.name for ep in importlib.metadata.entry_points(group="modelport")}
    # hf passes its other model args to transformers' `from_pretrained`, which reads them
    # against the model's own config once it is loaded: it has no list to refuse from.
    models = [f"{p}/zq/m" if p == "openai-api" else f"{p}/m" for p in sorted(names - {"hf"})]
    return models + (["google/vertex/m"] if "google" in names else [])


@pytest.mark.parametrize("name", _a_model_of_each_installed_provider())
def test_an_unknown_model_arg_is_named_first_for_every_installed_provider(name: str) -> None:
    """With no key, base URL or credentials set, an unknown `-M` key is what is reported:
    exit 2 and one line naming it and the provider."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "PYTHONPATH")}
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", "generate", "x", "-m", name, "-M", "zq_nosuch=1"],
        capture_output=True,
        text=True,
        env={**env, "HOME": os.devnull},
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("modelport: error: "), proc.stderr
    assert "unknown model args: zq_nosuch" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


class ArgsSeen(ModelAPI):
    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, model_name: str, **kw: Any) -> None:
        super().__init__(model_name, kw.pop("base_url", None), None, [], kw.pop("config"))
        ArgsSeen.seen = kw

    async def generate(self, input, tools, tool_choice, config):  # type: ignore[no-untyped-def]
        return ModelOutput.from_content(self.model_name, "seen")


modelapi("cliargs")(ArgsSeen)


def test_keys_and_tokens_stay_strings(capsys: pytest.CaptureFixture[str]) -> None:
    """`-M api_key=12345678` (and anything ending in key or token) is text, not a number;
    other values are read as JSON."""
    code = main(
        [
            "generate",
            "x",
            "-m",
            "cliargs/m",
            "-M",
            "api_key=12345678",
            "-M",
            "access_token=0001",
            "-M",
            "signing_key=1e5",
            "-M",
            "n=3",
            "-M",
            'flags={"a": true}',
        ]
    )
    assert code == 0 and capsys.readouterr().out == "seen\n"
    assert ArgsSeen.seen == {
        "api_key": "12345678",
        "access_token": "0001",
        "signing_key": "1e5",
        "n": 3,
        "flags": {"a": True},
    }


def test_cache_flag_uses_the_response_cache(tmp_path: Path) -> None:
    env = {"MODELPORT_CACHE_DIR": str(tmp_path / "cache")}
    proc = modelport("generate", "hi", "-m", "mockllm/model", env=env)
    assert proc.returncode == 0 and not (tmp_path / "cache").exists()
    proc = modelport("generate", "hi", "-m", "mockllm/model", "--cache", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    proc = modelport("generate", "hi", "-m", "mockllm/model", "--cache", env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "Default output from mockllm/model"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize(
    "args",
    [
        ["providers"],
        ["providers", "--json"],
        ["cache", "path"],
        ["generate", "hi", "-m", "mockllm/model"],
    ],
)
def test_a_closed_output_pipe_ends_quietly(args: list[str]) -> None:
    """`modelport providers | head -1`: the reader went away; the command stops with exit 1
    and writes nothing to stderr (no BrokenPipeError traceback)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "modelport", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""


@pytest.mark.providers("openai")
def test_generate_stream_prints_the_text_as_it_arrives(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--stream` calls `model.stream` (the server sees `stream: true`) and prints the text
    deltas as they come, then a newline."""
    from modelport.testing import LocalServer, Reply

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps({"id": "c", "model": "gpt-4o", "choices": [choice]})

    events = (chunk({"content": "Bon"}), chunk({"content": "jour"}), chunk({}, "stop"), "[DONE]")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-0123456789")
    with LocalServer(default=Reply(sse=events)) as server:
        code = main(
            ["generate", "--stream", "hi", "--model", "openai/gpt-4o", "--base-url", server.url]
        )
        assert server.requests[0].json["stream"] is True
    assert code == 0
    assert capsys.readouterr().out == "Bonjour\n"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["-M", "registry=x"], "-M registry=...", 2),
        (["-M", "memoize=false"], "-M memoize=...", 2),
        (["-M", "custom_outputs=[]"], "ValueError: mockllm ran out of custom_outputs", 1),
    ],
)
def test_model_args_for_code_and_a_providers_own_error_are_one_line(
    args: list[str], message: str, code: int
) -> None:
    """`-M` for `get_model`'s own arguments is a usage error; an error a provider raises of
    its own (not a modelport error) is one line, exit 1, not a traceback."""
    proc = modelport("generate", "hi", "-m", "mockllm/model", *args)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("modelport: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_prompt_from_a_closed_standard_input_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", "generate", "-", "-m", "mockllm/model"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        close_fds=True,
        preexec_fn=lambda: os.close(0),  # the child's own stdin, closed
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("modelport: error: the prompt '-' is read from standard input")
