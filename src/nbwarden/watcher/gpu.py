"""Per-process GPU use through NVML (the ``pynvml`` module of nvidia-ml-py).

Absent gracefully: no module, no driver or no GPU leaves ``available`` False with the
reason, and ``usage()`` returns nothing. NVML reports host pids; in node mode they are the
pids the watcher lists. Tests inject a stand-in module through the ``nvml`` argument.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class GpuUse:
    pid: int
    memory: int = 0  # bytes of GPU memory the process holds
    sm: int = 0  # % of the GPU's compute (SM) time in the last sample, 0 when unknown
    device: int = 0

    def describe(self) -> str:
        return f"GPU {self.device}: {self.sm}% compute, {self.memory >> 20} MiB"


class Gpu:
    def __init__(self, nvml=None):
        self.available = False
        self.reason = ""
        self.handles: list = []
        self._last_seen: dict[int, int] = {}
        try:
            if nvml is None:
                import pynvml as nvml  # nvidia-ml-py
            self.nvml = nvml
            nvml.nvmlInit()
            self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        except ImportError:
            self.reason = "pynvml is not installed (pip install nvidia-ml-py)"
            return
        except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
            self.reason = f"NVML unavailable: {e or type(e).__name__}"
            return
        if not self.handles:
            self.reason = "no NVIDIA GPU on this machine"
            return
        self.available = True

    def usage(self) -> dict[int, GpuUse]:
        """pid -> use, over every GPU. Errors on one device skip that device."""
        if not self.available:
            return {}
        nvml, out = self.nvml, {}
        for i, h in enumerate(self.handles):
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    for p in getattr(nvml, getter)(h) or ():
                        u = out.setdefault(p.pid, GpuUse(p.pid, device=i))
                        u.memory = max(u.memory, int(getattr(p, "usedGpuMemory", 0) or 0))
                except Exception:
                    continue
            try:
                samples = nvml.nvmlDeviceGetProcessUtilization(h, self._last_seen.get(i, 0)) or ()
            except Exception:  # NVMLError_NotFound when no sample since last time
                samples = ()
            for s in samples:
                u = out.setdefault(s.pid, GpuUse(s.pid, device=i))
                u.sm = max(u.sm, int(getattr(s, "smUtil", 0) or 0))
                self._last_seen[i] = max(self._last_seen.get(i, 0), int(getattr(s, "timeStamp", 0) or 0))
        return out

    def close(self) -> None:
        if self.available:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass
            self.available = False
