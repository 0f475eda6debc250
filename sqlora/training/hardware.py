"""What the machine can do natively: the run's precision and the facts a benchmark records."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_model() -> str:
    """The CPU's model name, e.g. 'Intel(R) Xeon(R) Platinum 8481C' (platform.processor() where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_bf16(flags: set[str] | frozenset[str]) -> bool:
    """Whether CPU ``flags`` include bf16 math in hardware (AVX512-BF16 or AMX)."""
    return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def cpu_has_native_bf16() -> bool:
    """True where bf16 math runs in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower than fp32."""
    flags = cpu_flags()
    if flags:
        return native_bf16(flags)
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(check and check())


def cuda_has_native_bf16() -> bool:
    """bf16 tensor cores (compute capability 8.0+: Ampere, Hopper); torch.cuda.is_bf16_supported() counts emulation."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def resolve_precision(requested: str, device: str) -> str:
    """``auto`` becomes bf16 where native, fp16 on older GPUs, ``no`` (fp32) on CPUs without native bf16."""
    if requested != "auto":
        return requested
    if device == "cpu":
        return "bf16" if cpu_has_native_bf16() else "no"
    return "bf16" if cuda_has_native_bf16() else "fp16"


def cpu_threads_for_training(sample_s: float = 0.5) -> int:
    """Threads for a CPU run: the cores this process may use, less the ones other work keeps busy.

    PyTorch's threads meet at a barrier after every operation, so a thread that shares its core with another
    busy process holds all of them back (two threads on two cores with one core busy train several times slower
    than on an idle machine); one thread per free core degrades gracefully. Busy cores are sampled over
    ``sample_s`` seconds when the run starts (this process is idle then).
    """
    import os

    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = psutil.cpu_percent(interval=sample_s) / 100 * (os.cpu_count() or cores)
    return max(1, min(cores, round(cores - busy)))


PRECISION_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def machine_facts() -> dict:
    """CPU model, the flags that decide speed, threads and library versions: recorded with every benchmark."""
    speed_flags = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx", "avx2", "fma")))
    facts = {
        "cpu_model": cpu_model(),
        "cpu_flags": speed_flags,
        "native_bf16": cpu_has_native_bf16(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name()
    return facts
