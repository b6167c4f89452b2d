"""The one sanitizer for strings that come from the Celery event stream.

Anyone who can publish to the event exchange controls task names, args, results,
tracebacks, hostnames and event types completely (the broker does not authenticate
events), and terminals
act on control characters in them: clear the screen, set the title, write the clipboard,
move the cursor over a neighbouring column. urwid only filters bytes 0x00-0x1F and
blessed filters nothing, so every external string goes through :func:`sanitize` before
it reaches a terminal, a log line or a sink. The result is plain visible text:

* C0 controls and DEL become Unicode *Control Pictures* (``ESC[2J`` shows as ``␛[2J``);
* C1 controls, format characters (bidi, zero-width, BOM, soft hyphen, tag characters),
  line/paragraph separators and noncharacters become visible ``<U+XXXX>`` markers;
* lone surrogates become U+FFFD;
* runs of combining marks are capped at :data:`MAX_COMBINING` per base character.

:func:`display_width`, :func:`truncate` and :func:`fit` measure and cut *sanitized*
text by terminal columns, so table cells line up and a cut never produces half a wide
character, a base without its marks, or half a ``<U+XXXX>`` marker.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_COMBINING", "TAB_SIZE", "display_width", "fit", "sanitize", "truncate"]

#: Combining marks kept after one base character; more is Zalgo text or an attack on the
#: terminal's combining-character handling (xterm CVE-2021-27135), so the excess is dropped.
MAX_COMBINING = 4

#: Tab stops in ``multiline`` mode. Columns are counted in code points (``str.expandtabs``),
#: which is exact for ASCII tracebacks and close enough for anything else.
TAB_SIZE = 4

# Each cache stops growing at this many code points. An attacker who sends every code
# point must not turn the cache into a memory sink; past the
# limit an unseen code point is classified on every call, which is slower but correct.
_CACHE_LIMIT = 1 << 16

_FFFD = "\ufffd"

# A marker as produced by sanitize(): always upper-case hex, 4 to 6 digits.
_MARKER_RE = re.compile(r"<U\+[0-9A-F]{4,6}>")
_MARKER_MAX_LEN = len("<U+10FFFF>")


def _marker(cp: int) -> str:
    return f"<U+{cp:04X}>"


def _classify(cp: int) -> str:
    """Return the replacement for code point ``cp`` (itself when it is harmless)."""
    if cp < 0x20:
        return chr(0x2400 + cp)
    if cp == 0x7F:
        return "\u2421"
    if 0x80 <= cp <= 0x9F:
        return _marker(cp)
    if 0xD800 <= cp <= 0xDFFF:
        return _FFFD
    # Tag characters: the whole block, including its unassigned (Cn) slots, because a
    # newer terminal may know them as tags while this Python's unicodedata does not.
    if 0xE0000 <= cp <= 0xE007F:
        return _marker(cp)
    if 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
        return _marker(cp)
    if unicodedata.category(chr(cp)) in ("Cf", "Zl", "Zp", "Cc", "Cs"):
        return _marker(cp)
    return chr(cp)


class _TranslationTable(dict[int, str]):
    """``str.translate`` table that classifies a code point on first sight and caches it.

    Precomputing all 1.1 M code points would cost a second at import; classifying lazily
    costs one ``unicodedata`` lookup per distinct code point, after which ``translate``
    runs at C speed.
    """

    __slots__ = ()

    def __init__(self, overrides: dict[int, str]) -> None:
        super().__init__((cp, _classify(cp)) for cp in range(0x100))
        self.update(overrides)

    def __missing__(self, cp: int) -> str:
        out = _classify(cp)
        if len(self) < _CACHE_LIMIT:
            self[cp] = out
        return out


_ONE_LINE = _TranslationTable({})
# "\r\n" is folded to "\n" before translating; a lone "\r" becomes a line break too, so it
# can never return the cursor to column 0 and overwrite what was already drawn.
_MULTI_LINE = _TranslationTable({0x0A: "\n", 0x0D: "\n", 0x09: "\t"})


# --- combining marks ---------------------------------------------------------------------

# Built on first use: scanning the BMP with unicodedata takes ~20 ms, which ASCII-only
# workloads (and ``evtop --help``) should not pay at import time.
_combining_run_re: re.Pattern[str] | None = None
_is_mark_cache: dict[str, bool] = {}


def _is_mark(ch: str) -> bool:
    hit = _is_mark_cache.get(ch)
    if hit is None:
        hit = unicodedata.category(ch)[0] == "M"
        if len(_is_mark_cache) < _CACHE_LIMIT:
            _is_mark_cache[ch] = hit
    return hit


def _build_combining_run_re() -> re.Pattern[str]:
    """Compile a regex that finds runs of more than MAX_COMBINING mark *candidates*.

    A character class holding the exact astral mark ranges makes ``re`` test every
    character against a list of ~100 ranges (≈300 ns/char). So the class holds the exact
    BMP marks plus *every* astral code point, and :func:`_cap_run` checks astral
    characters precisely. Repeating the class (instead of ``{5,}``) keeps ``re``'s fast
    charset-prefix scan: ≈5 ns/char on text without long runs.
    """
    firsts = "".join(cat[0] for cat in map(unicodedata.category, map(chr, range(0x10000))))
    ranges = "".join(rf"\u{m.start():04x}-\u{m.end() - 1:04x}" for m in re.finditer("M+", firsts))
    cls = f"[{ranges}\\U00010000-\\U0010ffff]"
    return re.compile(cls * (MAX_COMBINING + 1) + cls + "*")


def _cap_run(match: re.Match[str]) -> str:
    out: list[str] = []
    marks = 0
    for ch in match.group():
        # Every BMP character the regex matched is a mark; astral ones need a real check.
        if ch < "\U00010000" or _is_mark(ch):
            marks += 1
            if marks > MAX_COMBINING:
                continue
        else:
            marks = 0
        out.append(ch)
    return "".join(out)


def _cap_combining(s: str) -> str:
    global _combining_run_re
    # Every mark takes at least two bytes in UTF-8, so text with few non-ASCII characters
    # (an accented name in a traceback) cannot hold a long run: skip the regex scan.
    if len(s.encode("utf-8", "surrogatepass")) - len(s) <= MAX_COMBINING:
        return s
    pattern = _combining_run_re
    if pattern is None:
        pattern = _combining_run_re = _build_combining_run_re()
    return pattern.sub(_cap_run, s)


# --- sanitize ----------------------------------------------------------------------------


def _to_str(value: object) -> str:
    """``str(value)`` that cannot fail: a broken ``__str__`` must not kill the caller."""
    if isinstance(value, str):
        # A str subclass could override methods; work on a plain copy.
        return str.__str__(value)
    try:
        return str(value)
    except Exception:
        try:
            return object.__repr__(value)
        except Exception:
            return "<unprintable>"


_LINE_PICTURES = (("\n", "\u240a"), ("\r", "\u240d"), ("\t", "\u2409"))
# ASCII controls other than the three above, for bytes.translate(None, delete=...).
_RARE_ASCII_CONTROLS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _only_line_controls(s: str, ascii_only: bool) -> bool:
    """True if ``\\n``, ``\\r`` and ``\\t`` are the only characters of ``s`` needing work."""
    if ascii_only:
        # Deleting the rare controls at C speed (<1 ns/char) beats isprintable() 3x.
        return len(s.encode("ascii").translate(None, _RARE_ASCII_CONTROLS)) == len(s)
    probe = s
    for ch, _ in _LINE_PICTURES:
        if ch in probe:
            probe = probe.replace(ch, " ")
    return probe.isprintable()


def _neutralize(s: str, multiline: bool, ascii_only: bool) -> str:
    """Rewrite the characters of a non-printable ``s`` that a terminal would act on."""
    # Text whose only controls are line breaks and tabs (tracebacks, pretty-printed
    # reprs) is by far the most common non-printable input. str.replace is an order of
    # magnitude faster than a translate that emits non-ASCII, so handle it without one.
    if _only_line_controls(s, ascii_only):
        if not multiline:
            for ch, picture in _LINE_PICTURES:
                if ch in s:
                    s = s.replace(ch, picture)
            return s
        if "\r" in s:
            s = s.replace("\r\n", "\n").replace("\r", "\n")
    elif multiline:
        if "\r" in s:
            s = s.replace("\r\n", "\n")
        s = s.translate(_MULTI_LINE)
    else:
        return s.translate(_ONE_LINE)
    return s.expandtabs(TAB_SIZE) if "\t" in s else s


def sanitize(value: object, *, multiline: bool = False) -> str:
    """Return ``value`` as text that a terminal can only display, never act on.

    ``multiline=False`` (table cells, status lines, dump lines) guarantees a single line:
    ``\\n``, ``\\r`` and ``\\t`` become ``␊``, ``␍`` and ``␉``. ``multiline=True`` (traceback
    and info panes) keeps ``\\n``, turns ``\\r\\n`` and a lone ``\\r`` into ``\\n`` and expands
    tabs to :data:`TAB_SIZE` stops. Idempotent: sanitizing the output again (in the same
    mode) changes nothing.
    """
    s = value if type(value) is str else _to_str(value)
    if s.isascii():
        # The common case, plain ASCII with nothing to neutralize: no work, no copy.
        if s.isprintable():
            return s
        return _neutralize(s, multiline, ascii_only=True)
    # isprintable() is False for every category the tables rewrite (Cc, Cf, Cs, Cn, Zl,
    # Zp), so printable text (CJK, accents, emoji) only needs the combining-mark cap.
    if not s.isprintable():
        s = _neutralize(s, multiline, ascii_only=False)
    return _cap_combining(s)


# --- width and truncation ----------------------------------------------------------------


def _char_width(ch: str) -> int:
    from wcwidth import wcwidth

    w = wcwidth(ch)
    return 1 if w < 0 else w


def display_width(text: str) -> int:
    """Terminal columns of ``text`` (wide East-Asian = 2, combining marks = 0).

    Never negative: a character wcwidth cannot place (a control character, if the text
    was not sanitized) counts as one column, the width of its control picture.
    """
    if text.isascii():
        return len(text)
    # Imported here, for non-ASCII text only: wcwidth takes longer to import than the
    # rest of the text layer, and a replay or a --dump never measures width.
    from wcwidth import wcswidth

    width = wcswidth(text)
    if width >= 0:
        return width
    return sum(map(_char_width, text))


_continuation_cache: dict[str, bool] = {}


def _is_continuation(ch: str) -> bool:
    """True for characters that belong to the character before them: a cut must not
    separate the two."""
    if ch < "\u0300":
        return False
    hit = _continuation_cache.get(ch)
    if hit is None:
        cp = ord(ch)
        hit = (
            unicodedata.category(ch)[0] == "M"  # combining marks, variation selectors
            or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
            or 0x1160 <= cp <= 0x11FF  # Hangul medial vowels and final consonants
            or 0xD7B0 <= cp <= 0xD7FF
        )
        if len(_continuation_cache) < _CACHE_LIMIT:
            _continuation_cache[ch] = hit
    return hit


def _is_regional_indicator(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _snap_marker(text: str, k: int) -> int:
    """Move cut ``k`` back to the start of the ``<U+XXXX>`` marker it would split, if any."""
    lt = text.rfind("<", max(0, k - _MARKER_MAX_LEN + 1), k)
    if lt != -1 and (m := _MARKER_RE.match(text, lt)) is not None and m.end() > k:
        return lt
    return k


def _snap(text: str, k: int) -> int:
    """Move cut ``k`` back to the nearest place that splits no unit.

    Units that must stay whole: a base character with its combining marks, a flag (pair
    of regional indicators) and a ``<U+XXXX>`` marker (ASCII, so also in ASCII text).
    """
    n = len(text)
    while True:
        start = k
        while 0 < k < n and _is_continuation(text[k]):
            k -= 1
        if 0 < k < n and _is_regional_indicator(text[k]) and _is_regional_indicator(text[k - 1]):
            first = k - 1
            while first > 0 and _is_regional_indicator(text[first - 1]):
                first -= 1
            if (k - first) % 2:
                k -= 1
        k = _snap_marker(text, k)
        if k == start:
            return k


def _fitting_prefix(text: str, budget: int) -> int:
    """Largest cut ``k`` at a unit boundary with ``display_width(text[:k]) <= budget``.

    Binary search on the width of whole prefixes: O(log n) C-speed ``wcswidth`` calls
    instead of a Python loop per character, and the measure is exactly the one
    :func:`display_width` applies to the result (grapheme rules included).
    """
    n = len(text)
    if text.isascii():
        return _snap_marker(text, min(n, budget))
    hi = min(n, budget + 1)
    while display_width(text[:hi]) <= budget:
        if hi == n:
            return n
        hi = min(n, hi * 2)
    lo = 0  # invariant: text[:lo] fits, text[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if display_width(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid
    return _snap(text, lo)


def _cut(text: str, width: int, suffix: str) -> str:
    """Longest ``text[:k] + suffix`` that fits in ``width`` columns, ``k`` at a unit boundary."""
    k = _fitting_prefix(text, max(0, width - display_width(suffix)))
    result = text[:k] + suffix
    # Widths are not always additive (a variation selector at the start of the suffix can
    # widen the last character), so check the joined result and give back units until it
    # fits. For the default ellipsis this loop never runs.
    while k > 0 and display_width(result) > width:
        k = _snap(text, k - 1)
        result = text[:k] + suffix
    return result


def truncate(text: str, width: int, *, ellipsis: str = "…") -> str:
    """Cut sanitized ``text`` to at most ``width`` columns, ending with ``ellipsis`` if cut.

    Never splits a wide character (it is dropped instead), never separates a base from its
    combining marks, never leaves half a ``<U+XXXX>`` marker. When ``width`` is narrower
    than the ellipsis, as much of the ellipsis as fits is returned. Never raises.
    """
    if width <= 0:
        return ""
    if text.isascii():
        if len(text) <= width:
            return text
        if ellipsis == "…" or (ellipsis.isascii() and len(ellipsis) <= width):
            # Nothing in ASCII text or in these ellipses can merge into one wide glyph,
            # so widths add up: cut directly, only minding ``<U+XXXX>`` markers.
            return text[: _snap_marker(text, width - len(ellipsis))] + ellipsis
    elif display_width(text) <= width:
        return text
    if display_width(ellipsis) > width:
        return _cut(ellipsis, width, "")
    return _cut(text, width, ellipsis)


def fit(text: str, width: int) -> str:
    """:func:`truncate` sanitized ``text``, then pad with spaces to exactly ``width`` columns."""
    if width <= 0:
        return ""
    cell = truncate(text, width)
    return cell + " " * (width - display_width(cell))
