"""Host memory: measure the peak, and keep glibc from holding freed activation memory."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import resource

import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20


def peak_memory_bytes(device: str) -> int:
    """Peak GPU memory allocated on CUDA, else the process's peak resident set size."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def trim_heap() -> None:
    """Give the pages that freed small tensors leave scattered in glibc's heap back to the OS (malloc_trim)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def return_freed_memory_to_os() -> bool:
    """Serve large CPU tensors from their own mappings, so that freeing them gives the memory back.

    glibc keeps freed heap memory for reuse; activations of different sizes each step then fragment
    the heap and the resident size climbs (bench/train_bench.py measures it). Buffers over 1 MiB get
    an mmap of their own instead. Returns False where glibc's ``mallopt`` is not available.
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 0))
