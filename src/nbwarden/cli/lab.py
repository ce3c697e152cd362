"""nbwarden lab: JupyterLab with nbwarden enabled, on 127.0.0.1, in a folder holding copies
of the demo notebooks. One command to see the product: open disallowed.ipynb and run it.

Kernels started from it load the kernel extension too (a kernelspec with
``--ext=nbwarden.kernel`` shadows the default ``python3`` for this server only)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("lab", help="start JupyterLab with nbwarden and the demo notebooks",
                       description="Starts JupyterLab on 127.0.0.1 (a free port) with nbwarden's server and "
                                   "kernel extensions, in FOLDER (default: a new temporary folder) with copies "
                                   "of the demo notebooks, and prints the URL with its token. Ctrl-C stops it.")
    p.add_argument("folder", nargs="?", metavar="FOLDER", help="working folder (created if missing)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
    p.add_argument("--tier", help="tier of the user (default: the policy's default tier)")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--browser", dest="browser", action="store_true", default=None, help="open a browser")
    b.add_argument("--no-browser", dest="browser", action="store_false",
                   help="do not open a browser (the default when there is no display)")
    p.add_argument("--no-demos", action="store_true", help="do not copy the demo notebooks")
    p.set_defaults(func=run)


def run(args) -> int:
    import jupyterlab  # noqa: F401  (fail early with the CLI's "install nbwarden[all]" line)

    from ..jupyter.demo import copy_demos
    from ..policy import Policy

    policy = Policy.load(args.policy)  # a bad policy fails here with a clear message
    if args.tier and args.tier not in policy.tiers:
        print(f"nbwarden: unknown tier {args.tier!r}; the policy's tiers: {', '.join(policy.tiers)}", file=sys.stderr)
        return 2
    folder = Path(args.folder or tempfile.mkdtemp(prefix="nbwarden-lab-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if not args.no_demos:
        copy_demos(folder)
    port = args.port or free_port()
    import secrets
    token = secrets.token_hex(24)
    browser = args.browser if args.browser is not None else has_display()
    state = Path(tempfile.mkdtemp(prefix="nbwarden-lab-state-"))
    argv, env = lab_command(folder=folder, port=port, token=token, browser=browser, state=state,
                            policy=args.policy, tier=args.tier)
    log_file = open(state / "jupyter.log", "wb")
    # its own session: Ctrl-C reaches this command, which then stops the server without the
    # server's interactive "shut down? (y/[n])" prompt
    proc = subprocess.Popen(argv, env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=log_file,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    try:
        if not wait_ready(f"http://127.0.0.1:{port}", token, proc):
            log = (state / "jupyter.log").read_text(errors="replace")[-2000:]
            print(f"nbwarden: JupyterLab did not start:\n{log}", file=sys.stderr)
            return 2
        print(f"nbwarden lab: {url}\n  folder: {folder}\n  policy: {policy.source} "
              f"(tier {args.tier or policy.default_tier})\n  log: {state / 'jupyter.log'}\n"
              f"Open disallowed.ipynb and run its cells. Ctrl-C stops the server.", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        log_file.close()


def lab_command(*, folder: Path, port: int, token: str, browser: bool, state: Path, policy: str | None,
                tier: str | None) -> tuple[list[str], dict[str, str]]:
    kernels = state / "share" / "kernels" / "python3"
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--ext=nbwarden.kernel"],
        "display_name": "Python 3 (nbwarden)", "language": "python", "metadata": {"debugger": True}}))
    argv = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
            f"--ServerApp.open_browser={browser}", "--ServerApp.jpserver_extensions", "nbwarden.jupyter=True"]
    if policy:
        argv.append(f"--NbwardenConfig.policy_path={Path(policy).resolve()}")
    if tier:
        argv.append(f"--NbwardenConfig.tier={tier}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # a local demo in a container often runs as root
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(state / "share"), env.get("JUPYTER_PATH")]))
    if policy:  # kernels inherit these: the kernel extension decides like the server
        env["NBWARDEN_POLICY"] = str(Path(policy).resolve())
    if tier:
        env["NBWARDEN_TIER"] = tier
    return argv, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wait_ready(base: str, token: str, proc: subprocess.Popen, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            import urllib.request  # only when lab runs: keeps every other command's start-up short
            req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=2):
                return True
        except OSError:
            time.sleep(0.25)
    return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # jupyter shuts its kernels down on SIGTERM
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
