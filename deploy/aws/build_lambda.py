"""Build the readiness Lambda's deployment zip: ``dist/retailflow-readiness-lambda.zip``.

    python deploy/aws/build_lambda.py [--out dist/retailflow-readiness-lambda.zip] [--constraints constraints.txt]

What goes in, and only that:

- the ``retailflow`` modules that ``retailflow.readiness.handler`` imports (found by importing it in a
  separate interpreter, so the list follows the code), at the zip's top level;
- ``fsspec`` + ``s3fs`` + ``aiobotocore`` and their dependencies (``aiohttp`` ...), and ``tzdata`` (the
  business time zone must not depend on the runtime image's zoneinfo files), at the versions pinned in
  ``constraints.txt``, as **pure-Python wheels** (``py3-none-any``: aiohttp, multidict, yarl, frozenlist,
  propcache and wrapt run without their C speedups), so one zip runs on every Lambda Python runtime
  (3.12, 3.13) and architecture (x86_64, arm64), and on this machine's Python for the test;
- nothing that the Lambda Python runtime already has: boto3, botocore, s3transfer, jmespath,
  python-dateutil, six, urllib3. aiobotocore accepts only a narrow range of botocore versions; should the
  runtime's botocore fall outside it, ``--with-botocore`` ships the constraints' botocore (and its
  dependencies) too: /var/task comes first on the runtime's sys.path, so it takes precedence.

The build fails when a module that has no business in the Lambda (duckdb, pyarrow, pyspark, rich, click)
is imported by the readiness path, naming it. Entries are sorted with a fixed timestamp: the same inputs
give the same zip. It prints the zip's size and what takes the room.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DEFAULT_OUT = ROOT / "dist" / "retailflow-readiness-lambda.zip"
HANDLER_MODULE = "retailflow.readiness.handler"
HANDLER = f"{HANDLER_MODULE}.handler"

# What the handler needs beside retailflow (their dependencies come along, at the constraints' versions).
REQUIREMENTS = ("fsspec", "s3fs", "tzdata")
# Provided by the Lambda Python runtime: never shipped.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# aiobotocore requires a narrow botocore range; --with-botocore ships it (/var/task comes first on sys.path).
BOTOCORE_AND_DEPENDENCIES = ("botocore", "jmespath", "python-dateutil", "six", "urllib3")
# Must never be imported by the readiness path, nor shipped.
FORBIDDEN = ("duckdb", "pyarrow", "pyspark", "rich", "click", "pandas", "numpy", "boto3", "botocore")
# Imported lazily by the readiness path, never on Lambda: the local trigger runs the transformation in-process
# (duckdb), which the Lambda's trigger ("none", later the orchestrator's) does not.
LAZY_EXCLUDED = ("retailflow.pipeline",)
# fsspec imports these compression codecs when they are installed (try/except ImportError) and does without
# them otherwise, as on Lambda: the probe makes them unimportable, so a development venv that happens to
# have them (the airflow extra brings lz4 and zstandard) probes like the Lambda.
FSSPEC_OPTIONAL = ("snappy", "lz4", "lz4.frame", "zstandard", "lzmaffi", "backports.zstd")
# The runtime the pure-Python wheels are resolved for (any 3.11+ interpreter runs them).
TARGET_PYTHON = "3.12"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def readiness_modules() -> list[Path]:
    """The source files of the retailflow modules the handler can reach, relative to src/.

    Two looks: importing the handler in a fresh interpreter must load no third-party module but fsspec
    (else the build fails, naming it); and every ``import`` in the reached modules' source, also those
    inside functions (a lazy ``from retailflow.aws import ...``), is followed, except into LAZY_EXCLUDED."""
    probe = (
        "import json, sys\n"
        f"sys.modules.update(dict.fromkeys({FSSPEC_OPTIONAL!r}))\n"
        f"import {HANDLER_MODULE}\n"
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAILFLOW_", "PYTHON"))}
    env["PYTHONPATH"] = str(SRC)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    modules: dict[str, str | None] = {n: f for n, f in json.loads(out.stdout).items() if n not in FSSPEC_OPTIONAL}
    third_party = sorted(
        {
            name.split(".")[0]
            for name, file in modules.items()
            if file and ("site-packages" in file or "dist-packages" in file) and name.split(".")[0] != "retailflow"
        }
        - {"fsspec", "_distutils_hack"}  # _distutils_hack: setuptools' start-up shim, not an import of ours
    )
    if third_party:
        raise SystemExit(
            f"Importing {HANDLER_MODULE} loads {', '.join(third_party)}, which the Lambda zip does not ship "
            "(it has fsspec, s3fs and their dependencies). Move that import inside the function that needs it."
        )
    reached = {name for name in modules if name.split(".")[0] == "retailflow"}
    todo = sorted(reached)
    while todo:
        for name in imported_retailflow_modules(todo.pop()):
            if name not in reached and not any(name == x or name.startswith(x + ".") for x in LAZY_EXCLUDED):
                reached.add(name)
                todo.append(name)
    files = {module_file(name).relative_to(SRC) for name in reached}
    for rel in list(files):  # every package on the way needs its __init__.py
        for parent in rel.parents:
            if parent != Path(".") and (SRC / parent / "__init__.py").exists():
                files.add(parent / "__init__.py")
    return sorted(files)


def module_file(name: str) -> Path:
    base = SRC.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_retailflow_modules(name: str) -> set[str]:
    """The retailflow modules that ``name``'s source imports anywhere (module level or in a function)."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate.split(".")[0] == "retailflow" and (
                module_file(candidate).exists() and module_file(candidate).is_file()
            ):
                found.add(candidate)
    return found


def install_dependencies(target: Path, constraints: Path, with_botocore: bool = False) -> None:
    """Pure-Python wheels of REQUIREMENTS and their dependencies, pinned by ``constraints``; with
    ``with_botocore`` the zip keeps the botocore that aiobotocore was resolved with (and its dependencies)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--constraint",
        str(constraints),
        "--only-binary=:all:",
        "--platform",
        "any",
        "--implementation",
        "py",
        "--abi",
        "none",
        "--python-version",
        TARGET_PYTHON,
        *REQUIREMENTS,
    ]
    subprocess.run(cmd, check=True)
    for name in RUNTIME_PROVIDED:
        if not (with_botocore and name in BOTOCORE_AND_DEPENDENCIES):
            remove_distribution(target, name)
    for junk in ("bin", "__pycache__"):
        shutil.rmtree(target / junk, ignore_errors=True)


def remove_distribution(target: Path, name: str) -> None:
    """Remove an installed distribution's files (as its RECORD lists them) from ``target``."""
    normalized = name.lower().replace("-", "_")
    for info in target.glob("*.dist-info"):
        if info.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("-", "_") != normalized:
            continue
        record = info / "RECORD"
        tops = set()
        for line in record.read_text().splitlines():
            rel = line.split(",", 1)[0]
            top = rel.split("/", 1)[0]
            if top and top not in (".", ".."):  # scripts are recorded as ../../bin/...: bin/ is removed whole
                tops.add(top)
        for top in tops:
            path = target / top
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def copy_retailflow(target: Path, files: list[Path]) -> None:
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SRC / rel, dest)


def write_zip(staging: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(staging.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)


def summary(out: Path) -> str:
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
    by_top: dict[str, list[int]] = {}
    for info in infos:
        top = info.filename.split("/", 1)[0]
        if top.endswith(".dist-info"):
            top = "*.dist-info"
        sizes = by_top.setdefault(top, [0, 0])
        sizes[0] += info.compress_size
        sizes[1] += info.file_size
    unzipped = sum(i.file_size for i in infos)
    lines = [
        f"{out}: {out.stat().st_size:,} bytes ({out.stat().st_size / 2**20:.1f} MiB), "
        f"{len(infos)} files, {unzipped / 2**20:.1f} MiB unzipped; handler {HANDLER}"
    ]
    for top, (packed, size) in sorted(by_top.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  {top:<24} {packed / 1024:8.0f} KiB zipped {size / 1024:8.0f} KiB")
    return "\n".join(lines)


def build(out: Path = DEFAULT_OUT, constraints: Path = ROOT / "constraints.txt", with_botocore: bool = False) -> Path:
    files = readiness_modules()
    with tempfile.TemporaryDirectory(prefix="retailflow-lambda-") as tmp:
        staging = Path(tmp) / "package"
        staging.mkdir()
        install_dependencies(staging, constraints, with_botocore)
        shipped = {p.name.split("-")[0].lower() for p in staging.iterdir()}
        allowed = {"botocore"} if with_botocore else set()
        if bad := sorted(shipped & (set(FORBIDDEN) - allowed)):
            raise SystemExit(f"The Lambda's dependencies pulled in {', '.join(bad)}: check {constraints}.")
        copy_retailflow(staging, files)
        write_zip(staging, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zip to write")
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt", help="pinned versions")
    parser.add_argument(
        "--with-botocore",
        action="store_true",
        help="also ship botocore at the version aiobotocore needs, for a runtime whose botocore it does not accept",
    )
    args = parser.parse_args(argv)
    out = build(args.out.resolve(), args.constraints.resolve(), with_botocore=args.with_botocore)
    print(summary(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
