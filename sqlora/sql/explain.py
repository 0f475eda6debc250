"""Plain-English explanations of SQL queries, built deterministically from the sqlglot tree.

>>> explain_sql("SELECT name FROM head WHERE age > 56 LIMIT 3")
'Returns name from table head, keeping rows where age is greater than 56, showing only the first 3 rows.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.dialects import normalize_dialect, sqlite_double_quoted_strings

_COMPARE = {
    exp.EQ: "is",
    exp.NEQ: "is not",
    exp.GT: "is greater than",
    exp.GTE: "is at least",
    exp.LT: "is less than",
    exp.LTE: "is at most",
    exp.NullSafeEQ: "is",
    exp.NullSafeNEQ: "is not",
}
_AGGREGATES = {exp.Sum: "the total", exp.Avg: "the average", exp.Min: "the minimum", exp.Max: "the maximum"}
_TEXTUAL = re.compile(r"(name|title|country|city|nation|state|type|code|address|email|description|genre|"
                      r"language|category|position|location|status|role|first|last)", re.I)  # fmt: skip
_TEMPORAL = re.compile(r"(date|year|time|day|month|when|created|updated|_at$|birth)", re.I)


class ExplainError(ValueError):
    """The SQL could not be parsed into one statement."""


@dataclass
class _Scope:
    """Names visible in one SELECT: table aliases -> table names, CTE names, whether columns need a table."""

    aliases: dict[str, str] = field(default_factory=dict)
    ctes: set[str] = field(default_factory=set)
    qualify: bool = False
    dialect: str = "sqlite"

    def child(self) -> _Scope:
        return _Scope(dict(self.aliases), set(self.ctes), False, self.dialect)


def explain_sql(sql: str, dialect: str = "sqlite") -> str:
    """A one-paragraph English description of what ``sql`` returns."""
    dialect = normalize_dialect(dialect)
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (ParseError, TokenError, RecursionError) as err:
        raise ExplainError(f"cannot parse the SQL: {str(err).splitlines()[0]}") from err
    if len(trees) != 1:
        raise ExplainError(f"expected one statement, found {len(trees)}")
    tree = trees[0]
    if dialect == "sqlite":  # "France" in SQLite is a string unless a column has that name
        tree = sqlite_double_quoted_strings(tree)
    if not isinstance(tree, exp.Query):
        return f"A {tree.key.upper()} statement: it changes the database rather than returning rows."
    text = _query(tree, _Scope(dialect=dialect), top=True)
    return text[0].upper() + text[1:] + "."


# -- queries --------------------------------------------------------------------------------------
def _query(node: exp.Expression, scope: _Scope, top: bool = False) -> str:
    """A query as a clause; at the top it starts with 'returns', nested it is a noun phrase."""
    node = node.unnest() if isinstance(node, exp.Subquery) else node
    if isinstance(node, exp.SetOperation):
        return _set_operation(node, scope, top)
    if isinstance(node, exp.Select):
        return _select(node, scope, top)
    return _sql(node, scope)


def _set_operation(node: exp.SetOperation, scope: _Scope, top: bool) -> str:
    left = _query(node.left, scope.child())
    right = _query(node.right, scope.child())
    if isinstance(node, exp.Union):
        dupes = "keeping duplicates" if not node.args.get("distinct") else "without duplicates"
        text = f"the rows of two queries combined ({dupes}): first {left}; then {right}"
    elif isinstance(node, exp.Intersect):
        text = f"only the rows found in both of two queries: {left}; and {right}"
    else:
        text = f"the rows of one query that are not in another: {left}; minus {right}"
    text += _tail(node, scope)
    return ("returns " if top else "") + text


def _select(node: exp.Select, scope: _Scope, top: bool) -> str:
    scope = scope.child() if not top else scope
    prefix = ""
    with_ = node.args.get("with") or node.args.get("with_")
    if with_:
        defs = []
        for cte in with_.expressions:
            scope.ctes.add(cte.alias_or_name)
            defs.append(f"{cte.alias_or_name} ({_query(cte.this, scope.child())})")
        prefix = "using " + " and ".join(defs) + ", "
    sources = _sources(node, scope)
    items = [_projection(e, scope) for e in node.expressions]
    what = _join_words(items)
    if node.args.get("distinct"):
        what = f"the distinct values of {what}" if len(items) == 1 else f"the distinct combinations of {what}"
    text = f"{what} from {sources}" if sources else what
    where = node.args.get("where")
    if where:
        text += f", keeping rows where {_cond(where.this, scope)}"
    group = node.args.get("group")
    if group and group.expressions:
        text += f", grouped by {_join_words([_value(g, scope) for g in group.expressions])}"
    having = node.args.get("having")
    if having:
        text += f", keeping only groups where {_cond(having.this, scope)}"
    text += _tail(node, scope)
    return prefix + ("returns " if top else "") + text


def _tail(node: exp.Expression, scope: _Scope) -> str:
    text = ""
    order = node.args.get("order")
    if order and order.expressions:
        text += ", sorted by " + _join_words([_ordered(o, scope) for o in order.expressions])
    offset = node.args.get("offset")
    limit = node.args.get("limit")
    count = limit.expression if limit is not None and limit.expression is not None else None
    if offset is not None:
        text += f", skipping the first {_value(offset.expression, scope)} rows"
    if count is not None:
        n = _value(count, scope)
        text += ", showing only the first row" if n == "1" else f", showing only the first {n} rows"
    return text


def _sources(node: exp.Select, scope: _Scope) -> str:
    from_ = node.args.get("from") or node.args.get("from_")
    if not from_:
        return ""
    joins = node.args.get("joins") or []
    scope.qualify = bool(joins)
    first = _source(from_.this, scope)
    parts = [first]
    for join in joins:
        table = _source(join.this, scope)
        kind = (join.side or join.kind or "").upper()
        on = join.args.get("on")
        using = join.args.get("using")
        if on is not None:
            how = f" (matching {_cond(on, scope, joining=True)})"
        elif using:
            how = f" (matching on {_join_words([u.name for u in using])})"
        else:
            how = ""
        if kind == "LEFT":
            parts.append(f"with matching rows of {table}{how}, including rows of {first} without a match")
        elif kind == "RIGHT":
            parts.append(f"with {table}{how}, including rows of {table} without a match")
        elif kind == "FULL":
            parts.append(f"with {table}{how}, including unmatched rows of both")
        elif kind == "CROSS" or (not how and kind != "NATURAL"):
            parts.append(f"combined with every row of {table}")
        elif kind == "NATURAL":
            parts.append(f"joined with {table} on their shared columns")
        else:
            parts.append(f"joined with {table}{how}")
    return " ".join(parts)


def _source(node: exp.Expression, scope: _Scope) -> str:
    alias = node.alias
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        name = node.name
        if alias:
            scope.aliases[alias] = name
        return f"the result {name}" if name in scope.ctes else f"table {name}"
    if isinstance(node, exp.Subquery):
        if alias:
            scope.aliases[alias] = alias
        inner = _query(node.this, scope.child())
        return f"a subquery{' ' + alias if alias else ''} ({inner})"
    return _sql(node, scope)


# -- expressions ----------------------------------------------------------------------------------
def _projection(node: exp.Expression, scope: _Scope) -> str:
    if isinstance(node, exp.Alias):
        inner = _value(node.this, scope)
        alias = node.alias
        return inner if alias.lower() == inner.lower() else f"{inner} (as {alias})"
    return _value(node, scope)


def _column(node: exp.Column, scope: _Scope) -> str:
    if isinstance(node.this, exp.Star):
        table = scope.aliases.get(node.table, node.table)
        return f"all columns of {table}" if table else "all columns"
    if node.table and scope.qualify:
        return f"{scope.aliases.get(node.table, node.table)}.{node.name}"
    return node.name


def _value(node: exp.Expression, scope: _Scope) -> str:  # noqa: PLR0911
    if isinstance(node, exp.Star):
        return "all columns"
    if isinstance(node, exp.Column):
        return _column(node, scope)
    if isinstance(node, exp.Literal):
        return f"'{node.this}'" if node.is_string else node.this
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if isinstance(node, exp.Paren):
        return _value(node.this, scope)
    if isinstance(node, exp.Alias):
        return _projection(node, scope)
    if isinstance(node, exp.Count):
        arg = node.this
        if arg is None or isinstance(arg, exp.Star):
            return "the number of rows"
        if isinstance(arg, exp.Distinct):
            return f"the number of distinct {_join_words([_value(e, scope) for e in arg.expressions])} values"
        return f"the number of {_value(arg, scope)} values"
    for kind, word in _AGGREGATES.items():
        if isinstance(node, kind):
            arg = node.this
            if isinstance(arg, exp.Distinct):
                return f"{word} of the distinct {_join_words([_value(e, scope) for e in arg.expressions])} values"
            return f"{word} {_value(arg, scope)}"
    if isinstance(node, exp.Subquery | exp.Select | exp.SetOperation):
        return _query(node, scope.child())
    if isinstance(node, exp.Case):
        return _case(node, scope)
    if isinstance(node, exp.Upper):
        return f"{_value(node.this, scope)} in upper case"
    if isinstance(node, exp.Lower):
        return f"{_value(node.this, scope)} in lower case"
    if isinstance(node, exp.Length):
        return f"the length of {_value(node.this, scope)}"
    if isinstance(node, exp.Abs):
        return f"the absolute value of {_value(node.this, scope)}"
    if isinstance(node, exp.Round):
        digits = node.args.get("decimals")
        places = f" to {_value(digits, scope)} decimal places" if digits is not None else ""
        return f"{_value(node.this, scope)} rounded{places}"
    if isinstance(node, exp.Substring):
        return f"part of {_value(node.this, scope)}"
    if isinstance(node, exp.DPipe | exp.Concat):
        parts = node.expressions if isinstance(node, exp.Concat) else [node.this, node.expression]
        return " joined with ".join(_value(p, scope) for p in parts)
    if isinstance(node, exp.Cast):
        return f"{_value(node.this, scope)} as {node.to.sql(dialect=scope.dialect)}"
    ops = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}
    if type(node) in ops:
        return f"{_value(node.left, scope)} {ops[type(node)]} {_value(node.right, scope)}"
    if isinstance(node, exp.Predicate | exp.Connector | exp.Not):
        return _cond(node, scope)
    return _sql(node, scope)


def _case(node: exp.Case, scope: _Scope) -> str:
    subject = node.this
    parts = []
    for when in node.args.get("ifs") or []:
        test = when.this
        cond = f"{_value(subject, scope)} is {_value(test, scope)}" if subject is not None else _cond(test, scope)
        parts.append(f"{_value(when.args['true'], scope)} when {cond}")
    default = node.args.get("default")
    text = "; ".join(parts)
    if default is not None:
        text += f", otherwise {_value(default, scope)}"
    return f"a value that is {text}"


def _cond(node: exp.Expression, scope: _Scope, joining: bool = False) -> str:  # noqa: PLR0911
    if isinstance(node, exp.Paren):
        inner = node.this
        text = _cond(inner, scope, joining)
        return f"({text})" if isinstance(inner, exp.Connector) else text
    if isinstance(node, exp.And):
        return f"{_cond(node.left, scope, joining)} and {_cond(node.right, scope, joining)}"
    if isinstance(node, exp.Or):
        return f"{_cond(node.left, scope, joining)} or {_cond(node.right, scope, joining)}"
    if isinstance(node, exp.Not):
        return _negated(node.this, scope)
    if node.args.get("negate") and isinstance(node, exp.Like | exp.ILike | exp.In | exp.Between):
        positive = node.copy()
        positive.set("negate", None)
        return _negated(positive, scope)
    if isinstance(node, exp.EQ) and all(isinstance(s, exp.Column) for s in (node.left, node.right)):
        return f"{_value(node.left, scope)} {'to' if joining else 'equals'} {_value(node.right, scope)}"
    for kind, words in _COMPARE.items():
        if type(node) is kind:
            return f"{_value(node.left, scope)} {words} {_operand(node.right, scope)}"
    if isinstance(node, exp.Like | exp.ILike):
        return f"{_value(node.this, scope)} {_like(node.expression, scope, isinstance(node, exp.ILike))}"
    if isinstance(node, exp.Between):
        low, high = _value(node.args["low"], scope), _value(node.args["high"], scope)
        return f"{_value(node.this, scope)} is between {low} and {high}"
    if isinstance(node, exp.In):
        return f"{_value(node.this, scope)} {_in(node, scope)}"
    if isinstance(node, exp.Is):
        return f"{_value(node.this, scope)} has no value (is NULL)"
    if isinstance(node, exp.Exists):
        return f"there is at least one row in {_exists(node.this, scope)}"
    return _value(node, scope)


def _negated(node: exp.Expression, scope: _Scope) -> str:
    if isinstance(node, exp.Paren) and not isinstance(node.this, exp.Connector):
        node = node.this
    if isinstance(node, exp.In):
        return f"{_value(node.this, scope)} {_in(node, scope, negated=True)}"
    if isinstance(node, exp.Like | exp.ILike):
        like = _like(node.expression, scope, isinstance(node, exp.ILike))
        return f"{_value(node.this, scope)} does not {like.replace('contains', 'contain').replace('starts', 'start').replace('ends', 'end').replace('matches', 'match').replace('is ', 'equal ', 1)}"  # noqa: E501
    if isinstance(node, exp.Is):
        return f"{_value(node.this, scope)} has a value (is not NULL)"
    if isinstance(node, exp.Exists):
        return f"there is no row in {_exists(node.this, scope)}"
    if isinstance(node, exp.Between):
        low, high = _value(node.args["low"], scope), _value(node.args["high"], scope)
        return f"{_value(node.this, scope)} is not between {low} and {high}"
    opposite = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LTE, exp.GTE: exp.LT, exp.LT: exp.GTE, exp.LTE: exp.GT}
    if type(node) in opposite:
        return _cond(opposite[type(node)](this=node.left, expression=node.right), scope)
    return f"it is not true that {_cond(node, scope)}"


def _operand(node: exp.Expression, scope: _Scope) -> str:
    if isinstance(node, exp.Subquery):
        return f"{_query(node.this, scope.child())}"
    return _value(node, scope)


def _like(pattern: exp.Expression, scope: _Scope, case_insensitive: bool) -> str:
    suffix = " (ignoring case)" if case_insensitive else ""
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        text = pattern.this
        core = text.strip("%")
        if "_" not in core and "%" not in core:
            if text.startswith("%") and text.endswith("%") and len(text) > 1:
                return f"contains '{core}'{suffix}"
            if text.endswith("%"):
                return f"starts with '{core}'{suffix}"
            if text.startswith("%"):
                return f"ends with '{core}'{suffix}"
            return f"is '{core}'{suffix}"
        return f"matches the pattern '{text}'{suffix}"
    return f"matches the pattern {_value(pattern, scope)}{suffix}"


def _in(node: exp.In, scope: _Scope, negated: bool = False) -> str:
    query = node.args.get("query")
    if query is not None:
        inner = query.this if isinstance(query, exp.Subquery) else query
        verb = "is not" if negated else "is"
        return f"{verb} among {_listing(inner, scope.child())}"
    values = [_value(v, scope) for v in node.expressions]
    if len(values) == 1:
        return f"{'is not' if negated else 'is'} {values[0]}"
    if negated:
        return f"is neither {values[0]} nor {values[1]}" if len(values) == 2 else f"is none of {', '.join(values)}"
    return f"is one of {_join_words(values, 'or')}"


def _listing(query: exp.Expression, scope: _Scope) -> str:
    """'the X values from table T, keeping rows where ...' for IN (subquery)."""
    text = _query(query, scope)
    if isinstance(query, exp.Select) and len(query.expressions) == 1 and isinstance(query.expressions[0], exp.Column):
        name = query.expressions[0].name
        if text.startswith(name):
            return f"the {name} values{text[len(name) :]}"
    return f"the results of ({text})"


def _exists(query: exp.Expression, scope: _Scope) -> str:
    inner = query.this if isinstance(query, exp.Subquery) else query
    if not isinstance(inner, exp.Select):
        return f"({_query(inner, scope.child())})"
    child = scope.child()
    sources = _sources(inner, child)
    where = inner.args.get("where")
    child.qualify = True
    return sources + (f" where {_cond(where.this, child)}" if where else "")


def _ordered(node: exp.Ordered, scope: _Scope) -> str:
    target = node.this
    desc = bool(node.args.get("desc"))
    name = target.name if isinstance(target, exp.Column) else ""
    if isinstance(target, exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max) or not name:
        direction = "from highest to lowest" if desc else "from lowest to highest"
    elif _TEMPORAL.search(name):
        direction = "from latest to earliest" if desc else "from earliest to latest"
    elif _TEXTUAL.search(name):
        direction = "in reverse alphabetical order" if desc else "alphabetically"
    else:
        direction = "from highest to lowest" if desc else "from lowest to highest"
    return f"{_value(target, scope)} {direction}"


def _join_words(items: list[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def _sql(node: exp.Expression, scope: _Scope) -> str:
    """Fallback: the expression's SQL, with table aliases replaced by table names."""
    copy = node.copy()
    for col in copy.find_all(exp.Column):
        if col.table:
            if scope.qualify:
                col.set("table", exp.to_identifier(scope.aliases.get(col.table, col.table)))
            else:
                col.set("table", None)
    return copy.sql(dialect=scope.dialect)
