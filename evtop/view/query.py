"""The filter language of the ``/`` prompt and of search: words that must all match, like
k9s and htop.

``add fail`` keeps rows where some field contains ``add`` and some field contains
``fail``; ``state:failure`` or ``worker:w1`` looks in one field, ``name=proj.add``
wants the whole field equal, and commas give either value in that field
(``state:failure,retry``); ``!`` in front negates (``!state:success``). Matching is
case-insensitive, so nothing the user types can be an invalid pattern.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat

#: The filter syntax, for the help screen.
FILTER_HELP = (
    "Filter (/) and search (F3): the table narrows (or the selection moves) as you type",
    "  word          rows with word in any column (all words must match)",
    "  field:word    word in that column, e.g. state:fail, worker:w1, name:add",
    "  field=value   that column is exactly value, e.g. state=failure",
    "  field:a,b     either value in that column, e.g. state:failure,retry",
    "  !term         rows where term does not match",
)


@dataclass(frozen=True)
class Term:
    #: The term holds when any of these does (commas in ``field:a,b``).
    needles: tuple[str, ...]
    field: str | None = None
    negate: bool = False
    exact: bool = False

    def holds(self, value: str) -> bool:
        if self.exact:
            return value in self.needles
        return any(needle in value for needle in self.needles)

    def holds_each(self, values: Iterable[str]) -> Iterator[bool]:
        """:meth:`holds` for each value, in C loops where it can (one needle, or an exact
        term): a filter typed at a million rows reads them all."""
        if self.exact:
            return map(frozenset(self.needles).__contains__, values)
        if len(self.needles) == 1:
            return map(operator.contains, values, repeat(self.needles[0]))
        return map(self.holds, values)

    def implies(self, other: Term) -> bool:
        """Whether every value this term keeps, ``other`` keeps too (by the rule of
        :meth:`holds`, which this must follow): ``add`` after ``ad``, ``=x`` after ``x``,
        ``state:fail`` after ``state:fail,retry``. Each value this term accepts must hold
        one of ``other``'s needles: one inside each of this term's needles is enough."""
        if self == other:
            return True
        if self.negate or other.negate or self.field != other.field:
            return False
        if other.exact:
            return self.exact and set(self.needles) <= set(other.needles)
        return all(any(theirs in mine for theirs in other.needles) for mine in self.needles)


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[Term, ...]
    #: Words naming a field this table does not have (shown to the user, never matched).
    unknown_fields: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """True when every term holds for a row whose searchable text is ``fields``."""
        for term in self.terms:
            if term.field is None:
                found = any(term.holds(value) for value in fields.values())
            else:
                found = term.holds(fields.get(term.field, ""))
            if found == term.negate:
                return False
        return True


def narrows(query: Query, other: Query) -> bool:
    """Whether ``query`` keeps only rows ``other`` keeps (each of ``other``'s terms is
    implied by one of ``query``'s), so it can search ``other``'s rows instead of all:
    the filter as it is typed one more letter, or one more word."""
    return all(any(term.implies(old) for term in query.terms) for old in other.terms)


def parse(text: str, fields: tuple[str, ...]) -> Query:
    """Parse the prompt text for a table whose searchable fields are ``fields``.

    ``field:value`` and ``field=value`` need a known field name (or an unambiguous
    prefix of one, so ``s:fail`` is ``state:fail`` on the task table); anything else is
    a plain word. ``field:a,b`` is one term holding for either value (an empty value,
    as in ``state:fail,`` half typed, is left out).
    """
    terms: list[Term] = []
    unknown: list[str] = []
    for word in text.split():
        negate = word.startswith("!") and len(word) > 1
        if negate:
            word = word[1:]
        cut = min((i for i in (word.find(":"), word.find("=")) if i > 0), default=-1)
        name, needle = (word[:cut], word[cut + 1 :]) if cut > 0 else ("", word)
        exact = cut > 0 and word[cut] == "="
        field = None
        if name and needle:
            matching = [f for f in fields if f.startswith(name.lower())]
            if name.lower() in fields or len(matching) == 1:
                field = name.lower() if name.lower() in fields else matching[0]
            else:
                unknown.append(name)
                continue
        else:
            needle, exact = word, False
        # In a field, a comma separates values; a plain word may hold one (args text).
        values = [v for v in needle.lower().split(",") if v] if field else [needle.lower()]
        terms.append(Term(tuple(dict.fromkeys(values or [needle.lower()])), field, negate, exact))
    return Query(text, tuple(terms), tuple(unknown))
