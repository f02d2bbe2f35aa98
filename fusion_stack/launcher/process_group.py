"""Running a launch description's nodes as child processes, and stopping them all cleanly.

Each node of the ``fusion_stack_nodes`` package runs as ``python -m fusion_stack_nodes.<exec> --ros-args ...``
with this interpreter (the environment where rclpy is installed) and ``nodes/`` on ``PYTHONPATH``. Children get
their own process groups; :meth:`ProcessGroup.stop` sends SIGINT to each group (rclpy shuts down), waits, then
SIGTERM, then SIGKILL, so nothing is left behind. A node marked ``shutdown_on_exit`` ending stops the others.
Output lines are handed to ``on_output(node_name, line)`` (the CLI prints them ``[name] line``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fusion_stack.launcher.launch_file import LaunchError, NodeSpec, source_root

OutputCallback = Callable[[str, str], None]


def node_command(spec: NodeSpec, *, python: str | None = None) -> list[str]:
    """The command line that runs ``spec`` (only ``fusion_stack_nodes`` executables run without ros2 launch)."""
    if spec.package != "fusion_stack_nodes":
        raise LaunchError(f"{spec.package}/{spec.executable}: only fusion_stack_nodes executables can run without "
                          "ros2 launch", field=f"<node {spec.name}>")
    module_file = source_root() / "nodes" / "fusion_stack_nodes" / f"{spec.executable}.py"
    if not module_file.exists():
        raise LaunchError(f"fusion_stack_nodes has no executable {spec.executable!r}", field=f"<node {spec.name}>")
    return [python or sys.executable, "-m", f"fusion_stack_nodes.{spec.executable}", *spec.ros_arguments()]


@dataclass
class _Child:
    spec: NodeSpec
    process: subprocess.Popen[str]
    reader: threading.Thread


class ProcessGroup:
    """The running nodes of a launch (see the module docstring). ``env`` adds environment variables."""

    def __init__(self, nodes: Sequence[NodeSpec], *, on_output: OutputCallback | None = None,
                 env: Mapping[str, str] | None = None, python: str | None = None) -> None:
        self.nodes = tuple(nodes)
        self.on_output = on_output
        self.python = python
        self.env = dict(os.environ)
        self.env.update(env or {})
        nodes_dir = str(source_root() / "nodes")
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (nodes_dir, self.env.get("PYTHONPATH", "")) if p)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.children: list[_Child] = []
        self.exit_codes: dict[str, int] = {}
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start every node (in file order)."""
        commands = [node_command(n, python=self.python) for n in self.nodes]
        for spec, cmd in zip(self.nodes, commands):
            proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True, bufsize=1)
            reader = threading.Thread(target=self._read, args=(spec.name, proc), daemon=True)
            reader.start()
            self.children.append(_Child(spec, proc, reader))

    def _read(self, name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if self.on_output is not None:
                self.on_output(name, line.rstrip("\n"))

    @property
    def pids(self) -> dict[str, int]:
        """Process id of each node."""
        return {c.spec.name: c.process.pid for c in self.children}

    def running(self) -> list[str]:
        """Names of the nodes still running."""
        return [c.spec.name for c in self.children if c.process.poll() is None]

    def wait(self, *, timeout_s: float | None = None, stop: threading.Event | None = None) -> str:
        """Block until every node ended (``"ended"``), a ``shutdown_on_exit`` node ended (``"shutdown"``), ``stop``
        is set (``"stopped"``) or ``timeout_s`` passed (``"timeout"``); the nodes are NOT stopped here."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            for c in self.children:
                code = c.process.poll()
                if code is not None:
                    self.exit_codes[c.spec.name] = code
                    if c.spec.shutdown_on_exit:
                        return "shutdown"
            if not self.running():
                return "ended"
            if stop is not None and stop.is_set():
                return "stopped"
            if deadline is not None and time.monotonic() > deadline:
                return "timeout"
            time.sleep(0.05)

    def stop(self, *, grace_s: float = 5.0) -> dict[str, int]:
        """Stop every node: SIGINT to each process group, then SIGTERM, then SIGKILL after ``grace_s`` each;
        returns the exit codes."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [c for c in self.children if c.process.poll() is None]
            if not alive:
                break
            for c in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, sig)
            deadline = time.monotonic() + grace_s
            for c in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for c in self.children:
            # the whole process group, also grandchildren a node may have started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.process.pid, signal.SIGKILL)
            c.reader.join(timeout=1.0)
            if c.process.returncode is not None:
                self.exit_codes[c.spec.name] = c.process.returncode
        return dict(self.exit_codes)


def launch_environment(*, domain_id: int | None = None, localhost_only: bool = True) -> dict[str, str]:
    """Environment for launched nodes: ``ROS_DOMAIN_ID`` when given, and with ``localhost_only``
    ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (Kilted ignores ``ROS_LOCALHOST_ONLY``)."""
    env: dict[str, str] = {}
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(int(domain_id))
    if localhost_only:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


__all__ = ["LaunchError", "ProcessGroup", "launch_environment", "node_command"]
