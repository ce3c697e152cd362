"""The small parsers, on inputs taken from real machines."""
from __future__ import annotations

import os
import time

from nbwarden.watcher import attribution, net, procfs
from nbwarden.watcher.process import Proc
from nbwarden.watcher.signals import command_endpoints, exe_anomalies


def test_stat_with_parentheses_and_spaces_in_comm():
    line = "4242 (evil) (x y) S 1 4242 4242 34816 4242 4194560 100 0 0 0 250 50 0 0 20 0 1 0 987654 0 0"
    st = procfs.parse_stat(4242, line)
    assert st.comm == "evil) (x y" and st.ppid == 1 and st.cpu_ticks == 300 and st.starttime == 987654
    assert procfs.parse_stat(1, "garbage") is None
    me = procfs.read_stat(os.getpid())
    assert me.pid == os.getpid() and me.alive and not me.kernel_thread


def test_tcp_tables_v4_and_v6():
    v4 = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
          "   0: 0100007F:1F90 0100007F:3A98 01 00000000:00000000 00:00000000 00000000  1000        0 12345 1\n"
          "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n")
    t = net.parse_table(v4)
    assert t[12345].local == ("127.0.0.1", 8080) and t[12345].remote == ("127.0.0.1", 15000)
    assert t[12345].established and t[777].listening and not t[777].loopback_only
    v6 = ("  sl  local_address                         remote_address                        st\n"
          "   0: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:3A98 01 "
          "00000000:00000000 00:00000000 00000000  1000        0 999 1\n")
    c = net.parse_table(v6)[999]
    assert c.local == ("::1", 8080) and c.remote == ("127.0.0.1", 15000)
    assert net.read_tables("self") is not None


def test_cgroup_paths():
    k8s = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_aaaa_bbbb_cccc_123456789abc.slice/" \
          "cri-containerd-" + "ab" * 32 + ".scope\n"
    cid, pod = attribution.parse_cgroup(k8s)
    assert cid == "ab" * 32 and pod == "1b2c3d4e-aaaa-bbbb-cccc-123456789abc"
    docker = "12:memory:/docker/" + "cd" * 32 + "\n"
    assert attribution.parse_cgroup(docker) == ("cd" * 32, None)
    assert attribution.parse_cgroup("0::/user.slice/user-1000.slice/session-3.scope") == (None, None)


def test_owner_from_jupyterhub_environment_is_inherited():
    server = Proc(10, 1, 1, "jupyterhub-sing", 1000, env={"JUPYTERHUB_USER": "ada", "JUPYTERHUB_SERVER_NAME": "gpu"},
                  argv=["/opt/conda/bin/python", "/opt/conda/bin/jupyterhub-singleuser"])
    server.role = attribution.role_of(server)
    server.owner = attribution.owner_of(server, None)
    child = Proc(11, 2, 10, "xmrig", 1000, env={}, argv=["./xmrig"])  # cleared its environment
    child.owner = attribution.owner_of(child, server.owner)
    assert server.role == "server"
    assert (server.owner.user, server.owner.server) == ("ada", "gpu")
    assert (child.owner.user, child.owner.source) == ("ada", "inherited from parent")
    loner = Proc(12, 3, 1, "sleep", 1000, env={}, argv=["sleep"])
    assert attribution.owner_of(loner, None).source == "uid"


def test_roles():
    k = Proc(5, 1, 4, "python", 1000, argv=["/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                                            "/run/user/1000/jupyter/kernel-3f2a9c1e-aaaa-bbbb-cccc-1234567890ab.json"])
    assert attribution.role_of(k) == "kernel" and attribution.kernel_id(k.argv).startswith("3f2a9c1e")
    s = Proc(4, 1, 1, "jupyter-lab", 1000, argv=["/usr/bin/python3", "/usr/local/bin/jupyter-lab"])
    s.role = attribution.role_of(s)
    sh = Proc(6, 1, 4, "bash", 1000, tty=34816, argv=["/bin/bash", "-l"])
    assert s.role == "server" and attribution.role_of(sh, s) == "terminal"
    assert attribution.role_of(Proc(7, 1, 1, "python", 1000, argv=["python", "train.py"])) == ""


def test_exe_anomalies(tmp_path, spawn, renamed_python):
    def anomalies(exe, comm, argv, pid=os.getpid()):
        return {e.fact for e in exe_anomalies(Proc(pid, 1, 1, comm, 0, exe=exe, argv=argv, cwd=str(tmp_path)))}
    assert anomalies("/memfd:x (deleted)", "x", ["x"]) == {"exe: runs from an anonymous memory file (memfd)"}
    assert "exe: its program file was deleted after it started" in anomalies("/opt/a (deleted)", "a", ["a"])
    assert "exe: pretends to be a kernel thread" in anomalies("/tmp/k", "kworker/0:1", ["[kworker/0:1]"])
    # a link (sh -> dash, a venv's bin/python -> the interpreter) and a #! script are ordinary
    import shutil
    import sys
    mismatch = "exe: name does not match the program"
    sh = shutil.which("sh")
    assert mismatch not in anomalies(os.path.realpath(sh), "sh", ["sh", "-c", "true"])
    py = os.path.realpath(sys.executable)
    assert mismatch not in anomalies(py, os.path.basename(sys.executable)[:15], [sys.executable])
    script = tmp_path / "jupyter-lab"
    script.write_text("#!/usr/bin/env python3\n")
    assert mismatch not in anomalies(py, "jupyter-lab", [sys.executable, str(script)])
    # argv[0] alone explains nothing: it is the caller's choice
    assert mismatch in anomalies(py, "sshd", ["sshd"])
    assert mismatch in anomalies(py, "jupyter-lab", [sys.executable, str(tmp_path / "no-such-script")])
    # a real process: a link named python3 to the hidden copy in /dev/shm
    (tmp_path / "python3").symlink_to(renamed_python)
    from watchkit import renamed_env
    p = spawn([str(tmp_path / "python3"), "-c", "import time; time.sleep(30)"], env=renamed_env())
    time.sleep(0.5)
    real = Proc(p.pid, 1, 1, procfs.read_stat(p.pid).comm, 0, exe=procfs.read_link(p.pid, "exe"),
                argv=procfs.read_cmdline(p.pid), cwd=str(tmp_path))
    facts = {e.fact for e in exe_anomalies(real)}
    assert real.comm == "python3" and real.exe == renamed_python
    assert {"exe: runs from a temporary folder (/dev/shm)", "exe: hidden file name", mismatch} <= facts, facts


def test_command_endpoints():
    assert command_endpoints(["x", "-o", "stratum+tcp://pool.example:3333", "--url=10.0.0.1:14444"]) == {
        ("pool.example", 3333), ("10.0.0.1", 14444)}
