"""One way to do each thing: layering of sqlora.sql under sqlora.db, one SQLite opener, one QueryResult."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import sqlora
import sqlora.sql

PACKAGE = Path(sqlora.__file__).parent


def _module_imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_sql_package_never_imports_db():
    offenders = {
        path.name: sorted(m for m in _module_imports(path) if m.startswith("sqlora.db"))
        for path in (PACKAGE / "sql").glob("*.py")
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_importing_every_sql_module_loads_no_db_module():
    names = [f"sqlora.sql.{m.name}" for m in pkgutil.iter_modules(sqlora.sql.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlora.db')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert len(names) >= 7 and out.strip() == "[]"


def test_sqlite_files_are_opened_read_only_in_one_place():
    openers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if '"?mode=ro"' in path.read_text() or "sqlite3.connect(uri" in path.read_text()
    ]
    assert openers == ["db/sqlite.py"]


def test_one_query_result_class():
    from sqlora.db import QueryResult
    from sqlora.evaluation import execution, testsuite

    classes = [
        f"{path.relative_to(PACKAGE)}" for path in PACKAGE.rglob("*.py") if "class QueryResult" in path.read_text()
    ]
    assert classes == ["db/executors.py"]
    assert execution.QueryResult is QueryResult and testsuite.QueryResult is QueryResult


def test_adapter_metadata_file_name_is_defined_once():
    definitions = [
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if '= "sqlora.json"' in path.read_text()
    ]
    assert definitions == ["constants.py"]


def test_version_comes_from_package_metadata():
    from importlib.metadata import version

    assert sqlora.__version__ == version("sqlora")


def test_import_sqlora_loads_no_heavy_library():
    code = "import sys, sqlora; print(sorted(m for m in ('torch', 'transformers', 'sqlalchemy', 'sqlglot') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_query_rows_become_json_in_one_place():
    """The server and the MCP tools both send rows through QueryResult.json_rows (no converter of their own)."""
    import datetime as dt
    import json
    from decimal import Decimal

    from sqlora.db.executors import QueryResult

    row = (Decimal("1.50"), dt.date(2020, 1, 2), dt.datetime(2020, 1, 2, 3, 4), b"\xff\x00", b"ab", None, 7, True)
    converted = QueryResult(columns=list("abcdefgh"), rows=[row]).json_rows()
    assert converted == [[1.5, "2020-01-02", "2020-01-02T03:04:00", "0xff00", "ab", None, 7, True]]
    assert json.loads(json.dumps(converted)) == converted
    for module in ("serving/app.py", "mcp/tools.py"):
        assert "def json_cell" not in (PACKAGE / module).read_text()
