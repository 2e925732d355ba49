"""Every parser of untrusted bytes (the platform's Values / List / refusal
bodies, ``platform/wire.py``; dotenv files, ``envfiles.py``) fails only with
BundleInvalidError and never echoes its input: coverage-guided fuzzing
(atheris), and the same property on fixed cases.

The only failure these parsers may report is ``BundleInvalidError``;
anything else escaping (a KeyError, a RecursionError, a TypeError deep in
python-dotenv) would reach the CLI as INTERNAL_ERROR, and is a crash here.
So is an error message that echoes its input: the bytes could be a token
pasted in the wrong place.

Run by pytest, this file starts itself as the fuzz target in a subprocess
for a bounded time. By hand, for longer::

    python tests/platform/test_parser_fuzz.py -max_total_time=300 -artifact_prefix=/tmp/
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
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


# An error message may quote its fixed text, the origin it was given and
# (Values only) a valid variable name; any other run of this many characters
# that also occurs in the input is an echo of the input.
ECHO_WINDOW = 8
# What `type(x).__name__` can say of a JSON value or a JSON parse failure.
JSON_TYPES = ("NoneType", "bool", "int", "float", "str", "list", "dict", "JSONDecodeError", "UnicodeDecodeError")


@functools.cache
def _template() -> str:
    """The text every message is built from: the source of the parsers."""
    import launcher.envfiles
    import launcher.platform.wire
    import launcher.values

    modules = (launcher.values, launcher.platform.wire, launcher.envfiles)
    return "\n".join(Path(m.__file__ or "").read_text(encoding="utf-8") for m in modules)


def assert_no_echo(message: str, data: str, allowed: Iterable[str] = ()) -> None:
    """No ECHO_WINDOW characters of ``data`` appear in ``message``, except
    inside the parsers' own text or a whole ``allowed`` word (the origin, a
    type name, a valid key). Fails with lengths and offsets, never the text."""
    assert "\n" not in message, "an error message spans lines"
    rest = message
    for word in sorted(set(allowed), key=len, reverse=True):
        if word:
            rest = re.sub(rf"(?<![\w.]){re.escape(word)}(?![\w.])", "\x00", rest)
    for start in range(len(rest) - ECHO_WINDOW + 1):
        window = rest[start : start + ECHO_WINDOW]
        if "\x00" not in window and window in data and window not in _template():
            raise AssertionError(
                f"an error message ({len(message)} chars) echoes {ECHO_WINDOW}+ characters of its "
                f"{len(data)}-character input, at offset {start} of the message"
            )


def _values_keys(data: bytes) -> set[str]:
    """Valid variable names among the keys of any JSON object in ``data``:
    an error may name one (an invalid entry, or a key given twice)."""
    from launcher.values import KEY_PATTERN

    names: set[str] = set()

    def collect(pairs: list[tuple[str, object]]) -> dict[str, object]:
        names.update(k for k, _ in pairs if KEY_PATTERN.fullmatch(k))
        return dict(pairs)

    try:
        json.loads(data, object_pairs_hook=collect)
    except (ValueError, RecursionError):
        return set()
    return names


def _check_bundle(bundle: object) -> None:
    from launcher.values import KEY_PATTERN

    assert isinstance(bundle, dict)
    for key, value in bundle.items():
        assert isinstance(key, str) and KEY_PATTERN.fullmatch(key), "an invalid key was accepted"
        assert isinstance(value, str) and "\x00" not in value, "an invalid value was accepted"


def fuzz_one(data: bytes) -> None:
    """One input, fed to every parser; only BundleInvalidError may escape."""
    import atheris

    from launcher.envfiles import parse_dotenv
    from launcher.errors import BundleInvalidError
    from launcher.platform.wire import parse_incomplete, parse_provenance, parse_values
    from launcher.values import Scope

    decoded = data.decode("utf-8", "replace")
    try:
        _check_bundle(parse_values(data, "fuzz"))
    except BundleInvalidError as exc:
        assert exc.message.startswith("fuzz: "), "a Values error must name its origin"
        assert_no_echo(exc.message, decoded, ("fuzz", *JSON_TYPES, *_values_keys(data)))
    try:
        scopes = parse_provenance(data, "fuzz")
        assert all(isinstance(s, Scope) for s in scopes.values())
    except BundleInvalidError as exc:
        assert_no_echo(exc.message, decoded, ("fuzz", *JSON_TYPES, *_values_keys(data)))
    failed = parse_incomplete(data)
    assert failed is None or all(isinstance(k, str) and len(k) <= 128 for k in failed.names)

    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        _check_bundle(parse_dotenv(text, "fuzz.env"))
    except BundleInvalidError as exc:
        assert exc.message.startswith("fuzz.env:"), "a dotenv error must name its origin"
        assert_no_echo(exc.message, text, ("fuzz.env",))


def _fuzz_main() -> None:
    import atheris

    with atheris.instrument_imports():
        import dotenv.parser  # noqa: F401 - instrumented for coverage

        import launcher.envfiles
        import launcher.platform.wire
        import launcher.values  # noqa: F401
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()


@pytest.fixture
def atheris_available() -> None:
    # Imported here, not at the top: run as the fuzz target (``python
    # tests/platform/test_parser_fuzz.py``) this file has only the launcher
    # on its path, not tests/.
    from support import unavailable

    if importlib.util.find_spec("atheris") is None:
        unavailable("atheris is not installed (pip install -e '.[test]')")


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


PASTED = "sk-ant-oat01-pasted-in-the-wrong-place-0123456789"


@pytest.mark.parametrize(
    ("parser", "data"),
    [
        ("dotenv", f"{PASTED}\n"),  # a token on a line of its own
        ("dotenv", f"A=1\n{PASTED} = x\n"),  # where a name should be
        ("dotenv", f"'{PASTED}\n"),  # unparseable
        ("dotenv", f"{PASTED.replace('-', '_')}\n"),  # a valid name with no '=': still not quoted
        ("values", json.dumps({PASTED: "x"})),  # an invalid key
        ("values", json.dumps({"GOOD_NAME": "x", PASTED: "x"})),
        ("values", json.dumps({"ANTHROPIC_API_KEY": [PASTED]})),  # a non-string value
        ("values", json.dumps({"ANTHROPIC_API_KEY": PASTED + "\u0000"})),  # a NUL in a value
        ("values", json.dumps([PASTED])),
        ("values", PASTED),  # not JSON at all
        ("provenance", json.dumps([{"scope": PASTED}])),
    ],
)
def test_errors_never_echo_the_input(parser: str, data: str) -> None:
    """Deterministic cases for the property the fuzzer checks at random."""
    from launcher.envfiles import parse_dotenv
    from launcher.errors import BundleInvalidError
    from launcher.platform.wire import parse_provenance, parse_values

    with pytest.raises(BundleInvalidError) as caught:
        if parser == "dotenv":
            parse_dotenv(data, "fuzz.env")
        elif parser == "values":
            parse_values(data.encode(), "fuzz")
        else:
            parse_provenance(data.encode(), "fuzz")
    allowed = ("fuzz.env",) if parser == "dotenv" else ("fuzz", *JSON_TYPES, *_values_keys(data.encode()))
    assert_no_echo(caught.value.message, data, allowed)


def test_the_echo_check_catches_an_echo() -> None:
    data = f"A=1\n{PASTED}\n"
    with pytest.raises(AssertionError, match="echoes"):
        assert_no_echo(f"fuzz.env:2: {PASTED[:8]}: cannot parse this line", data, ("fuzz.env",))
    with pytest.raises(AssertionError, match="echoes"):  # an allowed word does not excuse what it is part of
        assert_no_echo(f"fuzz: value of {PASTED[:12]} is int", data, ("fuzz", PASTED[:4]))
    assert_no_echo("fuzz.env:2: cannot parse this line", data, ("fuzz.env",))
    assert_no_echo("fuzz: value of ANTHROPIC_API_KEY is list, not a string", '{"ANTHROPIC_API_KEY": []}',
                   ("fuzz", "list", "ANTHROPIC_API_KEY"))  # fmt: skip


def test_seeds_pass_the_harness_without_atheris_instrumentation(atheris_available) -> None:
    """The harness itself is sound: every seed runs through it cleanly."""
    for seed in SEEDS.values():
        fuzz_one(seed)


if __name__ == "__main__":
    _fuzz_main()
