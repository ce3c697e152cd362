"""TCP connections and listeners from /proc/<pid>/net/tcp{,6}, without psutil.

A row of those tables names a socket inode; /proc/PID/fd links name the inodes a process
holds, so joining the two says which process owns which connection. The tables are per
network namespace: in node mode one process of each namespace (pod) stands for all.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from . import procfs

STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
          "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}

#: Ports mining pools commonly serve stratum on. Some (4444, 5555, 7777, 9000) are also used by
#: ordinary services, which is why a pool port alone never reaches the policy threshold.
POOL_PORTS = frozenset({3333, 3334, 3335, 3336, 3956, 4444, 5555, 5588, 7777, 9000, 10001, 10128, 10300,
                        13333, 14433, 14444, 15555, 17777, 20535, 20580, 45560, 45700})
#: Listening ports of remote-access servers: SSH, RDP, VNC (5900-5909), noVNC.
REMOTE_ACCESS_PORTS = {22: "remote.shell", 2222: "remote.shell", 3389: "remote.desktop", 6080: "remote.desktop",
                       **{p: "remote.desktop" for p in range(5900, 5910)}}


@dataclass(slots=True, frozen=True)
class Conn:
    inode: int
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str

    @property
    def established(self) -> bool:
        return self.state == "ESTABLISHED"

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN"

    @property
    def loopback_only(self) -> bool:
        """A listener only this machine (this pod) can reach."""
        try:
            return ipaddress.ip_address(self.local[0]).is_loopback
        except ValueError:
            return False

    def describe(self) -> str:
        if self.listening:
            return f"listening on {_fmt(self.local)}"
        return f"{_fmt(self.local)} -> {_fmt(self.remote)} {self.state.lower()}"


def _fmt(addr: tuple[str, int]) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addr(hexaddr: str) -> tuple[str, int]:
    h, _, p = hexaddr.partition(":")
    raw = bytes.fromhex(h)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # four 32-bit words, each in host (little-endian) order
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(struct.pack("<I", w) for w in struct.unpack(">4I", raw)))
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, int(p, 16)


def parse_table(text: str) -> dict[int, Conn]:
    out: dict[int, Conn] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10:
            continue
        try:
            inode = int(f[9])
            if inode == 0:  # TIME_WAIT rows belong to nobody
                continue
            out[inode] = Conn(inode, _addr(f[1]), _addr(f[2]), STATES.get(f[3], f[3]))
        except ValueError:
            continue
    return out


def read_tables(pid: int | str = "self") -> dict[int, Conn]:
    """All TCP sockets (IPv4 and IPv6) of the network namespace ``pid`` lives in."""
    out: dict[int, Conn] = {}
    for name in ("net/tcp", "net/tcp6"):
        text = procfs.read_text(pid, name, limit=16 << 20) if pid != "self" else _read_self(name)
        if text:
            out.update(parse_table(text))
    return out


def _read_self(name: str) -> str | None:
    try:
        with open(f"{procfs.PROC}/self/{name}", "rb") as fh:
            return fh.read().decode("ascii", "replace")
    except OSError:
        return None
