"""The filter language of the ``/`` prompt: words that must all match, like k9s and htop.

``add fail`` keeps rows where some field contains ``add`` and some field contains
``fail``; ``state:failure`` or ``worker:w1`` looks in one field, ``name=proj.add``
wants the whole field equal; ``!`` in front negates (``!state:success``). Matching is
case-insensitive, so nothing the user types can be an invalid pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The filter syntax, for the help screen.
FILTER_HELP = (
    "Filter (/)",
    "  word          rows with word in any column (all words must match)",
    "  field:word    word in that column, e.g. state:fail, worker:w1, name:add",
    "  field=value   that column is exactly value, e.g. state=failure",
    "  !term         rows where term does not match",
)


@dataclass(frozen=True)
class Term:
    needle: str
    field: str | None = None
    negate: bool = False
    exact: bool = False

    def holds(self, value: str) -> bool:
        return value == self.needle if self.exact else self.needle in value

    def implies(self, other: Term) -> bool:
        """Whether every value this term keeps, ``other`` keeps too (by the rule of
        :meth:`holds`, which this must follow): ``add`` after ``ad``, ``=x`` after ``x``."""
        if self == other:
            return True
        return (
            not self.negate
            and not other.negate
            and not other.exact
            and self.field == other.field
            and other.needle in self.needle
        )


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
    a plain word.
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
        terms.append(Term(needle.lower(), field, negate, exact))
    return Query(text, tuple(terms), tuple(unknown))
