"""Where the official grade runs student code: as another user, and nothing of it outlives the run.

`tools/grade.py` starts pytest, which imports and calls the student's code. When the grade
runs as root (as Gradescope's does), that child runs as an unprivileged user
(`course-student`, created on first use) with its own scratch HOME and TMPDIR, so the
student's code can read the course but cannot write the grader's files or the results,
and cannot signal the grading process. After each run, every process that belongs to the
run is ended: those in the child's session, those that carry the run's marker in their
environment, and, under the sandbox, every process of that user. One found outside the
child's session (it called setsid, or was started by `setsid`/`nohup`) is an escape, and the
grade is refused.

Without root there is no other user to switch to: the child runs as the grader does, and
the README's threat model says what that leaves open.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MARKER_VAR = "AUTOGRADER_RUN"  # inherited by everything the child starts, unless it clears its environment


class SandboxError(Exception):
    """The sandbox cannot be set up; the message says how to fix it (one line)."""


@dataclass
class Sandbox:
    """Run as `user` (uid/gid) with HOME and TMPDIR in `scratch`; None fields: as ourselves."""

    user: str | None = None
    uid: int | None = None
    gid: int | None = None
    scratch: Path | None = None
    ended: list[str] = field(default_factory=list)  # escapes seen, as "pid (command)"

    @classmethod
    def as_user(cls, name: str) -> Sandbox:
        """The sandbox for `name`, creating that system user when it does not exist (root only)."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.CalledProcessError) as err:
                detail = getattr(err, "stderr", "") or err
                raise SandboxError(f"cannot create the grading user {name!r} ({str(detail).strip()})") from None
            entry = pwd.getpwnam(name)
        if entry.pw_uid == 0:
            raise SandboxError(f"the grading user {name!r} is root; choose an unprivileged user (--sandbox-user)")
        scratch = Path(tempfile.mkdtemp(prefix="grade-"))
        os.chown(scratch, entry.pw_uid, entry.pw_gid)
        os.chmod(scratch, 0o700)
        return cls(name, entry.pw_uid, entry.pw_gid, scratch)

    @property
    def active(self) -> bool:
        return self.uid is not None

    def environment(self, env: dict[str, str], marker: str) -> dict[str, str]:
        env = {**env, MARKER_VAR: marker}
        if self.active:
            home = str(self.scratch)
            env.update(HOME=home, TMPDIR=f"{home}/tmp", XDG_CACHE_HOME=f"{home}/cache", MPLCONFIGDIR=f"{home}/mpl",
                       TORCH_EXTENSIONS_DIR=f"{home}/torch_extensions", USER=self.user, LOGNAME=self.user)  # fmt: skip
            for sub in ("tmp", "cache", "mpl", "torch_extensions"):
                (self.scratch / sub).mkdir(exist_ok=True)
                os.chown(self.scratch / sub, self.uid, self.gid)
        return env

    def popen_args(self) -> dict:
        return dict(user=self.uid, group=self.gid, extra_groups=[], umask=0o077) if self.active else {}

    def check_access(self, python: str, repo: Path) -> None:
        """The user must be able to run this Python and import the course, or nothing grades."""
        if not self.active:
            return
        probe = [python, "-c", "import pytest, starter.config, autograder.results"]
        done = subprocess.run(probe, cwd=repo, env=self.environment(dict(os.environ), "probe"), capture_output=True,
                              text=True, timeout=120, **self.popen_args())  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SandboxError(
                f"the grading user {self.user!r} cannot run {python} on {repo} ({last}); make the course and its "
                "Python readable by every user (not under a private home such as /root), or pass --no-sandbox "
                "to run student code as yourself"
            )

    def end_processes(self, session: int, marker: str, timeout: float = 10.0) -> None:
        """Kill everything of this run (see the module docstring); remember escapes in `ended`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.processes(session, marker)
            for pid, (escaped, command) in found.items():
                if escaped and not any(e.startswith(f"{pid} ") for e in self.ended):
                    self.ended.append(f"{pid} ({command})")
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if not found:
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"processes of the submission would not end: {sorted(found)}")
            time.sleep(0.05)

    def processes(self, session: int, marker: str) -> dict[int, tuple[bool, str]]:
        """Live processes of this run: pid -> (escaped: outside `session`, command)."""
        found = {}
        needle = f"{MARKER_VAR}={marker}".encode()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                state, _, _, sid = stat.rsplit(")", 1)[1].split()[:4]
                uid = int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
                try:
                    marked = needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                except PermissionError:
                    marked = False
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue  # it ended while we looked
            if state == "Z":
                continue  # already dead, waiting to be reaped
            ours = int(sid) == session or marked or (self.active and uid == self.uid)
            if ours:
                found[pid] = (int(sid) != session, " ".join(command.split())[:120])
        return found

    def cleanup(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
