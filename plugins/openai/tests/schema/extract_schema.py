"""Extract the request schemas of chat completions and of the Responses API from OpenAI's
OpenAPI description.

    python extract_schema.py path/to/openapi.yaml

writes `chat_completion_request.schema.json` and `create_response_request.schema.json` beside
this script: `CreateChatCompletionRequest` (`CreateResponse`) and every component schema it
references (directly or not), as one JSON Schema (2020-12)
document whose `$defs` hold the components. Descriptions, examples and `x-` extensions are
dropped (they do not validate anything), and OpenAPI's `nullable: true` becomes a `null` type
alternative. The spec is OpenAI's openai-openapi repository (MIT, see LICENSE here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = {
    "CreateChatCompletionRequest": "chat_completion_request.schema.json",
    "CreateResponse": "create_response_request.schema.json",
}
PREFIX = "#/components/schemas/"
DROP = {"description", "example", "examples", "title", "deprecated", "discriminator"}


def clean(node: Any, refs: set[str]) -> Any:
    """`node` without documentation keys, its `$ref`s pointing into `$defs` (collected)."""
    if isinstance(node, list):
        return [clean(v, refs) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP or key.startswith("x-") or key == "nullable":
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith(PREFIX):
            name = value[len(PREFIX) :]
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: clean(v, refs) for k, v in value.items()}
        else:
            out[key] = clean(value, refs)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def extract(spec: dict[str, Any], root: str) -> dict[str, Any]:
    """The request schema `root` and the components it needs."""
    schemas = spec["components"]["schemas"]
    defs: dict[str, Any] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        refs: set[str] = set()
        defs[name] = clean(schemas[name], refs)
        todo.extend(sorted(refs - defs.keys()))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Extracted from OpenAI's openapi.yaml by extract_schema.py; MIT, see LICENSE.",
        "$ref": f"#/$defs/{root}",
        "$defs": dict(sorted(defs.items())),
    }


def main(path: str) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=loader)
    for root, name in ROOTS.items():
        document = extract(spec, root)
        out = Path(__file__).with_name(name)
        out.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        print(f"{out.name}: {len(document['$defs'])} schemas, {out.stat().st_size} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
