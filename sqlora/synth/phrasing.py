"""Readable English for table and column names: words, plurals and agreement (``inflect``), value formats.

``humanize("order_date") == "order date"``, ``humanize("ordered_at") == "order time"``,
``humanize("Mountain_ID") == "mountain ID"``, ``humanize("customer_name", table="customers") == "name"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import inflect

_ENGINE = inflect.engine()

ABBREVIATIONS = {
    "id": "ID", "ids": "IDs", "no": "number", "num": "number", "nbr": "number", "qty": "quantity",
    "amt": "amount", "desc": "description", "descr": "description", "addr": "address", "dept": "department",
    "emp": "employee", "yr": "year", "yrs": "years", "avg": "average", "pct": "percentage", "perc": "percentage",
    "info": "information", "cnt": "count", "fname": "first name", "lname": "last name", "dob": "date of birth",
    "dt": "date", "tel": "telephone", "msg": "message", "cust": "customer", "prod": "product", "cat": "category",
    "mgr": "manager", "org": "organization", "ref": "reference", "st": "street", "std": "standard",
    "hr": "hour", "hrs": "hours", "mins": "minutes", "tot": "total", "cred": "credits",
    "expires": "expiry", "temp": "temperature", "lat": "latitude", "lon": "longitude",
    "lng": "longitude", "sec": "seconds", "url": "URL", "gpa": "GPA", "ssn": "SSN", "zip": "ZIP",
    "gdp": "GDP", "usd": "USD", "api": "API", "iso": "ISO",
}  # fmt: skip
EDGE_ABBREVIATIONS = {"min": ("minimum", "minute"), "max": ("maximum", "max")}  # (first word, last word)
# "<verb>ed_at" timestamps: the event's noun ("ordered_at" -> "order time")
EVENT_NOUNS = {
    "created": "creation", "updated": "update", "modified": "modification", "deleted": "deletion",
    "ordered": "order", "shipped": "shipping", "delivered": "delivery", "paid": "payment", "started": "start",
    "ended": "end", "finished": "finish", "completed": "completion", "published": "publication",
    "registered": "registration", "joined": "joining", "signed": "signing", "sent": "sending",
    "received": "receipt", "closed": "closing", "opened": "opening", "posted": "posting", "born": "birth",
    "hired": "hiring", "released": "release", "approved": "approval", "cancelled": "cancellation",
    "canceled": "cancellation", "logged": "login", "placed": "placement",
}  # fmt: skip
MASS_NOUNS = {
    "information", "data", "equipment", "staff", "personnel", "news", "software", "hardware", "furniture",
    "music", "money", "police", "series", "species", "feedback", "luggage", "baggage", "media", "mail",
    "inventory", "stock", "revenue", "weather", "traffic", "research", "evidence", "advice", "housing",
}  # fmt: skip
_SINGULAR_ENDINGS = ("ss", "us", "is", "ous", "ics")
PREPOSITIONS = {"in", "on", "at", "of", "with", "to", "by", "for", "from"}
# Tables named after a relation ('takes', 'Trained_In', 'Has_Allergy') are counted as '<name> records'
RELATION_WORDS = {
    "in", "on", "at", "of", "with", "to", "by", "for", "from", "has", "have", "is", "are", "takes", "take",
    "teaches", "teach", "undergoes", "undergo", "prescribes", "prescribe", "visits", "plays", "works", "lives",
    "belongs", "owns", "attends", "manages", "participates", "enrolled", "affiliated", "trained", "likes",
    "follows", "rates", "reviews", "writes", "wrote", "directed", "performs", "hosts", "buys", "sells", "uses",
    "contains", "includes", "appears", "registered", "assigned", "located", "made", "played",
}  # fmt: skip


def split_words(identifier: str) -> list[str]:
    """'Mountain_ID' -> ['mountain', 'id']; 'firstName' -> ['first', 'name']; 'HTTPCode2' -> ['http', 'code', '2']."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    text = re.sub(r"([A-Za-z])(\d)", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w]


def is_plural(word: str) -> bool:
    """True for a plural noun ('hours', 'people'); False for singular and mass nouns ('status', 'news')."""
    word = word.lower()
    if word in MASS_NOUNS or word.endswith(_SINGULAR_ENDINGS) or word in ("ids",):
        return word == "ids"
    singular = _ENGINE.singular_noun(word)
    return bool(singular) and singular != word


def singular(word: str) -> str:
    return _ENGINE.singular_noun(word) if is_plural(word) else word


def plural(word: str) -> str:
    """Plural of one noun (already-plural and mass nouns are returned as they are)."""
    if is_plural(word) or word.lower() in MASS_NOUNS or word == "ID":
        return word + "s" if word == "ID" else word
    return _ENGINE.plural_noun(word)


def _strip_table_prefix(words: list[str], table: str | None) -> list[str]:
    if not table:
        return words
    stem = [singular(w) for w in split_words(table)]
    n = len(stem)
    if n and len(words) > n and [singular(w) for w in words[:n]] == stem:
        rest = words[n:]
        return rest if rest != ["id"] else words
    return words


@lru_cache(maxsize=4096)
def humanize(identifier: str, table: str | None = None) -> str:
    """A column or table name as words; a column's own table prefix is dropped ('customer_name' -> 'name')."""
    words = _strip_table_prefix(split_words(identifier), table)
    if len(words) >= 3 and words[0] in ("date", "time") and words[-1] in EVENT_NOUNS:  # date_account_opened
        words = [*words[1:-1], EVENT_NOUNS[words[-1]], words[0]]
    elif len(words) >= 2 and words[-1] == "at" and words[-2] in EVENT_NOUNS:
        words = [*words[:-2], EVENT_NOUNS[words[-2]], "time"]
    elif len(words) >= 2 and words[-1] in ("at", "on") and words[-2].endswith("ed"):
        words = [*words[:-1], "time" if words[-1] == "at" else "date"]
    out: list[str] = []
    for i, word in enumerate(words):
        if word in EDGE_ABBREVIATIONS and len(words) > 1:  # 'min_salary' -> minimum, 'end_min' -> minute
            word = EDGE_ABBREVIATIONS[word][0 if i == 0 else 1] if i in (0, len(words) - 1) else word
        out.extend(ABBREVIATIONS.get(word, word).split())
    if len(out) >= 3 and out[0] == "number" and out[1] == "of":
        out = [*out[:2], plural(out[2]), *out[3:]]
    deduped = [w for i, w in enumerate(out) if i == 0 or w != out[i - 1]]
    return " ".join(deduped) or identifier


@dataclass(frozen=True)
class Noun:
    """A noun phrase with its singular and plural forms ('order item' / 'order items')."""

    one: str
    many: str

    def count(self, n: int) -> str:
        """'1 climber', '3 climbers'."""
        return f"{n} {self.one if n == 1 else self.many}"

    def a(self) -> str:
        """'a climber', 'an order'."""
        return _ENGINE.a(self.one)


def _head(words: list[str]) -> int:
    """Index of the head noun: the word before 'of' ('year of birth'), else the last word."""
    if "of" in words[1:]:
        return words.index("of", 1) - 1
    return len(words) - 1


def noun(identifier: str, table: str | None = None) -> Noun:
    """Singular and plural of a table name ('customers' -> customer/customers) or a column name."""
    words = humanize(identifier, table).split()
    if table is None and (words[-1] in RELATION_WORDS or words[0] in RELATION_WORDS):
        name = " ".join(words)
        if words[-1] in PREPOSITIONS:  # '"trained in" records', never 'trained in records'
            name = f'"{name}"'
        return Noun(f"{name} record", f"{name} records")
    i = _head(words)
    head = words[i]
    if head.isdigit() or head.isupper() and head != "ID":
        return Noun(" ".join(words), " ".join(words))
    one = [*words[:i], singular(head), *words[i + 1 :]]
    many = [*words[:i], plural(singular(head)), *words[i + 1 :]]
    return Noun(" ".join(one), " ".join(many))


@dataclass(frozen=True)
class Attribute:
    """A column as the property of a row: 'name' -> 'the name' / 'the names'; 'hours' agrees with 'are'."""

    words: str

    @property
    def plural_words(self) -> bool:
        words = self.words.split()
        return is_plural(words[_head(words)])

    @property
    def many(self) -> str:
        words = self.words.split()
        i = _head(words)
        head = words[i]
        if self.plural_words or head.lower() in MASS_NOUNS or head.isupper() and head != "ID" or head.endswith("ed"):
            return self.words  # 'date account opened' has no plural of its own
        return " ".join([*words[:i], plural(words[i]), *words[i + 1 :]])

    @property
    def a(self) -> str:
        """'a start date', 'an end'; plural columns take no article."""
        return self.words if self.plural_words else _ENGINE.a(self.words)

    def having(self, value: str) -> str:
        """'with color Red'; a plural column reads 'whose other details are VIP'."""
        return f"whose {self.words} are {value}" if self.plural_words else f"with {self.words} {value}"

    def had(self, value: str) -> str:
        """'color Red' (after 'have'); a plural column reads 'other details that are VIP'."""
        return f"{self.words} that are {value}" if self.plural_words else f"{self.words} {value}"

    @property
    def each(self) -> str:
        """'each country'; a plural column reads 'each value of other details'."""
        return f"each value of {self.words}" if self.plural_words else f"each {self.words}"

    @property
    def be(self) -> str:
        """'is' or 'are', agreeing with the column's words."""
        return "are" if self.plural_words else "is"

    def amount(self, fn: str) -> str:
        """'average height' ; a plural column reads 'average number of hours'."""
        return f"{fn} number of {self.words}" if self.plural_words else f"{fn} {self.words}"


def attribute(column: str, table: str | None = None) -> Attribute:
    return Attribute(humanize(column, table))


def format_value(value: object) -> str:
    """A value as it reads in a question: numbers without trailing zeros, text as it is."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    return str(value)


def nice_number(value: object) -> int | float:
    """A round threshold near ``value`` (two decimals at most) usable both in SQL and in the question."""
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer():
        return int(number)
    return round(number, 2) if abs(number) < 100 else int(round(number))


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return _ENGINE.join(items, final_sep="")
