"""The memory allocator of CPU training: jemalloc where the machine has it, as PyTorch's CPU tuning guide advises.

glibc's malloc keeps freed activation buffers of many sizes in fragmented arenas, so a CPU run's resident size
climbs past what it uses (bench/train_bench.py, embedded model: with jemalloc up to 0.9 GB less peak RSS in fp32
and 0.35 GB less in bf16, and 1.1x the speed). An allocator is chosen when a process starts (``LD_PRELOAD``), so
``sqlora``'s training commands start themselves again with jemalloc preloaded (:func:`jemalloc_environment`),
configured as the guide advises (:data:`TUNING_GUIDE_MALLOC_CONF`: freed pages are kept for reuse instead of being
given back and faulted in again) unless ``MALLOC_CONF`` is set; ``SQLORA_ALLOCATOR=system`` keeps the system
allocator.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

LIBRARY = "libjemalloc.so.2"
SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")
TRAINING_COMMANDS = frozenset({"train", "adapt", "demo"})
PRELOADED_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")
SETTING = "SQLORA_ALLOCATOR"
CHOICES = ("auto", "jemalloc", "system")
TUNING_GUIDE_MALLOC_CONF = (
    "oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:9000000000,muzzy_decay_ms:9000000000"
)


def jemalloc_library(environ: Mapping[str, str] = os.environ) -> Path | None:
    """``libjemalloc.so.2`` from the active conda/virtual environment or the system (Debian/Ubuntu
    ``libjemalloc2``, Fedora ``jemalloc``), or None."""
    prefixes = [environ.get("CONDA_PREFIX", ""), environ.get("VIRTUAL_ENV", "")]
    folders = [Path(p) / "lib" for p in prefixes if p] + [Path(d) for d in SEARCH_DIRS]
    for folder in folders:
        if (folder / LIBRARY).is_file():
            return folder / LIBRARY
    found = ctypes.util.find_library("jemalloc")
    return Path(found) if found and Path(found).is_absolute() else None


def active_allocator() -> str:
    """``jemalloc`` when this process runs on it, else ``system``."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "jemalloc" if "libjemalloc" in maps else "system"


def command_of(argv: Sequence[str]) -> str | None:
    """The sqlora command in ``argv`` (the first argument that is not an option)."""
    return next((arg for arg in argv[1:] if not arg.startswith("-")), None)


def jemalloc_environment(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """The environment to start a training command again with jemalloc, or None to go on as is.

    None for other commands, outside Linux, when an allocator is already preloaded (jemalloc, or the user's
    tcmalloc/mimalloc), with ``SQLORA_ALLOCATOR=system`` and where the machine has no jemalloc
    (``SQLORA_ALLOCATOR=jemalloc`` then raises).
    """
    setting = environ.get(SETTING, "auto").strip().lower() or "auto"
    if setting not in CHOICES:
        raise ValueError(f"{SETTING}={setting!r}: use one of {', '.join(CHOICES)}")
    if setting == "system" or command_of(argv) not in TRAINING_COMMANDS or not sys.platform.startswith("linux"):
        return None
    preload = environ.get("LD_PRELOAD", "")
    if any(name in preload for name in PRELOADED_ALLOCATORS):
        return None
    library = jemalloc_library(environ)
    if library is None:
        if setting == "jemalloc":
            raise ValueError(f"{SETTING}=jemalloc, but no {LIBRARY} on this machine (Debian: apt install libjemalloc2)")
        return None
    return {
        **environ,
        "LD_PRELOAD": f"{library} {preload}".strip(),
        "MALLOC_CONF": environ.get("MALLOC_CONF") or TUNING_GUIDE_MALLOC_CONF,
    }


def restart_with_jemalloc(argv: Sequence[str] = sys.argv) -> None:
    """Replace this process by the same ``python -m sqlora`` command with jemalloc preloaded, where that applies."""
    environment = jemalloc_environment(argv)
    if environment is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "sqlora", *argv[1:]], environment)
