"""Build small, real wheels of throwaway plugin distributions (for discovery tests and the
discovery benchmark) and install them with pip into a target folder."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    folder: Path,
    dist: str,
    module: str,
    source: str,
    entry_points: Mapping[str, str],
    version: str = "1.0.0",
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write `<dist>-<version>-py3-none-any.whl` holding `<module>/__init__.py` = `source`,
    `[modelport]` entry points `name = value` and those of the other `groups` (e.g.
    `{"modelport.cache_stores": {"mystore": "my_module"}}`)."""
    sections = {"modelport": entry_points, **(groups or {})}
    entry_points_txt = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in sections.items()
        if eps
    )
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": source.encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nRequires-Dist: modelport\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: wheelmaker\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{info}/entry_points.txt": entry_points_txt.encode(),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def pip_install(wheels: list[Path], target: Path) -> None:
    """`pip install --no-deps --no-index --target <target> <wheels>` with this interpreter."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            *map(str, wheels),
        ],
        check=True,
    )
