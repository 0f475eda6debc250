"""Training commands start again with jemalloc preloaded (sqlora.training.allocator).

That a real `sqlora train` process runs on it is checked by test_training_runs (the run summary's ``allocator``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqlora.training import allocator
from sqlora.training.allocator import command_of, jemalloc_environment, jemalloc_library

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def venv_with_jemalloc(tmp_path: Path) -> dict[str, str]:
    """An environment whose virtual environment holds a libjemalloc.so.2 (found before the system's)."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libjemalloc.so.2").write_bytes(b"")
    return {"VIRTUAL_ENV": str(tmp_path), "PATH": "/usr/bin"}


def test_command_is_the_first_argument_that_is_not_an_option() -> None:
    assert command_of(["sqlora", "--debug", "train", "--data", "x"]) == "train"
    assert command_of(["sqlora", "--help"]) is None


@pytest.mark.parametrize("command", ["train", "adapt", "demo"])
def test_training_commands_preload_jemalloc(command: str, venv_with_jemalloc: dict[str, str]) -> None:
    env = jemalloc_environment(["sqlora", command, "--data", "rows.jsonl"], venv_with_jemalloc)
    assert env is not None
    assert env["LD_PRELOAD"] == f"{venv_with_jemalloc['VIRTUAL_ENV']}/lib/libjemalloc.so.2"
    assert env["MALLOC_CONF"] == allocator.TUNING_GUIDE_MALLOC_CONF
    assert env["PATH"] == "/usr/bin"  # the rest of the environment is kept


def test_a_users_malloc_conf_is_kept(venv_with_jemalloc: dict[str, str]) -> None:
    env = jemalloc_environment(["sqlora", "train"], {**venv_with_jemalloc, "MALLOC_CONF": "narenas:1"})
    assert env is not None and env["MALLOC_CONF"] == "narenas:1"


def test_an_existing_preload_is_kept(venv_with_jemalloc: dict[str, str]) -> None:
    env = jemalloc_environment(["sqlora", "train"], {**venv_with_jemalloc, "LD_PRELOAD": "/opt/libfoo.so"})
    assert env is not None and env["LD_PRELOAD"].endswith("libjemalloc.so.2 /opt/libfoo.so")


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["sqlora", "ask", "How many singers?"], {}),  # not a training command
        (["sqlora", "train"], {"SQLORA_ALLOCATOR": "system"}),  # the user's choice
        (["sqlora", "train"], {"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}),  # already running on it
        (["sqlora", "train"], {"LD_PRELOAD": "/usr/lib/libtcmalloc.so.4"}),  # the user's own allocator
    ],
)
def test_no_restart(argv: list[str], extra: dict[str, str], venv_with_jemalloc: dict[str, str]) -> None:
    assert jemalloc_environment(argv, {**venv_with_jemalloc, **extra}) is None


def test_unknown_setting_and_missing_library_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="SQLORA_ALLOCATOR='tcmalloc'"):
        jemalloc_environment(["sqlora", "train"], {"SQLORA_ALLOCATOR": "tcmalloc"})
    monkeypatch.setattr(allocator, "SEARCH_DIRS", ())
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert jemalloc_library({}) is None
    assert jemalloc_environment(["sqlora", "train"], {}) is None  # auto: the system allocator then
    with pytest.raises(ValueError, match="no libjemalloc.so.2"):
        jemalloc_environment(["sqlora", "train"], {"SQLORA_ALLOCATOR": "jemalloc"})


def test_bad_setting_is_one_error_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sqlora", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"SQLORA_ALLOCATOR": "fast", "PATH": "/usr/bin"},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: SQLORA_ALLOCATOR='fast': use one of auto, jemalloc, system"]
