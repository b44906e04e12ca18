"""Formatted text the way Telegram parses it: ``parse_mode`` HTML, MarkdownV2 and Markdown.

The server turns marked-up text into plain text plus ``entities`` (offsets and lengths in
UTF-16 code units) and refuses malformed markup with ``Bad Request: can't parse entities:
...``. Reproducing that matters because it is the most common way a bot's message fails in
production (an unescaped ``.`` in MarkdownV2, a ``<br>`` in HTML). The emulator covers the
documented syntax; unusual corners (custom emoji in Markdown, expandable quotes written
``**>``) are simplified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.bot.emulator.records import JSON, ApiError, bad_request

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR = re.compile(r"""([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "blockquote": "BlockQuote",
}
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of every Telegram entity offset."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Open:
    kind: str
    offset: int
    index: int
    attrs: dict[str, str] = field(default_factory=dict)
    tag: str = ""


class _Builder:
    """Accumulates plain text and entities, tracking the UTF-16 position."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.pos = 0
        self.entities: list[JSON] = []

    def add(self, chunk: str) -> None:
        self.chars.append(chunk)
        self.pos += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[JSON]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.chars), entities


def _html_tag_attrs(rest: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR.finditer(rest):
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attrs[match.group(1).lower()] = _html_unescape(value)
    return attrs


def _html_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith(("#x", "#X")):
            return chr(int(body[2:], 16))
        if body.startswith("#"):
            return chr(int(body[1:]))
        return _HTML_NAMED.get(body, match.group(0))

    return re.sub(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);", one, text)


def _html_open(text: str, index: int, inner: str, out: _Builder) -> _Open:
    match = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)", inner)
    name = match.group(1).lower() if match else ""
    attrs = _html_tag_attrs(inner[match.end() :]) if match else {}
    if name not in _HTML_TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
        raise _parse_error(
            f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, index)}'
        )
    return _Open(_HTML_TAGS[name], out.pos, index, attrs, name)


def _html_close(opened: _Open, stack: list[_Open], out: _Builder) -> None:
    if opened.kind == "text_link":
        if "href" in opened.attrs:
            out.entity("text_link", opened.offset, url=opened.attrs["href"])
    elif opened.kind == "custom_emoji":
        out.entity("custom_emoji", opened.offset, custom_emoji_id=opened.attrs.get("emoji-id", ""))
    elif opened.kind == "code" and stack and stack[-1].kind == "pre":
        language = opened.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
        else:
            out.entity("code", opened.offset)
    elif opened.kind == "pre":
        extra = {"language": opened.attrs["language"]} if "language" in opened.attrs else {}
        out.entity("pre", opened.offset, **extra)
    elif opened.kind == "blockquote" and "expandable" in opened.attrs:
        out.entity("expandable_blockquote", opened.offset)
    else:
        out.entity(opened.kind, opened.offset)


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram's HTML subset into plain text and entities."""
    out = _Builder()
    stack: list[_Open] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "<":
            end = text.find(">", index)
            if end == -1:
                raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, index)}")
            inner = text[index + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise _parse_error(
                        f"Unexpected end tag at byte offset {_byte_offset(text, index)}"
                    )
                opened = stack.pop()
                if opened.tag != name:
                    raise _parse_error(
                        f"Unmatched end tag at byte offset {_byte_offset(text, index)}, "
                        f'expected "</{opened.tag}>", found "</{name}>"'
                    )
                _html_close(opened, stack, out)
            else:
                stack.append(_html_open(text, index, inner.rstrip("/"), out))
            index = end + 1
        elif char == "&":
            match = re.match(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);", text[index:])
            if match:
                out.add(_html_unescape(match.group(0)))
                index += match.end()
            else:
                out.add("&")
                index += 1
        else:
            out.add(char)
            index += 1
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


def _mdv2_code(text: str, index: int, out: _Builder) -> int:
    """Parse ``code`` or a ```pre``` block starting at ``index``; return the index after it."""
    fence = "```" if text.startswith("```", index) else "`"
    kind = "pre" if fence == "```" else "code"
    start = index + len(fence)
    language: str | None = None
    if kind == "pre":
        newline = text.find("\n", start)
        first_line = text[start:newline] if newline != -1 else ""
        if newline != -1 and first_line and not re.search(r"\s|`", first_line):
            language = first_line
            start = newline + 1
    offset = out.pos
    cursor = start
    while cursor < len(text):
        if text[cursor] == "\\" and cursor + 1 < len(text):
            out.add(text[cursor + 1])
            cursor += 2
        elif text.startswith(fence, cursor):
            extra = {"language": language} if language else {}
            out.entity(kind, offset, **extra)
            return cursor + len(fence)
        else:
            out.add(text[cursor])
            cursor += 1
    name = "Pre" if kind == "pre" else "Code"
    raise _parse_error(
        f"Can't find end of {name} entity at byte offset {_byte_offset(text, index)}"
    )


def _mdv2_url(text: str, index: int) -> tuple[str, int]:
    """Read ``(url)`` at ``index``; return the URL and the index after ``)``."""
    chars: list[str] = []
    cursor = index + 1
    while cursor < len(text):
        char = text[cursor]
        if char == "\\" and cursor + 1 < len(text):
            chars.append(text[cursor + 1])
            cursor += 2
        elif char == ")":
            return "".join(chars), cursor + 1
        else:
            chars.append(char)
            cursor += 1
    raise _parse_error(f"Can't find end of a URL at byte offset {_byte_offset(text, index)}")


def _mdv2_marker(text: str, index: int) -> tuple[str, int] | None:
    """The entity kind toggled by a marker at ``index`` and the marker length, if any."""
    char = text[index]
    if char == "_":
        return ("underline", 2) if text.startswith("__", index) else ("italic", 1)
    if char == "|" and text.startswith("||", index):
        return "spoiler", 2
    return {"*": ("bold", 1), "~": ("strikethrough", 1)}.get(char)


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Parse MarkdownV2 into plain text and entities, enforcing its escaping rules."""
    out = _Builder()
    stack: list[_Open] = []
    index = 0
    while index < len(text):
        char = text[index]
        at_line_start = index == 0 or text[index - 1] == "\n"
        if char == "\\" and index + 1 < len(text) and 0 < ord(text[index + 1]) < 127:
            out.add(text[index + 1])
            index += 2
        elif char == "`":
            index = _mdv2_code(text, index, out)
        elif (marker := _mdv2_marker(text, index)) is not None:
            kind, width = marker
            if stack and stack[-1].kind == kind:
                out.entity(kind, stack.pop().offset)
            else:
                stack.append(_Open(kind, out.pos, index))
            index += width
        elif char == "[":
            stack.append(_Open("text_link", out.pos, index))
            index += 1
        elif char == "]" and stack and stack[-1].kind == "text_link":
            opened = stack.pop()
            if not text.startswith("(", index + 1):
                raise _parse_error(
                    f"Can't find end of TextUrl entity at byte offset "
                    f"{_byte_offset(text, opened.index)}"
                )
            url, index = _mdv2_url(text, index + 1)
            out.entity("text_link", opened.offset, url=url)
        elif char == ">" and at_line_start:
            if not (stack and stack[-1].kind == "blockquote"):
                stack.append(_Open("blockquote", out.pos, index))
            index += 1
        elif char == "\n" and stack and stack[-1].kind == "blockquote":
            if not text.startswith(">", index + 1):
                out.entity("blockquote", stack.pop().offset)
            out.add(char)
            index += 1
        elif char in _MDV2_RESERVED or char == "\\":
            raise _parse_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.add(char)
            index += 1
    if stack and stack[-1].kind == "blockquote":
        out.entity("blockquote", stack.pop().offset)
    if stack:
        opened = stack[-1]
        raise _parse_error(
            f"Can't find end of {_MDV2_NAMES[opened.kind]} entity at byte offset "
            f"{_byte_offset(text, opened.index)}"
        )
    return out.result()


def _unclosed(text: str, index: int) -> ApiError:
    return _parse_error(
        f"Can't find end of the entity starting at byte offset {_byte_offset(text, index)}"
    )


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Parse legacy Markdown (``*bold*``, ``_italic_``, `` `code` ``, links); no nesting."""
    out = _Builder()
    index = 0
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while index < len(text):
        char = text[index]
        start = index
        if char == "\\" and text[index + 1 : index + 2] in ("_", "*", "`", "["):
            out.add(text[index + 1])
            index += 2
        elif text.startswith("```", index):
            end = text.find("```", index + 3)
            if end == -1:
                raise _unclosed(text, start)
            body = text[index + 3 : end]
            language, newline, rest = body.partition("\n")
            offset = out.pos
            if newline and language and not re.search(r"\s", language):
                out.add(rest)
                out.entity("pre", offset, language=language)
            else:
                out.add(body)
                out.entity("pre", offset)
            index = end + 3
        elif char in kinds:
            end = text.find(char, index + 1)
            if end == -1:
                raise _unclosed(text, start)
            offset = out.pos
            out.add(text[index + 1 : end])
            out.entity(kinds[char], offset)
            index = end + 1
        elif char == "[":
            close = text.find("]", index + 1)
            if close == -1 or not text.startswith("(", close + 1):
                raise _unclosed(text, start)
            url_end = text.find(")", close + 2)
            if url_end == -1:
                raise _unclosed(text, start)
            offset = out.pos
            out.add(text[index + 1 : close])
            out.entity("text_link", offset, url=text[close + 2 : url_end])
            index = url_end + 1
        else:
            out.add(char)
            index += 1
    return out.result()


def format_text(
    text: str, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[JSON]]:
    """Apply ``parse_mode`` (or explicit ``entities``) like the server does for sent text."""
    if parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            return parse_markdown_v2(text)
        if mode == "markdown":
            return parse_markdown(text)
        raise bad_request(f'unsupported parse_mode "{parse_mode}"')
    checked: list[JSON] = []
    for entity in entities or []:
        if not (
            isinstance(entity, dict)
            and isinstance(entity.get("type"), str)
            and isinstance(entity.get("offset"), int)
            and isinstance(entity.get("length"), int)
        ):
            raise bad_request("can't parse entities JSON object")
        checked.append(entity)
    return text, checked


def command_entities(text: str) -> list[JSON]:
    """``bot_command`` entities for every ``/command`` in user text, as clients send them."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _COMMAND.finditer(text)
    ]
