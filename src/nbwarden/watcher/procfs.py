"""Reading /proc without ever raising: a process can exit between listing and reading, and
another user's files answer EACCES. Every reader returns ``None`` (or an empty value) for
"could not see", so one vanished or private process never stops a scan.

The only file read for every process every tick is the directory listing of /proc itself;
everything else is read once per new process (keyed by pid and start time) or for the few
processes already under suspicion (see ``agent``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

PROC = "/proc"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread
_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError, OSError)


@dataclass(slots=True, frozen=True)
class Stat:
    """The fields of /proc/PID/stat the watcher uses (proc(5) numbering in comments)."""

    pid: int
    comm: str  # (2) executable name, 15 characters at most, settable by the process
    state: str  # (3) R, S, D, Z, T...
    ppid: int  # (4)
    tty: int  # (7) controlling terminal, 0 when none
    flags: int  # (9) PF_* flags
    cpu_ticks: int  # (14) utime + (15) stime, in clock ticks
    starttime: int  # (22) clock ticks after boot: with the pid, names one process for good

    @property
    def kernel_thread(self) -> bool:
        return bool(self.flags & PF_KTHREAD) or self.pid == 2 or self.ppid == 2

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X", "x")


def list_pids() -> list[int]:
    """Numeric entries of /proc: the only thing read every tick for every process."""
    try:
        return [int(n) for n in os.listdir(PROC) if n.isdigit()]
    except OSError:
        return []


def parse_stat(pid: int, text: str) -> Stat | None:
    # comm may hold spaces and parentheses: it ends at the LAST ')'
    left, _, rest = text.partition(" (")
    comm, _, tail = rest.rpartition(") ")
    f = tail.split()
    if len(f) < 20:
        return None
    try:
        return Stat(pid=int(left), comm=comm, state=f[0], ppid=int(f[1]), tty=int(f[4]), flags=int(f[6]),
                    cpu_ticks=int(f[11]) + int(f[12]), starttime=int(f[19]))
    except ValueError:
        return None


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
    except _GONE:
        return None
    return parse_stat(pid, text)


def read_cmdline(pid: int) -> list[str] | None:
    """argv as the process shows it (a process can rewrite it: see docs/watcher.md)."""
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as fh:
            data = fh.read(256 * 1024)
    except _GONE:
        return None
    if data.endswith(b"\0"):
        data = data[:-1]
    return [a.decode("utf-8", "replace") for a in data.split(b"\0")] if data else []


def read_link(pid: int | str, name: str) -> str | None:
    """``exe``, ``cwd`` or ``ns/net``; None when the process is gone or not ours to read."""
    try:
        return os.readlink(f"{PROC}/{pid}/{name}")
    except _GONE:
        return None


def read_environ(pid: int) -> dict[str, str] | None:
    """The environment the process started with (later changes inside it are invisible)."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as fh:
            data = fh.read(1 << 20)
    except _GONE:
        return None
    env = {}
    for item in data.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def read_text(pid: int, name: str, limit: int = 65536) -> str | None:
    try:
        with open(f"{PROC}/{pid}/{name}", "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except _GONE:
        return None


def uid_of(pid: int) -> int | None:
    """The owner of /proc/PID: the process's effective uid (root for non-dumpable ones)."""
    try:
        return os.stat(f"{PROC}/{pid}").st_uid
    except _GONE:
        return None


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets the process holds open (its /proc/PID/fd links)."""
    out: set[int] = set()
    base = f"{PROC}/{pid}/fd"
    try:
        names = os.listdir(base)
    except _GONE:
        return out
    for n in names:
        try:
            target = os.readlink(f"{base}/{n}")
        except _GONE:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def boot_id() -> str:
    try:
        with open(f"{PROC}/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return "unknown-boot"


def uptime() -> float:
    """Seconds since boot, the clock ``Stat.starttime`` counts in (after / CLK_TCK)."""
    try:
        with open(f"{PROC}/uptime") as fh:
            return float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
