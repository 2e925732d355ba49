"""dotenv files (``--env-file``, ``--global-env-file``), read literally.
Errors name the file and line, never the line's text."""

from pathlib import Path

from .errors import BundleInvalidError
from .values import KEY_PATTERN


def parse_dotenv(text: str, origin: str) -> dict[str, str]:
    """A dotenv file, read literally: no ``${VAR}`` interpolation, so a file
    cannot copy an inherited platform token into a workspace-scope key."""
    import io

    from dotenv.parser import parse_stream  # only local mode pays for it

    entries: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        where = f"{origin}:{_first_line(binding.original.string, binding.original.line)}"
        # Name the line and the problem, never the line's text: a pasted
        # token on a line of its own would otherwise be echoed as a "name".
        if binding.error:
            raise BundleInvalidError(f"{where}: cannot parse this line")
        if binding.key is None:
            continue  # blank line or comment
        if not KEY_PATTERN.fullmatch(binding.key):
            raise BundleInvalidError(f"{where}: the name is not a valid variable name")
        if binding.value is None:
            raise BundleInvalidError(f"{where}: a name with no '=' and no value")
        if "\x00" in binding.value:
            raise BundleInvalidError(f"{where}: the value contains a NUL byte")
        entries[binding.key] = binding.value
    return entries


def _first_line(original: str, line: int) -> int:
    # python-dotenv counts a binding from the blank lines before it; the
    # line a person should look at is the first one with text on it.
    skipped = original[: len(original) - len(original.lstrip())]
    return line + skipped.count("\n")


def read_dotenv(path: Path) -> dict[str, str]:
    """A file that cannot be read is the operator's (64, as at start-up);
    one that reads but is not text is a bad bundle (65)."""
    from .files import Cap, read_bounded

    try:
        text = read_bounded(path, "env file", Cap.ENV_FILE).decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalidError(f"{path}: not UTF-8 text") from None
    return parse_dotenv(text, str(path))
