"""The sanitizer against hostile event strings: escapes, bidi, zero-width and oversized text.

Everything here is attacker-controlled input in production, so the properties are checked
three ways: on a fixed list of known attacks, exhaustively over every code point, with
hypothesis on arbitrary text (lone surrogates included), and by replaying the output into
a real terminal emulator (pyte) to see that the screen, title and cursor row survive.
"""

from __future__ import annotations

import re
import sys
import unicodedata

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.text.sanitize import (
    MAX_COMBINING,
    TAB_SIZE,
    _classify,
    display_width,
    fit,
    sanitize,
    truncate,
)

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
MARKER_RE = re.compile(r"<U\+[0-9A-F]{4,6}>")


def is_noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def assert_terminal_safe(s: str, *, multiline: bool = False) -> None:
    """No code point in ``s`` is one a terminal would interpret rather than draw."""
    assert isinstance(s, str)
    for i, ch in enumerate(s):
        if multiline and ch == "\n":
            continue
        cat = unicodedata.category(ch)
        assert cat not in UNSAFE_CATEGORIES, f"U+{ord(ch):04X} ({cat}) at {i} in {s!r}"
        assert not is_noncharacter(ord(ch)), f"noncharacter U+{ord(ch):04X} at {i}"
        assert not 0xE0000 <= ord(ch) <= 0xE007F, f"tag character U+{ord(ch):04X} at {i}"
    if not multiline:
        assert "\n" not in s and "\r" not in s


def longest_mark_run(s: str) -> int:
    longest = run = 0
    for ch in s:
        run = run + 1 if unicodedata.category(ch)[0] == "M" else 0
        longest = max(longest, run)
    return longest


# --- known attacks ----------------------------------------------------------------------

# (id, hostile input, visible text that must appear in the single-line output)
HOSTILE = [
    ("csi-clear-home", f"{ESC}[2J{ESC}[H", "␛[2J␛[H"),
    ("csi-sgr-red", f"{ESC}[31mred", "␛[31mred"),
    ("csi-conceal", f"{ESC}[8mhidden", "␛[8m"),
    ("csi-altscreen", f"{ESC}[?1049h", "␛[?1049h"),
    ("osc0-bel", f"{ESC}]0;pwned{BEL}", "␛]0;pwned␇"),
    ("osc0-st", f"{ESC}]0;pwned{ST}", "␛]0;pwned␛\\"),
    ("osc2-bel", f"{ESC}]2;pwned{BEL}", "␛]2;pwned␇"),
    ("osc2-st", f"{ESC}]2;pwned{ST}", "␛]2;pwned␛\\"),
    ("osc8-link", f"{ESC}]8;;https://evil.example{ST}click{ESC}]8;;{ST}", "␛]8;;https://evil.example"),
    ("osc52-clipboard-bel", f"{ESC}]52;c;Y3VybCBldmlsfHNo{BEL}", "␛]52;c;"),
    ("osc52-clipboard-st", f"{ESC}]52;c;Y3VybCBldmlsfHNo{ST}", "␛]52;c;"),
    ("dcs", f"{ESC}P1$r0m{ST}", "␛P1$r0m"),
    ("sos", f"{ESC}Xstring{ST}", "␛Xstring"),
    ("pm", f"{ESC}^privacy{ST}", "␛^privacy"),
    ("apc", f"{ESC}_app{ST}", "␛_app"),
    ("c1-csi", "\x9b2J", "<U+009B>2J"),
    ("c1-osc", "\x9d0;pwned\x9c", "<U+009D>0;pwned<U+009C>"),
    ("c1-dcs", "\x90q\x9c", "<U+0090>q<U+009C>"),
    ("cr-overwrite", "ok\rFAILED", "ok␍FAILED"),
    ("backspaces", "tasks.add" + "\b" * 20 + "rm -rf", "␈" * 20),
    ("newline", "line1\nline2", "line1␊line2"),
    ("tab", "a\tb", "a␉b"),
    ("del", "x\x7fy", "x␡y"),
    ("nul", "x\x00y", "x␀y"),
    ("bidi-rlo-host", "celery@\u202eevil.com", "celery@<U+202E>evil.com"),
    ("bidi-isolates", "a\u2066b\u2069c\u061c", "a<U+2066>b<U+2069>c<U+061C>"),
    ("bidi-marks", "\u200e\u200f", "<U+200E><U+200F>"),
    ("zero-width-space", "w\u200b1", "w<U+200B>1"),
    ("zwnj-word-joiner", "a\u200cb\u2060c\u2064", "a<U+200C>b<U+2060>c<U+2064>"),
    ("bom", "\ufefftask", "<U+FEFF>task"),
    ("soft-hyphen", "ad\u00admin", "ad<U+00AD>min"),
    ("line-separators", "a\u2028b\u2029c", "a<U+2028>b<U+2029>c"),
    ("tags", "flag\U000e0067\U000e0062\U000e007f", "<U+E0067><U+E0062><U+E007F>"),
    ("noncharacters", "\ufdd0\ufffe\U0001ffff", "<U+FDD0><U+FFFE><U+1FFFF>"),
    ("lone-surrogates", "a\ud800b\udfffc", "a\ufffdb\ufffdc"),
]


@pytest.mark.parametrize(("payload", "visible"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_strings_become_visible_text(payload: str, visible: str) -> None:
    out = sanitize(payload)
    assert_terminal_safe(out)
    assert visible in out
    assert sanitize(out) == out
    # Embedded in ordinary text, in both modes, the neighbours survive untouched.
    wrapped = sanitize(f"left {payload} right")
    assert wrapped.startswith("left ") and wrapped.endswith(" right")
    assert_terminal_safe(sanitize(payload, multiline=True), multiline=True)


def test_every_c0_control_and_del_become_control_pictures() -> None:
    for cp in range(0x20):
        assert sanitize(chr(cp)) == chr(0x2400 + cp)
    assert sanitize("\x7f") == "\u2421"
    assert sanitize("\x1b[2J") == "␛[2J"
    assert sanitize("\x00") == "␀"


def test_every_c1_control_becomes_a_marker() -> None:
    for cp in range(0x80, 0xA0):
        assert sanitize(chr(cp)) == f"<U+{cp:04X}>"


def test_markers_use_upper_case_hex_and_astral_width() -> None:
    assert sanitize("\u202e") == "<U+202E>"
    assert sanitize("\U000e0001") == "<U+E0001>"
    assert sanitize("\U0010fffe") == "<U+10FFFE>"


def test_every_format_character_is_marked() -> None:
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cf":
            assert sanitize(ch) == f"<U+{cp:04X}>"


def test_every_code_point_comes_out_terminal_safe() -> None:
    """Exhaustive: all 1.1 M code points, in blocks, in both modes."""
    step = 4096
    for start in range(0, sys.maxunicode + 1, step):
        block = "".join(map(chr, range(start, min(start + step, sys.maxunicode + 1))))
        one_line = sanitize(block)
        assert_terminal_safe(one_line)
        assert longest_mark_run(one_line) <= MAX_COMBINING
        assert_terminal_safe(sanitize(block, multiline=True), multiline=True)


def test_fast_path_agrees_with_the_table() -> None:
    """Printable text skips the translate table, so the table may only rewrite what
    ``str.isprintable`` rejects; otherwise the fast path would let something through."""
    for cp in range(sys.maxunicode + 1):
        if _classify(cp) != chr(cp):
            assert not chr(cp).isprintable(), f"U+{cp:04X}"


def test_ascii_printable_is_returned_as_is() -> None:
    s = "proj.tasks.add(2, 2) -> 4 @ worker1.example.com"
    assert sanitize(s) is s
    assert sanitize(s, multiline=True) is s


def test_harmless_text_passes_unchanged() -> None:
    for s in [
        "東京タワー 任务 작업",
        "café naïve Ærøskøbing",
        "e\u0301 precomposed and decomposed",
        "📦 deploy 🚀",
        "❤\ufe0f",
        "🇫🇷🇩🇪",
        "👍🏽",
        "\ue000\U000f0000",  # private use
        "\u00a0\u3000",  # no-break and ideographic space
        "␛[2J",  # already neutralized text stays as it is
    ]:
        assert sanitize(s) == s, s


def test_emoji_zwj_sequences_show_their_joiners() -> None:
    # ZWJ is Cf: shown as a marker like every other invisible character, so two hostnames
    # that differ only by a joiner can never look identical.
    assert sanitize("👨\u200d👩\u200d👧") == "👨<U+200D>👩<U+200D>👧"


def test_combining_runs_are_capped() -> None:
    zalgo = "Z" + "\u0301" * 500
    out = sanitize(zalgo)
    assert out == "Z" + "\u0301" * MAX_COMBINING
    assert display_width(out) == 1
    many = ("a" + "\u0300\u0301\u0302\u0303\u0304\u0305\u0306") * 50
    out = sanitize(many)
    assert out == ("a" + "\u0300\u0301\u0302\u0303") * 50
    # Marks at the very start (no base) are capped too, and so are astral marks.
    assert sanitize("\u0301" * 9 + "x") == "\u0301" * MAX_COMBINING + "x"
    assert sanitize("𝕏" + "\U0001d167" * 10) == "𝕏" + "\U0001d167" * MAX_COMBINING
    mixed = "b" + "\u0301\U0001d167" * 5
    assert sanitize(mixed) == "b\u0301\U0001d167\u0301\U0001d167"
    # Enclosing (Me) and spacing (Mc) marks count as well.
    assert sanitize("o" + "\u20dd" * 8) == "o" + "\u20dd" * MAX_COMBINING
    assert sanitize("\u0915" + "\u093e" * 8) == "\u0915" + "\u093e" * MAX_COMBINING
    # Four marks are legitimate (Vietnamese, IPA): untouched.
    assert sanitize("a\u0300\u0301\u0302\u0303") == "a\u0300\u0301\u0302\u0303"
    # A run broken by a format character is two runs, each within the cap.
    three = "\u0301" * 3
    assert sanitize(f"a{three}\u200b{three}") == f"a{three}<U+200B>{three}"


def test_astral_text_without_marks_is_kept() -> None:
    emoji = "😀" * 40
    assert sanitize(emoji) == emoji
    assert sanitize("𝕏𝕐𝕑" * 20) == "𝕏𝕐𝕑" * 20


def test_multiline_keeps_newlines_and_folds_carriage_returns() -> None:
    assert sanitize("a\nb", multiline=True) == "a\nb"
    assert sanitize("a\r\nb\r\n", multiline=True) == "a\nb\n"
    assert sanitize("progress 10%\rprogress 99%", multiline=True) == "progress 10%\nprogress 99%"
    assert sanitize("a\r\r\nb", multiline=True) == "a\n\nb"
    # Everything else is still neutralized, and non-ASCII lines take the same route.
    assert sanitize("x\x1b[2J\ny\x00", multiline=True) == "x␛[2J\ny␀"
    assert sanitize("東\r\n京\u202e\r", multiline=True) == "東\n京<U+202E>\n"


def test_multiline_expands_tabs_to_stops() -> None:
    assert TAB_SIZE == 4
    assert sanitize("\tx", multiline=True) == "    x"
    assert sanitize("ab\tc", multiline=True) == "ab  c"
    assert sanitize("abcd\te\n\tf", multiline=True) == "abcd    e\n    f"
    assert sanitize("a\tb\x1b", multiline=True) == "a   b␛"


def test_single_line_output_is_one_line() -> None:
    tb = 'Traceback (most recent call last):\r\n  File "x.py", line 1\n\tboom\u2028'
    out = sanitize(tb)
    assert_terminal_safe(out)
    assert out == 'Traceback (most recent call last):␍␊  File "x.py", line 1␊␉boom<U+2028>'


def test_non_strings_are_converted() -> None:
    assert sanitize(42) == "42"
    assert sanitize(None) == "None"
    assert sanitize(1.5) == "1.5"
    assert sanitize([1, "\x1b[2J"]) == "[1, '\\x1b[2J']"
    assert sanitize(b"\x1b[2J") == "b'\\x1b[2J'"
    assert sanitize({"k": "\u202e"}) == "{'k': '\\u202e'}"  # repr already escapes it
    assert sanitize(["é\u0301" + "\u0301" * 9]) == "['é" + "\u0301" * 4 + "']"

    class Hostile:
        def __str__(self) -> str:
            return "\x1b]0;pwned\x07"

    assert sanitize(Hostile()) == "␛]0;pwned␇"

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    out = sanitize(Broken())
    assert out.startswith("<") and "Broken" in out

    class Sub(str):
        def isascii(self) -> bool:  # a subclass must not be able to skip the checks
            return True

        def isprintable(self) -> bool:
            return True

    out = sanitize(Sub("\x1b[2J"))
    assert out == "␛[2J" and type(out) is str


# --- width, truncate, fit -----------------------------------------------------------------


def test_display_width() -> None:
    assert display_width("") == 0
    assert display_width("hello") == 5
    assert display_width("東京") == 4
    assert display_width("e\u0301") == 1
    assert display_width("<U+202E>") == 8
    assert display_width("␛[2J") == 4
    # Raw controls never make it negative.
    assert display_width("\x1b[2J") == 4
    assert display_width("東\x1b") == 3
    assert display_width("\u0301") == 0


def test_truncate_ascii() -> None:
    assert truncate("hello", 10) == "hello"
    assert truncate("hello", 5) == "hello"
    assert truncate("hello world", 5) == "hell…"
    assert truncate("hello world", 1) == "…"
    assert truncate("hello", 0) == ""
    assert truncate("hello", -3) == ""
    assert truncate("", 3) == ""
    assert truncate("hello world", 6, ellipsis="...") == "hel..."
    assert truncate("hello world", 2, ellipsis="...") == ".."
    assert truncate("hello world", 4, ellipsis="") == "hell"


def test_truncate_never_splits_a_marker() -> None:
    s = "host<U+202E>name"
    for width in range(len(s) + 2):
        out = truncate(s, width)
        assert display_width(out) <= width
        body = out.removesuffix("…")
        # Either the whole marker is kept or none of it.
        assert ("<U+202E>" in body) or ("<" not in body), (width, out)
    assert truncate(s, 11) == "host…"
    assert truncate(s, 13) == "host<U+202E>…"
    # Same in non-ASCII text.
    t = "東京<U+202E>東京"
    for width in range(display_width(t) + 2):
        body = truncate(t, width).removesuffix("…")
        assert ("<U+202E>" in body) or ("<" not in body), (width, body)


def test_truncate_drops_a_wide_character_instead_of_splitting_it() -> None:
    assert truncate("東京タワー", 4) == "東…"
    assert truncate("東京タワー", 5) == "東京…"
    assert truncate("東京タワー", 1) == "…"
    assert truncate("a東京", 3) == "a…"
    assert truncate("東京タワー", 2, ellipsis="...") == ".."


def test_truncate_keeps_marks_with_their_base() -> None:
    s = "e\u0301\u0302" * 10
    for width in range(12):
        out = truncate(s, width)
        body = out.removesuffix("…")
        assert body == s[: len(body)]
        assert len(body) % 3 == 0, (width, out)
        assert display_width(out) <= width


def test_truncate_keeps_flags_whole() -> None:
    flags = "🇫🇷🇩🇪🇮🇹"
    for width in range(8):
        body = truncate(flags, width).removesuffix("…")
        assert len(body) % 2 == 0, (width, body)


def test_fit_pads_to_exact_width() -> None:
    assert fit("ab", 5) == "ab   "
    assert fit("hello world", 5) == "hell…"
    assert fit("東京タワー", 4) == "東… "
    assert fit("x", 0) == ""
    for width in range(1, 12):
        assert display_width(fit("東京<U+202E>e\u0301", width)) == width


# --- properties -----------------------------------------------------------------------------

# Every code point, surrogates included, plus the interesting ones often enough to matter.
INTERESTING = [h[1] for h in HOSTILE] + ["\u0301" * 7, "東", "👨\u200d👩", "🇫🇷", "<U+202E>", "\r\n", "\t"]
any_text = st.lists(
    st.one_of(
        st.text(st.characters(exclude_categories=()), max_size=20),
        st.sampled_from(INTERESTING),
    ),
    max_size=8,
).map("".join)


@given(any_text, st.booleans())
def test_sanitize_is_always_terminal_safe(s: str, multiline: bool) -> None:
    out = sanitize(s, multiline=multiline)
    assert_terminal_safe(out, multiline=multiline)
    assert longest_mark_run(out) <= MAX_COMBINING


@given(any_text, st.booleans())
def test_sanitize_is_idempotent(s: str, multiline: bool) -> None:
    once = sanitize(s, multiline=multiline)
    assert sanitize(once, multiline=multiline) == once


@settings(max_examples=300)
@given(any_text, st.integers(min_value=0, max_value=80))
def test_truncate_and_fit_respect_the_width(s: str, width: int) -> None:
    clean = sanitize(s)
    cut = truncate(clean, width)
    assert display_width(cut) <= width
    assert display_width(cut) >= 0
    if width == 0:
        assert cut == ""  # even zero-width text: nothing is drawn in a zero-width cell
    elif display_width(clean) <= width:
        assert cut == clean
    else:
        assert cut.endswith("…")
        assert clean.startswith(cut[:-1])
    assert display_width(fit(clean, width)) == width


@given(any_text, st.integers(min_value=-5, max_value=40), st.sampled_from(["…", "...", "", "»»", "東"]))
def test_width_functions_never_raise_even_on_raw_text(s: str, width: int, ellipsis: str) -> None:
    assert display_width(s) >= 0
    out = truncate(s, width, ellipsis=ellipsis)
    assert display_width(out) <= max(width, 0)
    assert len(fit(s, width)) >= 0


# --- replay into a terminal emulator ---------------------------------------------------------

COLS, ROWS, ROW = 60, 8, 3


def render(payload: str) -> pyte.Screen:
    """A screen with known content on every row, the payload written at row ``ROW``."""
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.Stream(screen)
    for row in range(ROWS):
        stream.feed(f"{ESC}[{row + 1};1Hbaseline row {row}")
    stream.feed(f"{ESC}[{ROW + 1};1H{ESC}[K")
    stream.feed(payload)
    return screen


BASELINE = render("")


def assert_screen_intact(screen: pyte.Screen) -> None:
    assert screen.title == BASELINE.title == ""
    assert screen.icon_name == BASELINE.icon_name == ""
    assert screen.mode == BASELINE.mode
    assert screen.cursor.y == ROW
    assert screen.cursor.attrs == BASELINE.cursor.attrs
    for row in range(ROWS):
        if row != ROW:
            assert screen.display[row] == BASELINE.display[row], row
    for x in range(COLS):
        assert screen.buffer[ROW][x].fg == "default"
        assert screen.buffer[ROW][x].bg == "default"
        assert not screen.buffer[ROW][x].reverse


@pytest.mark.parametrize("payload", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_sanitized_output_cannot_touch_the_screen(payload: str) -> None:
    cell = fit(sanitize(f"task {payload} end"), 50)
    screen = render(cell)
    assert_screen_intact(screen)
    assert screen.display[ROW].startswith("task ")


def test_sanitized_everything_at_once_cannot_touch_the_screen() -> None:
    payload = "".join(h[1] for h in HOSTILE) + "Z" + "\u0301" * 500 + "東京👨\u200d👩"
    screen = render(truncate(sanitize(payload), COLS - 1))
    assert_screen_intact(screen)


@pytest.mark.parametrize(
    ("payload", "damage"),
    [
        (f"{ESC}[2J", "cleared"),
        (f"{ESC}]2;pwned{BEL}", "title"),
        (f"{ESC}]0;pwned{ST}", "title"),
        ("\x9d2;pwned\x07", "title"),
        ("\x9b2J", "cleared"),
        ("a\nb", "row"),
        (f"{ESC}[31mred", "colour"),
    ],
)
def test_the_emulator_harness_sees_raw_attacks(payload: str, damage: str) -> None:
    """Sanity check of the harness: the same attacks unsanitized do change the screen."""
    screen = render(payload)
    if damage == "cleared":
        assert all(not line.strip() for i, line in enumerate(screen.display) if i != ROW)
    elif damage == "title":
        assert screen.title == "pwned"
    elif damage == "row":
        assert screen.cursor.y != ROW
    else:
        assert screen.buffer[ROW][0].fg == "red"
    assert sanitize(payload) != payload


def test_line_controls_do_not_shift_neighbouring_columns() -> None:
    """A hostile cell between two columns leaves both columns where they were."""
    hostile = "\r" + "\b" * 20 + "\n\t\x7f\x00"
    row = "left|" + fit(sanitize(hostile), 30) + "|right"
    screen = render(row)
    assert_screen_intact(screen)
    line = screen.display[ROW]
    assert line.startswith("left|")
    assert line[5 + 30 :].startswith("|right")
    assert "␍" + "␈" * 20 + "␊␉␡␀" in line
