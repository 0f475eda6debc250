"""The one example record every part of sqlora speaks, and the result of loading a file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Example:
    """A text-to-SQL pair: a question, its schema context (CREATE TABLE text) and gold SQL."""

    question: str
    context: str
    sql: str
    db_id: str | None = None
    db_path: str | None = None

    @property
    def group(self) -> str:
        """The key that keeps a database (or, without db_id, a schema) in one split."""
        return self.db_id or self.context.strip().lower()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RowError:
    """A malformed input row: where it is and why it was rejected."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class LoadResult:
    """Examples that passed validation, plus every row that did not."""

    examples: list[Example] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0
