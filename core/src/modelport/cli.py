"""The `modelport` command line: `generate`, `run`, `providers`, `new-provider` (and `cache`).

Exit codes: 0 success, 1 the provider call failed, 2 bad usage or input, 130 interrupted
(143 when `run` is stopped by SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import json
import os
import re
import shutil
import signal
import string
import sys
import tempfile
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._config import GenerateConfig
from .errors import (
    CacheError,
    ModelAPIError,
    ModelInputError,
    ModelportError,
    ProviderNotFoundError,
)

__all__ = ["Parser", "UsageError", "build_parser", "is_secret_name", "main", "new_provider"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

Subcommand = Callable[[argparse.Namespace], int]
_extra_subcommands: list[Callable[[Any], None]] = []


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


RESERVED_MODEL_ARGS = {
    "model": "--model",
    "config": "the config options (e.g. --temperature)",
    "base_url": "--base-url",
    "registry": "the installed providers (a registry is for code, not the command line)",
    "memoize": "nothing (the command line builds one model)",
}
"""`get_model` arguments that have their own options (not `-M`)."""


def is_secret_name(key: str) -> bool:
    """Whether model arg `key` holds a key or token (its value is never read as JSON)."""
    lowered = key.lower()
    return lowered == "api_key" or lowered.endswith(("key", "token"))


def _parse_pairs(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """`key=value` pairs: values read as JSON when they parse, else strings; a key or token
    (`is_secret_name`) is always a string, so `api_key=12345678` stays text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} must be key=value, got {pair!r}")
        if key in RESERVED_MODEL_ARGS:
            raise UsageError(f"{what} {key}=...: use {RESERVED_MODEL_ARGS[key]} instead")
        out[key] = value if is_secret_name(key) else _parse_value(value)
    return out


def _config_fields() -> list[tuple[str, bool]]:
    """(field name, takes a list) for each GenerateConfig field."""
    fields = []
    for name, info in GenerateConfig.model_fields.items():
        is_list = "list[" in str(info.annotation)
        fields.append((name, is_list))
    return fields


def _add_generate(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a completion for a prompt",
        description="Generate a completion. Config options map to GenerateConfig fields.",
    )
    p.add_argument("prompt", help="the prompt ('-' reads it from standard input)")
    p.add_argument(
        "--model", "-m", help="'<provider>/<model>' (default: $MODELPORT_MODEL)", default=None
    )
    p.add_argument(
        "-M",
        dest="model_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model arg passed to the provider (values are JSON, else strings)",
    )
    p.add_argument("--base-url", default=None, help="alternate base URL for the provider")
    p.add_argument("--json", action="store_true", help="print the whole ModelOutput as JSON")
    p.add_argument("--stream", action="store_true", help="print the answer's text as it arrives")
    p.add_argument(
        "--cache",
        action="store_true",
        help="use the response cache (the default CachePolicy: entries live one week)",
    )
    _add_config_options(p)
    p.set_defaults(func=_cmd_generate)


def _add_config_options(p: Any, skip: tuple[str, ...] = ()) -> None:
    """An option per GenerateConfig field (but those of `skip`), read by `_config_from`."""
    group = p.add_argument_group("config options")
    for name, is_list in _config_fields():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        if is_list:
            group.add_argument(flag, dest=f"cfg_{name}", action="append", metavar="VALUE")
        else:
            group.add_argument(flag, dest=f"cfg_{name}", metavar="VALUE")


def _config_from(args: argparse.Namespace) -> GenerateConfig:
    """The GenerateConfig the config options of `args` give (a bad value is a UsageError)."""
    raw = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
    values = {
        k: v if isinstance(v, list) else _parse_value(v) if k != "system_message" else v
        for k, v in raw.items()
    }
    try:
        config = GenerateConfig.model_validate(values)
    except ValidationError as ex:
        problems = "; ".join(
            f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in ex.errors()
        )
        raise UsageError(f"invalid config: {problems}") from None
    return config


def _cmd_generate(args: argparse.Namespace) -> int:
    from ._model import get_model

    if args.prompt == "-":
        try:
            prompt = sys.stdin.read()
        except (OSError, ValueError, AttributeError) as ex:  # closed, or no stdin at all
            raise UsageError(
                f"the prompt '-' is read from standard input, which failed: {ex}"
            ) from None
    else:
        prompt = args.prompt
    config = _config_from(args)
    model_args = _parse_pairs(args.model_args, "-M")
    try:
        model = get_model(args.model, config=config, base_url=args.base_url, **model_args)
    except (TypeError, ValueError, ModelInputError) as ex:  # an unknown or invalid model arg
        raise UsageError(_one_line(ex)) from None

    async def go() -> Any:
        async with model:
            return await model.generate(prompt, cache=args.cache)

    async def stream() -> Any:
        from ._stream import TextDelta

        async with model, model.stream(prompt, cache=args.cache) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.choice == 0 and not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
        return events.output

    output = asyncio.run(stream() if args.stream else go())
    if args.json:
        print(output.model_dump_json(indent=2, exclude_none=True))
    else:
        print("" if args.stream else output.completion)
        if output.error:
            print(f"modelport: {output.stop_reason}: {output.error}", file=sys.stderr)
    return EXIT_OK


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a JSON-lines file of requests through a model, resumably",
        description="Run each request of REQUESTS (JSON lines: id, input, and optionally "
        "tools, tool_choice, config) through the model, appending each result to RESULTS as "
        "its call ends. Run the same command again to resume: ids RESULTS holds are skipped. "
        "Exit codes: 0 every call succeeded, 1 some call failed or some line was bad, 2 bad "
        "usage, 130 interrupted, 143 terminated (SIGTERM; the results written are kept).",
    )
    p.add_argument("requests", help="the requests file (JSON lines)")
    p.add_argument("results", help="the results file (JSON lines; created or appended to)")
    p.add_argument(
        "--model", "-m", help="'<provider>/<model>' (default: $MODELPORT_MODEL)", default=None
    )
    p.add_argument(
        "-M",
        dest="model_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model arg passed to the provider (values are JSON, else strings)",
    )
    p.add_argument("--base-url", default=None, help="alternate base URL for the provider")
    p.add_argument(
        "--cache",
        action="store_true",
        help="use the response cache (the default CachePolicy: entries live one week)",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send the calls through the provider's batch API (about half the price; a "
        "provider without one ignores it, with a warning)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="also do again the requests whose last result is an error",
    )
    p.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help="a live bar (on a terminal, with modelport[progress] installed), plain lines on "
        "standard error, or none (default: auto)",
    )
    p.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between two plain progress lines (default: 10)",
    )
    _add_config_options(p, skip=("batch",))
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from ._bulk import run_requests
    from ._model import get_model

    config = _config_from(args)
    if args.batch:
        config = config.model_copy(update={"batch": True})
    model_args = _parse_pairs(args.model_args, "-M")
    if not 0 < args.progress_interval < float("inf"):  # NaN is neither
        raise UsageError("--progress-interval must be a number of seconds more than 0")
    if not Path(args.requests).is_file():
        raise UsageError(f"{args.requests}: no such file")
    if Path(args.results).is_dir():
        raise UsageError(f"{args.results} is a folder: name a results file")
    if not Path(args.results).absolute().parent.is_dir():
        raise UsageError(f"{args.results}: its folder does not exist")
    if Path(args.results).exists() and not Path(args.results).is_file():
        raise UsageError(
            f"{args.results} is not a regular file (a pipe or a device): results are appended "
            "to a file, which a later run reads to resume"
        )
    try:
        model = get_model(
            args.model, config=config, base_url=args.base_url, memoize=False, **model_args
        )
    except (TypeError, ValueError, ModelInputError) as ex:  # an unknown or invalid model arg
        raise UsageError(_one_line(ex)) from None
    if args.cache:  # a misconfigured store is one usage error, not a failure per request
        from ._registry import default_registry
        from .cache import _lookup

        try:
            _lookup.active_cache(model.registry or default_registry())
        except CacheError as ex:
            raise UsageError(_one_line(ex)) from None

    reports: list[Any] = []
    terminated: list[bool] = []

    async def go() -> Any:
        # SIGTERM stops the run as Ctrl-C does: the calls in flight cancelled, the results
        # written kept, the summary so far printed
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            terminated.append(True)
            task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals (Windows)
            loop.add_signal_handler(signal.SIGTERM, terminate)
        async with model:
            return await run_requests(
                args.requests,
                args.results,
                model,
                cache=args.cache,
                retry_failed=args.retry_failed,
                progress=args.progress,
                progress_interval=args.progress_interval,
                report=reports.append,
            )

    try:
        summary = asyncio.run(go())
    except (KeyboardInterrupt, asyncio.CancelledError):
        what = "terminated" if terminated else "interrupted"
        if reports:
            print(f"modelport: {what}: {reports[-1].describe()}", file=sys.stderr)
        print(
            f"modelport: {what}: the results written are kept; run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except OSError as ex:  # the results file cannot be read or written (disk full, ...)
        print(f"modelport: error: {_one_line(ex)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"modelport: {summary.describe()}", file=sys.stderr)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _add_providers(sub: Any) -> None:
    p = sub.add_parser(
        "providers",
        help="list installed providers",
        description="List installed providers, their distributions and key variables, and the "
        "plugins that failed to load or were refused for claiming another's name.",
    )
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_providers)


def _cmd_providers(args: argparse.Namespace) -> int:
    from ._registry import default_registry

    infos = default_registry().providers()
    rows: list[dict[str, Any]] = []
    for i in infos:
        rows.append(
            {
                "name": i.name,
                "distribution": i.distribution,
                "version": i.version,
                "env_vars": {v: bool(os.environ.get(v)) for v in i.env_vars},
                "description": i.description,
                "error": i.error,
                "conflicts": list(i.conflicts),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no providers installed (try: pip install modelport-mockllm)")
        return EXIT_OK
    for r in rows:
        dist = f"{r['distribution'] or 'in-process'} {r['version'] or ''}".strip()
        keys = ", ".join(f"{v} ({'set' if s else 'not set'})" for v, s in r["env_vars"].items())
        print(f"{r['name']:<24} {dist}")
        if r["description"]:
            print(f"    {r['description']}")
        if keys:
            print(f"    keys: {keys}")
        if r["error"]:
            print(f"    failed to load: {r['error']}")
        for conflict in r["conflicts"]:
            print(f"    conflict: {conflict}")
    return EXIT_OK


def _version() -> str:
    from . import __version__

    return str(__version__)


def _compatible_range(version: str) -> str:
    """The requirement on modelport a plugin built against `version` declares: that version
    up to the next minor release (before 1.0) or the next major one (from 1.0).

    >>> _compatible_range("0.1.0"), _compatible_range("1.4.2")
    ('>=0.1.0,<0.2', '>=1.4.2,<2')
    """
    major, minor = (int(p) for p in re.findall(r"\d+", version)[:2])
    upper = f"0.{minor + 1}" if major == 0 else str(major + 1)
    return f">={version},<{upper}"


_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def new_provider(name: str, directory: str | os.PathLike[str]) -> Path:
    """Write a provider distribution `modelport-<name>` into `directory/modelport-<name>`: an
    endpoint and a translation of a made-up JSON format on core's provider shell, its entry
    point, and a passing, offline contract test suite. Returns the folder written.

    Raises:
        UsageError: `name` is not a lower-case provider name, or the folder exists.
    """
    if not _PROVIDER_NAME.match(name):
        raise UsageError(
            f"provider name {name!r} must be lower-case letters and digits, words joined by '-'"
        )
    module = name.replace("-", "_")
    values = {
        "name": name,
        "module": f"modelport_{module}",
        "dist": f"modelport-{name}",
        "Class": "".join(w.capitalize() for w in name.split("-")),
        "ENV": module.upper(),
        "core_range": _compatible_range(_version()),
    }
    target = Path(directory) / values["dist"]
    if target.exists():
        raise UsageError(f"{target} exists: choose another --dir or remove it")
    template = importlib.resources.files("modelport") / "_template"
    files: list[tuple[str, str]] = []

    def walk(node: Any, rel: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            path = f"{rel}/{child.name}" if rel else child.name
            if child.is_dir():
                walk(child, path)
            else:
                files.append((path, child.read_text(encoding="utf-8")))

    walk(template, "")
    # written beside the target, then renamed: a failure (a full disk, a folder not writable)
    # leaves nothing half-written
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{values['dist']}-", dir=target.parent))
    try:
        mask = os.umask(0)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)  # as a folder made by hand (mkdtemp's is private)
        for rel, text in files:
            out = staging / rel.replace("modelport_NAME", values["module"]).removesuffix(".tmpl")
            out.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".tmpl"):
                text = string.Template(text).substitute(values)
            out.write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _add_new_provider(sub: Any) -> None:
    p = sub.add_parser(
        "new-provider",
        help="write a new provider distribution, with a passing offline test suite",
        description="Write modelport-NAME: an endpoint and a translation on core's provider "
        "shell, its entry point, and modelport's contract tests against a local server.",
    )
    p.add_argument("name", help="the provider prefix, e.g. 'acme' for get_model('acme/...')")
    p.add_argument("--dir", default=".", help="where to write modelport-NAME (default: here)")
    p.set_defaults(func=_cmd_new_provider)


def _cmd_new_provider(args: argparse.Namespace) -> int:
    try:
        target = new_provider(args.name, args.dir)
    except OSError as ex:
        print(
            f"modelport: error: cannot write into {args.dir}: {ex.strerror or ex}", file=sys.stderr
        )
        return EXIT_FAILED
    print(f"wrote {target}")
    print(f"next: cd {target} && python -m pip install -e . pytest && python -m pytest tests")
    return EXIT_OK


def _one_line(ex: BaseException) -> str:
    text = " ".join(str(ex).split())
    return text if len(text) <= 500 else text[:500] + "..."


class Parser(argparse.ArgumentParser):
    """An argument parser that takes options only as spelled (no abbreviations: `--cache 1`
    must not be read as `--cache-prompt 1`), for the command and every subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `modelport` command."""
    parser = Parser(prog="modelport", description="One typed, async API over every LLM provider.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    _add_generate(sub)
    _add_run(sub)
    _add_providers(sub)
    _add_new_provider(sub)
    from .cache._cli import add_cache_command

    add_cache_command(sub)
    for add in _extra_subcommands:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    When standard output is closed early (`modelport providers | head -1`), the command stops
    quietly with exit code 1, as Python's documentation recommends for SIGPIPE.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILED


def _silence_stdout() -> None:
    """Point standard output at the null device, so that flushing it at exit does not fail
    again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (captured output)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = typing.cast(Subcommand, args.func)
    try:
        return func(args)
    except UsageError as ex:
        parser.exit(EXIT_USAGE, f"modelport: error: {ex}\n")
    except (ModelInputError, ProviderNotFoundError) as ex:
        print(f"modelport: error: {ex}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelAPIError, ModelportError) as ex:
        print(f"modelport: error: {ex}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("modelport: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # `main` ends quietly
    except Exception as ex:  # a provider's own error (or a bug): one line, not a traceback
        print(f"modelport: error: {type(ex).__name__}: {_one_line(ex)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
