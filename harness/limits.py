"""The harness's stated limits on hostile input, one place for both request paths and the control API.

Each limit has a value, a one-line reason, and one refusal: the platform's malformed-data envelope on a platform path,
a 400 JSON ``{"error": ...}`` on the control API. docs/security.md ("Limits") lists them with the replies a client gets.
The checks are cheap where the hot path pays for them: :func:`needs_checks` looks at the raw bytes only (two counts
and one regular expression), and the parse with every limit runs only for bodies it flags.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from typing import Any

# Nesting of JSON arrays/objects. No seed document nests deeper than 4; 32 leaves room for any vendor extension while
# keeping every recursive walk (validators, masking, journal) far below Python's recursion limit (1000).
MAX_JSON_DEPTH = 32
# Integers the store can keep: SQLite INTEGER is signed 64-bit; a larger Python int raises OverflowError on insert.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
STORE_RANGE_CLAUSE = "harness limit: store range (signed 64-bit)"
# Digits of an integer literal read at all: Python refuses int() of more than 4,300 digits with a ValueError (which
# no caller expects); a longer literal is refused while parsing, a shorter one is read exactly and judged by the range.
MAX_PARSED_DIGITS = 4000
# Digit strings the platforms convert to integers (DUDU version codes, sequence numbers): 18 digits always fit the
# store range (10^18 − 1 < 2^63 − 1).
MAX_DIGIT_STRING = 18
# Pixels of an image the harness decodes (width × height: ZJPX face photos, YXC uploads): a 24 MP phone photo fits;
# a PNG header may claim 20000×20000 (400 MP, 1.2 GB decoded) in 68 bytes. Checked on the header, before decoding.
MAX_IMAGE_PIXELS = 25_000_000
# Waiting for a request body that is announced (Content-Length) but not sent: the body must arrive within this
# many seconds of the request (harness.config.Settings.body_timeout_seconds is the setting; this is its default).
BODY_TIMEOUT_SECONDS = 10.0
# The request line and headers must be complete within this many seconds of the connection opening (or of the first
# byte of a kept-alive connection's next request): harness.server.http_protocol; HARNESS_HEAD_TIMEOUT overrides it.
HEAD_TIMEOUT_SECONDS = 10.0

LIMIT_RULE = "LIMIT"
DEPTH_CLAUSE = f"harness limit: JSON nesting depth {MAX_JSON_DEPTH}"
NUMBER_CLAUSE = "harness limit: finite numbers (RFC 8259 §6 has no NaN or Infinity)"
# A \uD800–\uDFFF escape not paired into one character is no Unicode text (RFC 8259 §8.2): Python's parser reads it
# into a string that cannot be written as UTF-8 again (hashing, journaling, replying, signing it raised); orjson, the
# fast path's parser, refuses it itself.
UNICODE_CLAUSE = "harness limit: Unicode text (RFC 8259 §8.2: a lone surrogate escape is no character)"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# Text carries no control characters but TAB, LF and CR (C0, DEL, C1), and no bidirectional embedding, override or
# isolate (U+202A–U+202E, U+2066–U+2069, the "Trojan Source" characters): a NUL cuts a C string, an ESC drives the
# terminal a log is read on, an RLO turns a name around in a report. No seed field holds any of them.
TEXT_CLAUSE = (
    "harness limit: text without control characters (C0 but TAB/LF/CR, DEL, C1) or bidirectional overrides (U+202A–U+202E, U+2066–U+2069)"
)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What such a character looks like in a raw body: an escape, or its UTF-8 bytes (a raw C0 byte is no JSON at all).
_CONTROL_HINT = re.compile(
    rb"\\u(?:00[0189][0-9a-fA-F]|007[fF]|20(?:2[a-eA-E]|6[6-9]))|\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
)
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class LimitExceeded(ValueError):
    """Input beyond a harness limit: ``clause`` names the limit, ``field`` where it was found (when known)."""

    def __init__(self, message: str, clause: str, field: str | None = None) -> None:
        super().__init__(message)
        self.clause = clause
        self.field = field


# Every byte as "0" (a digit) or "x" (anything else): a run of 19 digits is then a plain substring search, which costs
# a fifth of a regular-expression search on a heartbeat (about 0.9 µs for the whole of needs_checks).
# The bytes that may start a character TEXT_CLAUSE refuses (a backslash escape, DEL, the lead bytes of C1 and of the
# bidirectional controls) become "c", so one more substring search tells a body that cannot hold one.
_DIGIT_SHAPE = bytes(0x30 if 0x30 <= c <= 0x39 else 0x63 if c in (0x5C, 0x7F, 0xC2, 0xE2) else 0x78 for c in range(256))
_NINETEEN = b"0" * 19


def needs_checks(raw: bytes) -> bool:
    """Whether a raw JSON body could break a limit at all: more than ``MAX_JSON_DEPTH`` brackets, a run of 19
    digits (an integer that may be outside the store range), or what may be a control character (TEXT_CLAUSE). A flat
    document of the hot path answers False."""
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:
        return True
    shape = raw.translate(_DIGIT_SHAPE)
    return _NINETEEN in shape or (b"c" in shape and _CONTROL_HINT.search(raw) is not None)


def may_hold_controls(raw: bytes) -> bool:
    """Whether a raw body may hold a character :data:`TEXT_CLAUSE` refuses (a few byte scans when it cannot)."""
    if b"\\u" not in raw and b"\x7f" not in raw and b"\xc2" not in raw and b"\xe2" not in raw:
        return False
    return _CONTROL_HINT.search(raw) is not None


def json_depth(raw: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it: a text nested
    10,000 deep is measured, where a recursive parser would fail with RecursionError."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"{") + data.count(b"[") <= MAX_JSON_DEPTH:
        return min(MAX_JSON_DEPTH, data.count(b"{") + data.count(b"["))
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        else:
            depth -= 1
    return deepest


def check_depth(raw: bytes | str) -> None:
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise LimitExceeded(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", DEPTH_CLAUSE, "body")


def _constant(name: str) -> Any:
    raise LimitExceeded(f"{name} is not a JSON number", NUMBER_CLAUSE)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise LimitExceeded(f"number {text[:40]!r} is not finite as a double", NUMBER_CLAUSE)
    return value


def _any_int(text: str) -> int:
    """An integer literal read exactly whatever its size (the store range is judged later), up to what int() reads."""
    if len(text) > MAX_PARSED_DIGITS:
        raise LimitExceeded(f"integer of {len(text.lstrip('-'))} digits is outside the signed 64-bit range", STORE_RANGE_CLAUSE)
    return int(text)


def out_of_range(document: Any, prefix: str = "body") -> list[str]:
    """Fields holding an integer outside the store range (depth already bounded by :func:`check_depth`)."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(prefix, document)]
    while stack:
        where, node = stack.pop()
        if type(node) is int and not INT_MIN <= node <= INT_MAX:
            found.append(where)
        elif isinstance(node, dict):
            stack.extend((f"{where}.{k}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(node))
    return sorted(found)


def loads(text: str | bytes, *, int_range: bool = True) -> Any:
    """JSON with every limit: depth, finite numbers, integers in the store range. Raises :class:`LimitExceeded`
    (a ValueError) beyond a limit and ``json.JSONDecodeError`` for malformed text.

    ``int_range=False`` reads integers of any size exactly and leaves the store range to :func:`check_range`: the
    fast path parses before the platform's gate, and a gate that judges a field (a DYM timestamp of 10^30) answers
    before the range does, as on the Connexion path, which parses after the gate."""
    check_depth(text)
    document = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_any_int)
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        check_unicode(document)
    if may_hold_controls(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text):
        check_text(document)
    if int_range:
        check_range(text, document)
    return document


def check_text(document: Any) -> None:
    """Refuse a document with a key or string holding a character :data:`TEXT_CLAUSE` refuses, naming where."""
    pending = [(document, "body")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and (found := _CONTROL_CHARS.search(key)):
                    raise LimitExceeded(f"a key in {path} holds the control character U+{ord(found.group()):04X}", TEXT_CLAUSE, path)
                pending.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            pending.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, str) and (found := _CONTROL_CHARS.search(node)):
            raise LimitExceeded(f"{path} holds the control character U+{ord(found.group()):04X}", TEXT_CLAUSE, path)


def check_unicode(document: Any) -> None:
    """Refuse a document with a key or string holding a lone surrogate (see :data:`UNICODE_CLAUSE`)."""
    pending, path = [(document, "body")], ""
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if not _unicode_ok(key):
                    raise LimitExceeded(f"a key in {path} is not valid UTF-8 text: a lone surrogate escape", UNICODE_CLAUSE, path)
                pending.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            pending.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, str) and not _unicode_ok(node):
            raise LimitExceeded(f"{path} is not valid UTF-8 text: a lone surrogate escape (\\uD800–\\uDFFF unpaired)", UNICODE_CLAUSE, path)


def _unicode_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_range(raw: str | bytes, document: Any) -> None:
    """Refuse a document holding an integer outside the store range (looked for only when ``raw`` has a 19-digit run)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if _NINETEEN in data.translate(_DIGIT_SHAPE):
        fields = out_of_range(document)
        if fields:
            raise LimitExceeded(f"integer outside the signed 64-bit range in {', '.join(fields[:5])}", STORE_RANGE_CLAUSE, fields[0])


def ascii_digits(text: Any, max_length: int | None = None) -> bool:
    """Whether ``text`` is a non-empty string of ASCII digits 0-9 (``str.isdigit`` also accepts "１２３", "²" and
    other scripts' digits, which ``int()`` would read), at most ``max_length`` long."""
    return isinstance(text, str) and text.isascii() and text.isdigit() and (max_length is None or len(text) <= max_length)


def store_int(value: Any) -> int | None:
    """An integer in the store range from an int or an ASCII digit string (D-…-NUMSTR forms), else None."""
    if type(value) is int:
        return value if INT_MIN <= value <= INT_MAX else None
    if ascii_digits(value, MAX_DIGIT_STRING):
        return int(value)
    return None


def open_image(raw: bytes) -> tuple[Any, str | None]:
    """The image (Pillow, header read, no pixel decoded yet) or why it is not one. The pixel bound
    (``MAX_IMAGE_PIXELS``) is checked on the header's size, before anything is decompressed: a 68-byte PNG that
    claims 20000×20000 is refused here, not given 1.2 GB."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning (89 MP): our bound is lower and refuses first
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        return None, f"the image claims more than {MAX_IMAGE_PIXELS:,} pixels (harness limit: image pixels)"
    except Exception as exc:  # hostile bytes make a decoder raise almost anything; it is the sender's format error
        return None, f"the bytes do not decode as an image ({type(exc).__name__})"
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        return None, f"the image claims {width}×{height} pixels; at most {MAX_IMAGE_PIXELS:,} (harness limit: image pixels)"
    return image, None


def decode_image(raw: bytes) -> tuple[Any, str | None]:
    """The fully decoded image (every pixel read under the pixel bound) or why it is not one: a PNG signature followed
    by garbage, a truncated JPEG."""
    image, why = open_image(raw)
    if image is None:
        return None, why
    try:
        image.load()
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, struct.error, zlib.error …
        return None, f"the {image.format or 'image'} data does not decode ({type(exc).__name__}: truncated or corrupt)"
    return image, None
