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


# -- sock_diag: the same table from the kernel over netlink, without formatting text --------
# Reading /proc/net/tcp makes the kernel walk and print every socket of the namespace (tens
# of ms on a busy host); NETLINK_SOCK_DIAG (what `ss` uses) returns only the states asked
# for, in binary, in well under a millisecond. Same namespace as the caller only.
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY = 4, 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_WANTED_STATES = (1 << 1) | (1 << 2) | (1 << 10)  # ESTABLISHED, SYN_SENT, LISTEN
_STATE_NAMES = {1: "ESTABLISHED", 2: "SYN_SENT", 10: "LISTEN"}


def _diag_request(family: int) -> bytes:
    req = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0, _WANTED_STATES) + b"\0" * 48
    return struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + req


def _diag_addr(family: int, raw: bytes, port: int) -> tuple[str, int]:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4]), port
    ip = socket.inet_ntop(socket.AF_INET6, raw)
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip, port


def read_diag() -> dict[int, Conn] | None:
    """Established, connecting and listening TCP sockets of our namespace, or None when
    netlink sock_diag is not available (then use ``read_tables``)."""
    out: dict[int, Conn] = {}
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as s:
            s.settimeout(2.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                s.send(_diag_request(family))
                done = False
                while not done:
                    data = s.recv(1 << 16)
                    off = 0
                    while off + 16 <= len(data):
                        length, mtype = struct.unpack_from("=IH", data, off)
                        if length < 16:
                            return None
                        if mtype == _NLMSG_DONE:
                            done = True
                            break
                        if mtype == _NLMSG_ERROR:
                            return None
                        body = off + 16
                        fam, state = data[body], data[body + 1]
                        sport, dport = struct.unpack_from(">HH", data, body + 4)
                        src, dst = data[body + 8:body + 24], data[body + 24:body + 40]
                        inode = struct.unpack_from("=I", data, body + 68)[0]
                        if inode:
                            out[inode] = Conn(inode, _diag_addr(fam, src, sport), _diag_addr(fam, dst, dport),
                                              _STATE_NAMES.get(state, str(state)))
                        off += (length + 3) & ~3
    except OSError:
        return None
    return out
