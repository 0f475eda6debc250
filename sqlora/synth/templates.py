"""Template families: (question, SQL) candidates from table profiles, several phrasings each.

Families: ``count``, ``project``, ``distinct``, ``filter_text``, ``filter_number``, ``filter_date``,
``count_filter``, ``aggregate``, ``aggregate_filter``, ``group_count``, ``group_aggregate``, ``having``,
``top_group``, ``order_limit``, ``join``, ``join_filter``, ``join_group``, ``nested``, ``set_operation``.
Values in filters are real values read from the database; thresholds are quartiles rounded so that the
question and the SQL say the same number. Questions are picked among phrasings with a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from sqlora.synth.phrasing import Attribute, attribute, format_value, nice_number, noun
from sqlora.synth.profile import Builder, ColumnProfile, Link, TableProfile

FAMILIES = (
    "count",
    "project",
    "distinct",
    "filter_text",
    "filter_number",
    "filter_date",
    "count_filter",
    "aggregate",
    "aggregate_filter",
    "group_count",
    "group_aggregate",
    "having",
    "top_group",
    "order_limit",
    "join",
    "join_filter",
    "join_group",
    "nested",
    "set_operation",
)
FUNCTIONS = {
    "max": ("maximum", "highest"),
    "min": ("minimum", "lowest"),
    "avg": ("average", "mean"),
    "sum": ("total", "total"),
}
_NODES = {"max": exp.Max, "min": exp.Min, "avg": exp.Avg, "sum": exp.Sum}


@dataclass
class Candidate:
    """A question and its query, before execution; ``table`` is the main table (for splits and quotas)."""

    family: str
    table: str
    question: str
    query: exp.Expression


def _not_null(col: exp.Column) -> exp.Expression:
    return exp.Not(this=exp.Is(this=col, expression=exp.Null()))


def tidy(question: str) -> str:
    """One final stop: a value ending in '.' ('Pol. Sci.') does not get a second one."""
    return question[:-1] if question.endswith("..") else question


def usable_values(values: list) -> list:
    """Values a question can quote as they are: no surrounding spaces, no line breaks, not empty."""
    return [v for v in values if not isinstance(v, str) or (v.strip() == v and v and "\n" not in v)]


def _literal(value: object) -> exp.Expression:
    return exp.convert(value)


class TableTemplates:
    """Every single-table candidate of one table."""

    def __init__(self, b: Builder, t: TableProfile, rng: random.Random, values: int = 10):
        self.b, self.t, self.rng, self.values = b, t, rng, values
        self.thing = noun(t.name)
        self.label = attribute(t.label, t.name) if t.label else None

    def attr(self, col: ColumnProfile | str) -> Attribute:
        return attribute(col if isinstance(col, str) else col.name, self.t.name)

    def pick(self, *phrasings: str, **fields: str) -> str:
        return tidy(self.rng.choice(phrasings).format(**fields))

    def select(self, *cols: exp.Expression) -> exp.Select:
        return exp.select(*cols).from_(self.b.table(self.t.name))

    def c(self, name: str) -> exp.Column:
        return self.b.col(name)

    def fields(self, **extra: object) -> dict:
        out = {"one": self.thing.one, "many": self.thing.many, "a_one": self.thing.a()}
        if self.label:
            out.update(label=self.label.words, labels=self.label.many)
        return {**out, **{k: str(v) for k, v in extra.items()}}

    def all(self) -> Iterator[Candidate]:
        t = self.t
        numbers = [c for c in t.by_kind("number") if c.distinct > 1][:4]
        dates = [c for c in t.by_kind("date") if c.distinct > 1][:2]
        categorical = t.categorical[:5]
        yield from self.counts()
        yield from self.projections(numbers + categorical + dates)
        yield from self.lookups(numbers + categorical + dates)
        for cat in categorical:
            yield from self.categorical(cat, numbers)
        for num in numbers:
            yield from self.numeric(num, categorical)
        for date in dates:
            yield from self.dated(date)

    def make(self, family: str, question: str, query: exp.Expression) -> Candidate:
        return Candidate(family, self.t.name, question, query)

    def counts(self) -> Iterator[Candidate]:
        q = self.pick(
            "How many {many} are there?",
            "Count the number of {many}.",
            "What is the total number of {many}?",
            "Find the number of {many}.",
            "How many {many} do we have?",
            **self.fields(),
        )
        yield self.make("count", q, self.select(exp.Count(this=exp.Star())))

    def projections(self, others: list[ColumnProfile]) -> Iterator[Candidate]:
        if not self.label:
            return
        f = self.fields()
        q = self.pick(
            "List the {labels} of all {many}.",
            "What are the {labels} of the {many}?",
            "Show the {label} of every {one}.",
            "Give me the {label} of each {one}.",
            **f,
        )
        yield self.make("project", q, self.select(self.c(self.t.label)))
        for other in others[:3]:
            o = self.attr(other)
            q = self.pick(
                "Show the {label} and {o} of each {one}.",
                "List the {labels} and {os} of all {many}.",
                "What is the {o} of each {one}? Show it with the {label}.",
                **f,
                o=o.words,
                os=o.many,
            )
            yield self.make("project", q, self.select(self.c(self.t.label), self.c(other.name)))

    def lookups(self, others: list[ColumnProfile]) -> Iterator[Candidate]:
        """'What is the height of the mountain whose name is Kibo?' for real names."""
        if not self.label:
            return
        label = self.t.column(self.t.label)
        for value in usable_values(label.top_values)[: self.values]:
            for other in others[:4]:
                o = self.attr(other)
                q = self.pick(
                    "What is the {o} of the {one} whose {label} is {v}?",
                    "Show the {o} of the {one} with {label} {v}.",
                    "For the {one} whose {label} is {v}, what is the {o}?",
                    **self.fields(),
                    o=o.words,
                    v=format_value(value),
                )
                where = exp.EQ(this=self.c(self.t.label), expression=_literal(value))
                yield self.make("filter_text", q, self.select(self.c(other.name)).where(where))

    def categorical(self, cat: ColumnProfile, numbers: list[ColumnProfile]) -> Iterator[Candidate]:
        a, f = self.attr(cat), self.fields()
        col = lambda: self.c(cat.name)  # noqa: E731
        q = self.pick(
            "What are the distinct {cs} of the {many}?",
            "List all the different {cs} of {many}.",
            "Find the unique {cs} among all {many}.",
            **f,
            cs=a.many,
        )
        yield self.make("distinct", q, exp.select(col()).distinct().from_(self.b.table(self.t.name)))
        q = self.pick(
            "How many {many} are there for {each}?",
            "Count the number of {many} for {each}.",
            "Show {each} and the number of {many} with it.",
            "For {each}, how many {many} are there?",
            **f,
            each=a.each,
        )
        yield self.make("group_count", q, self.select(col(), exp.Count(this=exp.Star())).group_by(col()))
        q = self.pick(
            "Which {c} is the most common among the {many}?",
            "What is the most common {c} of {many}?",
            "Find the {c} shared by the largest number of {many}.",
            **f,
            c=f"value of {a.words}" if a.plural_words else a.words,
        )
        order = self.b.ordered(exp.Count(this=exp.Star()), desc=True)
        yield self.make("top_group", q, self.select(col()).group_by(col()).order_by(order).limit(1))
        for k in (2, 3):
            q = self.pick(
                "Which {cs} have at least {k}?",
                "List the {cs} that at least {k} have.",
                "Show the {cs} shared by at least {k}.",
                **f,
                cs=a.many,
                k=self.thing.count(k),
            )
            having = exp.GTE(this=exp.Count(this=exp.Star()), expression=exp.convert(k))
            yield self.make("having", q, self.select(col()).group_by(col()).having(having))
        for value in usable_values(cat.top_values)[: self.values]:
            v = format_value(value)
            f = {**self.fields(), "with_cv": a.having(v), "have_cv": a.had(v)}
            eq = lambda value=value: exp.EQ(this=col(), expression=_literal(value))  # noqa: E731
            q = self.pick(
                "How many {many} have {have_cv}?",
                "Count the {many} whose {c} {be} {v}.",
                "What is the number of {many} {with_cv}?",
                **f,
                c=a.words,
                be=a.be,
                v=v,
            )
            yield self.make("count_filter", q, self.select(exp.Count(this=exp.Star())).where(eq()))
            if self.label:
                q = self.pick(
                    "What are the {labels} of the {many} whose {c} {be} {v}?",
                    "List the {labels} of {many} {with_cv}.",
                    "Show the {label} of each {one} whose {c} {be} {v}.",
                    "Which {many} have {have_cv}? Give their {labels}.",
                    **f,
                    c=a.words,
                    be=a.be,
                    v=v,
                )
                yield self.make("filter_text", q, self.select(self.c(self.t.label)).where(eq()))
                for num in [n for n in numbers if n.median is not None][:1]:
                    n, x = self.attr(num), nice_number(num.median)
                    q = self.pick(
                        "What are the {labels} of the {many} whose {c} {be} {v} and whose {n} {nbe} above {x}?",
                        "List the {labels} of {many} {with_cv} and {n} greater than {x}.",
                        **f,
                        c=a.words,
                        be=a.be,
                        v=v,
                        n=n.words,
                        nbe=n.be,
                        x=format_value(x),
                    )
                    both = exp.and_(eq(), exp.GT(this=self.c(num.name), expression=exp.convert(x)))
                    yield self.make("filter_text", q, self.select(self.c(self.t.label)).where(both))
            for num in numbers[:2]:
                n = self.attr(num)
                fn = self.rng.choice(["avg", "max", "min"])
                word = FUNCTIONS[fn][0]
                q = self.pick(
                    "What is the {amount} of the {many} whose {c} {be} {v}?",
                    "Find the {amount} of {many} {with_cv}.",
                    **f,
                    amount=n.amount(word),
                    c=a.words,
                    be=a.be,
                    v=v,
                )
                yield self.make("aggregate_filter", q, self.select(_NODES[fn](this=self.c(num.name))).where(eq()))
        if len(usable_values(cat.top_values)) >= 2 and self.label:
            v1, v2 = usable_values(cat.top_values)[:2]
            side = lambda v: self.select(self.c(self.t.label)).where(exp.EQ(this=col(), expression=_literal(v)))  # noqa: E731
            q = self.pick(
                "Which {labels} belong to {many} whose {c} {be} {v1} or {v2}?",
                "List the {labels} of {many} {with_cv1} or {with_cv2}.",
                **f,
                c=a.words,
                be=a.be,
                v1=format_value(v1),
                v2=format_value(v2),
                with_cv1=a.having(format_value(v1)),
                with_cv2=a.having(format_value(v2)),
            )
            yield self.make("set_operation", q, exp.union(side(v1), side(v2), distinct=True))
        for num in numbers[:2]:
            n = self.attr(num)
            fn = self.rng.choice(["avg", "max", "min", "sum"])
            word = FUNCTIONS[fn][0]
            q = self.pick(
                "What is the {amount} of {many} for {each}?",
                "For {each}, show the {amount} of the {many}.",
                "Show {each} with the {amount} of its {many}.",
                **f,
                amount=n.amount(word),
                each=a.each,
            )
            query = self.select(col(), _NODES[fn](this=self.c(num.name))).group_by(col())
            yield self.make("group_aggregate", q, query)
            if num.median is not None:
                x = nice_number(num.median)
                above = exp.GT(this=self.c(num.name), expression=exp.convert(x))
                below = exp.LT(this=self.c(num.name), expression=exp.convert(x))
                q = self.pick(
                    "Which {cs} have both {many} with {n} above {x} and {many} with {n} below {x}?",
                    "Show the {cs} that have {many} with {n} greater than {x} as well as {many} with {n} "
                    "less than {x}.",
                    **f,
                    cs=a.many,
                    n=n.words,
                    x=format_value(x),
                )
                both = exp.intersect(self.select(col()).where(above), self.select(col()).where(below), distinct=True)
                yield self.make("set_operation", q, both)
                q = self.pick(
                    "Which {cs} have no {one} with {n} above {x}?",
                    "List the {cs} where no {one} has {n} greater than {x}.",
                    **f,
                    cs=a.many,
                    n=n.words,
                    x=format_value(x),
                )
                rest = exp.except_(
                    self.select(col()).where(_not_null(col())), self.select(col()).where(above.copy()), distinct=True
                )
                yield self.make("set_operation", q, rest)

    def numeric(self, num: ColumnProfile, categorical: list[ColumnProfile]) -> Iterator[Candidate]:
        n, f = self.attr(num), self.fields()
        col = lambda: self.c(num.name)  # noqa: E731
        for fn in ("max", "min", "avg", "sum"):
            word = self.rng.choice(FUNCTIONS[fn])
            q = self.pick(
                "What is the {amount} of all {many}?",
                "Find the {amount} across all {many}.",
                "What is the {amount} among the {many}?",
                **f,
                amount=n.amount(word),
            )
            yield self.make("aggregate", q, self.select(_NODES[fn](this=col())))
        q = self.pick(
            "What are the maximum and minimum {n} of all {many}?",
            "Show the highest and lowest {n} of the {many}.",
            **f,
            n=n.words,
        )
        yield self.make("aggregate", q, self.select(exp.Max(this=col()), exp.Min(this=col())))
        if not self.label:
            return
        for desc, most in ((True, "highest"), (False, "lowest")):
            q = self.pick(
                "What is the {label} of the {one} with the {most} {n}?",
                "Which {one} has the {most} {n}? Give its {label}.",
                "Find the {label} of the {one} whose {n} {be} the {most}.",
                **f,
                most=most,
                n=n.words,
                be=n.be,
            )
            order = self.b.ordered(col(), desc=desc)
            yield self.make("order_limit", q, self.select(self.c(self.t.label)).order_by(order).limit(1))
        k = 3
        q = self.pick(
            "List the {labels} of the {k} {many} with the highest {n}.",
            "What are the {labels} of the top {k} {many} by {n}?",
            **f,
            k=k,
            n=n.words,
        )
        order = self.b.ordered(col(), desc=True)
        yield self.make("order_limit", q, self.select(self.c(self.t.label)).order_by(order).limit(k))
        desc = self.rng.random() < 0.5
        way = (
            ("in descending order of {n}", "from highest to lowest {n}")
            if desc
            else ("in ascending order of {n}", "from lowest to highest {n}")
        )
        q = self.pick(
            f"List the {{labels}} of all {{many}} {way[0]}.",
            f"Show the {{label}} of every {{one}}, sorted {way[1]}.",
            **f,
            n=n.words,
        )
        yield self.make("order_limit", q, self.select(self.c(self.t.label)).order_by(self.b.ordered(col(), desc=desc)))
        for x in sorted({nice_number(v) for v in num.quartiles}):
            for op, more in ((exp.GT, "greater than"), (exp.LT, "less than")):
                where = op(this=col(), expression=exp.convert(x))
                q = self.pick(
                    "How many {many} have {a_n} {more} {x}?",
                    "Count the {many} whose {n} {be} {more} {x}.",
                    **f,
                    n=n.words,
                    a_n=n.a,
                    be=n.be,
                    more=more,
                    x=format_value(x),
                )
                yield self.make("filter_number", q, self.select(exp.Count(this=exp.Star())).where(where.copy()))
                q = self.pick(
                    "What are the {labels} of the {many} with {n} {more} {x}?",
                    "List the {labels} of {many} whose {n} {be} {more} {x}.",
                    "Which {many} have {a_n} {more} {x}? Give their {labels}.",
                    **f,
                    n=n.words,
                    a_n=n.a,
                    be=n.be,
                    more=more,
                    x=format_value(x),
                )
                yield self.make("filter_number", q, self.select(self.c(self.t.label)).where(where))
        q = self.pick(
            "Which {many} have {n} above the average? List their {labels}.",
            "List the {labels} of {many} whose {n} {be} higher than the average {n}.",
            "What are the {labels} of the {many} with more than the average {n}?",
            **f,
            n=n.words,
            be=n.be,
        )
        average = exp.Subquery(this=self.select(exp.Avg(this=col())))
        yield self.make("nested", q, self.select(self.c(self.t.label)).where(exp.GT(this=col(), expression=average)))

    def dated(self, date: ColumnProfile) -> Iterator[Candidate]:
        if date.median is None:
            return
        d, f = self.attr(date), self.fields()
        when = str(date.median)[:10]
        for op, word in ((exp.GT, "after"), (exp.LT, "before")):
            where = op(this=self.c(date.name), expression=exp.convert(when))
            q = self.pick(
                "How many {many} have {a_d} {word} {when}?",
                "Count the {many} whose {d} {be} {word} {when}.",
                **f,
                d=d.words,
                a_d=d.a,
                be=d.be,
                word=word,
                when=when,
            )
            yield self.make("filter_date", q, self.select(exp.Count(this=exp.Star())).where(where.copy()))
            if not self.label:
                continue
            q = self.pick(
                "Which {many} have {a_d} {word} {when}? List their {labels}.",
                "List the {labels} of {many} whose {d} {be} {word} {when}.",
                "What are the {labels} of the {many} with {d} {word} {when}?",
                **f,
                d=d.words,
                a_d=d.a,
                be=d.be,
                word=word,
                when=when,
            )
            yield self.make("filter_date", q, self.select(self.c(self.t.label)).where(where))
        q = self.pick(
            "What is the earliest {d} of all {many}?", "Find the earliest {d} among the {many}.", **f, d=d.words
        )
        yield self.make("aggregate", q, self.select(exp.Min(this=self.c(date.name))))
        if not self.label:
            return
        q = self.pick(
            "List the {labels} of the {many} ordered by {d}, newest first.",
            "Show the {label} of each {one} from the most recent {d} to the oldest.",
            **f,
            d=d.words,
        )
        order = self.b.ordered(self.c(date.name), desc=True)
        yield self.make("order_limit", q, self.select(self.c(self.t.label)).order_by(order))


def join_candidates(
    b: Builder, link: Link, child: TableProfile, parent: TableProfile, rng: random.Random, values: int = 3
) -> Iterator[Candidate]:
    """Candidates joining ``child`` to ``parent`` along ``link`` (Spider-style T1/T2 aliases)."""
    if not parent.label:
        return
    c_noun, p_noun = noun(child.name), noun(parent.name)
    p_label = attribute(parent.label, parent.name)
    on = exp.EQ(this=b.col(link.column, "T1"), expression=b.col(link.ref, "T2"))
    joined = lambda q: q.from_(b.table(child.name, "T1")).join(b.table(parent.name, "T2"), on=on.copy())  # noqa: E731
    pick = lambda *options, **kw: tidy(rng.choice(options).format(**kw))  # noqa: E731
    f = {
        "c": c_noun.one,
        "cs": c_noun.many,
        "p": p_noun.one,
        "ps": p_noun.many,
        "pl": p_label.words,
        "pls": p_label.many,
        # 'mountain name', but a long label alone: 'product type description', not 'product category product ...'
        "ppl": p_label.words if len(p_label.words.split()) > 1 else f"{p_noun.one} {p_label.words}",
    }
    same = child.name == parent.name
    if child.label and not same:
        c_label = attribute(child.label, child.name)
        q = pick(
            "Show the {cl} of each {c} and the {pl} of its {p}.",
            "List the {cls} of {cs} together with the {pls} of their {ps}.",
            "For each {c}, give its {cl} and the {pl} of the corresponding {p}.",
            **f,
            cl=c_label.words,
            cls=c_label.many,
        )
        yield Candidate("join", child.name, q, joined(exp.select(b.col(child.label, "T1"), b.col(parent.label, "T2"))))
        for value in usable_values(parent.column(parent.label).top_values)[:values]:
            v = format_value(value)
            where = exp.EQ(this=b.col(parent.label, "T2"), expression=_literal(value))
            q = pick(
                "What are the {cls} of the {cs} whose {ppl} is {v}?",
                "List the {cls} of {cs} linked to the {p} with {pl} {v}.",
                "Show the {cl} of every {c} of the {p} whose {pl} is {v}.",
                **f,
                cl=c_label.words,
                cls=c_label.many,
                v=v,
            )
            yield Candidate("join_filter", child.name, q, joined(exp.select(b.col(child.label, "T1"))).where(where))
        for num in [c for c in child.by_kind("number") if c.distinct > 1][:1]:
            n = attribute(num.name, child.name)
            q = pick(
                "What is the {amount} of {cs} for each {p}? Show the {ppl}.",
                "For each {ppl}, what is the {amount} of its {cs}?",
                **f,
                amount=n.amount("average"),
            )
            query = joined(exp.select(b.col(parent.label, "T2"), exp.Avg(this=b.col(num.name, "T1"))))
            yield Candidate("join_group", child.name, q, query.group_by(b.col(parent.label, "T2")))
    if same:
        return
    q = pick(
        "How many {cs} does each {p} have? Show the {ppl}.",
        "For each {ppl}, how many {cs} are there?",
        "Show the {pl} of each {p} and the number of {cs} it has.",
        **f,
    )
    label = b.col(parent.label, "T2")
    yield Candidate("join_group", child.name, q, joined(exp.select(label, exp.Count(this=exp.Star()))).group_by(label))
    q = pick(
        "Which {p} has the most {cs}? Give its {pl}.",
        "What is the {pl} of the {p} with the largest number of {cs}?",
        **f,
    )
    order = b.ordered(exp.Count(this=exp.Star()), desc=True)
    group = [b.col(link.ref, "T2"), b.col(parent.label, "T2")]
    top = joined(exp.select(b.col(parent.label, "T2"))).group_by(*group).order_by(order).limit(1)
    yield Candidate("join_group", child.name, q, top)
    inner = exp.select(b.col(link.column)).from_(b.table(child.name)).where(_not_null(b.col(link.column)))
    for negate, phrasings in (
        (True, ("Which {ps} have no {cs}? Give their {pls}.", "List the {pls} of {ps} that do not have any {cs}.")),
        (False, ("List the {pls} of {ps} that have at least one {c}.", "Which {ps} have some {cs}? Show their {pls}.")),
    ):
        cond = exp.In(this=b.col(link.ref), query=exp.Subquery(this=inner.copy()))
        query = (
            exp.select(b.col(parent.label)).from_(b.table(parent.name)).where(exp.Not(this=cond) if negate else cond)
        )
        yield Candidate("nested", parent.name, pick(*phrasings, **f), query)


def all_candidates(b: Builder, tables: list[TableProfile], links: list[Link], rng: random.Random) -> list[Candidate]:
    """Candidates for every non-empty table and every link."""
    out: list[Candidate] = []
    by_name = {t.name: t for t in tables}
    for table in tables:
        if table.rows:
            out.extend(TableTemplates(b, table, rng).all())
    for link in links:
        child, parent = by_name.get(link.child), by_name.get(link.parent)
        if child and parent and child.rows and parent.rows:
            out.extend(join_candidates(b, link, child, parent, rng))
    return out
