"""The one-line description of the machine that every benchmark prints first."""

from __future__ import annotations

import os
import platform

import jax


def describe() -> str:
    """OS, CPU model and core count, and the JAX backend with its devices."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dev = jax.devices()[0]
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores ({cpu}); "
        f"JAX {jax.__version__} on {jax.device_count()} x {dev.platform} ({dev.device_kind})"
    )
