"""JSON with comments, as gemini-cli reads its settings (``strip-json-comments``):
``//`` line comments and ``/* */`` block comments outside strings. Trailing
commas are not accepted (gemini's parser does not accept them either)."""

from __future__ import annotations


def strip_comments(text: str) -> str:
    """``text`` with every comment outside a string replaced by nothing
    (newlines of a line comment kept, so positions in errors stay close)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment")
            i = end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)
