"""Coverage-guided fuzzing (atheris) of everything that parses untrusted
bytes: the platform's Values / List / refusal bodies and dotenv files.

The only failure these parsers may report is ``BundleInvalidError``;
anything else escaping (a KeyError, a RecursionError, a TypeError deep in
python-dotenv) would reach the CLI as INTERNAL_ERROR, and is a crash here.

Run by pytest, this file starts itself as the fuzz target in a subprocess
for a bounded time. By hand, for longer::

    python tests/test_fuzz.py -max_total_time=300 -artifact_prefix=/tmp/
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_SECONDS = int(os.environ.get("LAUNCHER_FUZZ_SECONDS", "10"))

SEEDS = {
    "values": json.dumps({"ANTHROPIC_API_KEY": "sk-x", "EDITOR": "vi"}).encode(),
    "listing": json.dumps([{"key": "A", "scope": "workspace"}, {"key": "A", "scope": "global"}]).encode(),
    "incomplete": json.dumps({"error": "decrypt", "failed_keys": ["global:A", 3]}).encode(),
    "dotenv": b'# comment\nexport A=1\nB=\'two words\'\nC="esc\\n\\"q\\""\nD=${A}\n\nE\n',
    "nested": b"[" * 5000 + b"]" * 5000,
}


def _check_bundle(bundle: object) -> None:
    from launcher.bundle import KEY_PATTERN

    assert isinstance(bundle, dict)
    for key, value in bundle.items():
        assert isinstance(key, str) and KEY_PATTERN.fullmatch(key), "an invalid key was accepted"
        assert isinstance(value, str) and "\x00" not in value, "an invalid value was accepted"


def fuzz_one(data: bytes) -> None:
    """One input, fed to every parser; only BundleInvalidError may escape."""
    import atheris

    from launcher.bundle import Scope, parse_dotenv, parse_incomplete, parse_provenance, parse_values
    from launcher.errors import BundleInvalidError

    try:
        _check_bundle(parse_values(data, "fuzz"))
    except BundleInvalidError as exc:
        assert "\n" not in exc.message or "fuzz" in exc.message
    try:
        scopes = parse_provenance(data, "fuzz")
        assert all(isinstance(s, Scope) for s in scopes.values())
    except BundleInvalidError:
        pass
    failed = parse_incomplete(data)
    assert failed is None or all(isinstance(k, str) and len(k) <= 128 for k in failed)

    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        _check_bundle(parse_dotenv(text, "fuzz.env"))
    except BundleInvalidError as exc:
        assert exc.message.startswith("fuzz.env"), "a dotenv error must name its origin"


def _fuzz_main() -> None:
    import atheris

    with atheris.instrument_imports():
        import dotenv.parser  # noqa: F401 - instrumented for coverage

        import launcher.bundle  # noqa: F401 - instrumented for coverage
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()


@pytest.fixture
def atheris_available() -> None:
    if importlib.util.find_spec("atheris") is None:
        message = "atheris is not installed (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_parsers_survive_coverage_guided_fuzzing(atheris_available, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, seed in SEEDS.items():
        (corpus / name).write_bytes(seed)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            f"-max_total_time={FUZZ_SECONDS}",
            "-rss_limit_mb=1024",
            "-max_len=4096",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=FUZZ_SECONDS + 60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    crashes = sorted(p.name for p in artifacts.iterdir())
    tail = proc.stderr[-3000:]
    assert proc.returncode == 0 and not crashes, f"fuzzer found a crash ({crashes}):\n{tail}"
    assert "Done" in proc.stderr and "#" in proc.stderr, f"the fuzzer did not run:\n{tail}"


def test_seeds_pass_the_harness_without_atheris_instrumentation(atheris_available) -> None:
    """The harness itself is sound: every seed runs through it cleanly."""
    for seed in SEEDS.values():
        fuzz_one(seed)


if __name__ == "__main__":
    _fuzz_main()
