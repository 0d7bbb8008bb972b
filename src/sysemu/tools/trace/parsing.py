"""strace's text of a structure or an array read back as JSON values: the structured form of
the decoders whose text is the whole of what they know (:func:`parsed`)."""

from __future__ import annotations


def _split(text: str) -> list[str]:
    """``text``'s items at its top level, split at ``", "`` outside quotes and brackets."""
    items, depth, quoted, start, position = [], 0, False, 0, 0
    while position < len(text):
        char = text[position]
        if quoted:
            if char == "\\":
                position += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        elif char == "," and depth == 0 and text.startswith(", ", position):
            items.append(text[start:position])
            start = position + 2
            position += 1
        position += 1
    items.append(text[start:])
    return [item for item in items if item]


def parsed(text: str) -> object:
    """strace's text of a structure or an array as JSON values: ``{a=1, b=[2, 3]}`` as
    ``{"a": 1, "b": [2, 3]}``, numbers (decimal or hex) as numbers, the rest (strings, names,
    flag sets, comments) as their text; ``...`` (more left out) as ``"..."``."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        fields: dict[str, object] = {}
        unnamed: list[object] = []
        for item in _split(text[1:-1]):
            name, equals, rest = item.partition("=")
            if equals and name.isidentifier():
                fields[name] = parsed(rest)
            else:
                unnamed.append(parsed(item))
        if unnamed:
            fields["_"] = unnamed
        return fields
    if text.startswith("[") and text.endswith("]"):
        return [parsed(item) for item in _split(text[1:-1])]
    try:
        return int(text, 0)
    except ValueError:
        return text
