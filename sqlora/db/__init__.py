"""Users' databases: connect by URL, schema context, and the read-only execution gate."""

from sqlora.db.connect import Database, DatabaseError, ForeignKey
from sqlora.db.executors import QueryError, QueryResult, QueryTimeout
from sqlora.db.readonly import UnsafeSQLError, check_readonly, is_readonly

__all__ = [
    "Database",
    "DatabaseError",
    "ForeignKey",
    "QueryError",
    "QueryResult",
    "QueryTimeout",
    "UnsafeSQLError",
    "check_readonly",
    "is_readonly",
]
