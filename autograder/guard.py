"""Tamper detection inside the test process of the official grade (tools/grade.py).

The graders call the student's functions directly, so the student's code runs in the same
Python process as pytest and as the plugin that reports each result (autograder/stream.py).
Code in one process can, in principle, change anything in it; this module makes the usual
ways of doing so visible, and the grade is refused when one is seen. It is installed by the
stream plugin before any test or student module is imported, and it watches in two ways:

1. A PEP 578 audit hook (`sys.addaudithook`: once installed, Python code cannot remove it)
   that sees, before they happen, and blocks:
   - writes, renames and deletions under the grader's own files (`autograder/`, `starter/`,
     `tools/`, `assets/`, `pyproject.toml`), from any code; reading or listing `autograder/`
     (the hidden tests hold reference implementations) while student code is on the stack,
     even through a library such as `importlib.util.spec_from_file_location`;
   - a first import of the grader's or pytest's modules by a student file;
   - introspection that reaches pytest's frames or objects, called directly by a student
     file: `gc.get_objects/get_referrers/get_referents`, `sys._getframe` (also through
     `inspect`), traceback and generator frames, `sys._current_frames`, `sys.settrace`,
     `ctypes`, `exec`/`eval`/`compile`, and reading `/proc/*/environ` or `/proc/*/mem`;
   - starting a program meant to leave the grading session (`setsid`, `nohup`, ...).
2. Checks after every test, before its result is sent: every function and class attribute
   of the grader's, pytest's and pluggy's modules is still the object it was when the
   session started (monkeypatching `TestReport` or the stream plugin shows here), and no
   student module holds a reference to any of them (`import autograder.stream`, even of a
   module already loaded, which no audit event reports). `builtins.__import__` is wrapped,
   so an `import` statement in a student file that names one of them is seen at once.

What this cannot see is listed in the README's threat model: the official grade also runs
the student's code as an unprivileged user (tools/grade.py), and hidden tests re-check with
fresh inputs.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path

# Top-level packages whose objects decide and report a verdict.
GRADER_PACKAGES = ("autograder", "_pytest", "pytest", "pluggy")
# Events a student file may not trigger directly: they reach the grader's frames and objects.
INTROSPECTION = {
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.settrace",
    "sys.setprofile", "sys._getframe", "exec", "compile", "code.__new__", "function.__new__",
}  # fmt: skip
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
# Events that modify a path: which of their arguments are paths.
PATH_EVENTS = {
    "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,),
    "os.chown": (0,), "os.symlink": (0, 1), "os.link": (0, 1), "os.truncate": (0,), "os.utime": (0,),
    "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
}  # fmt: skip
ESCAPE_PROGRAMS = {"setsid", "nohup", "daemonize", "disown", "start-stop-daemon", "systemd-run", "at", "screen", "tmux"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Tampering(PermissionError):
    """Raised inside the operation the guard blocked (after it was reported)."""


class Guard:
    """`repo`: the course; `student`: the tree under grade (`assignments/`); `report`
    receives one line per finding (it sends it to tools/grade.py)."""

    def __init__(self, repo: Path, student: Path, report: Callable[[str], None]) -> None:
        self.repo, self.report = repo.resolve(), report
        self.student = str(student.resolve()) + os.sep
        self.protected = [str(self.repo / p) for p in ("autograder", "starter", "tools", "assets", "pyproject.toml")]
        self.graders = [str(self.repo / "autograder")]  # hidden tests hold references: not for student code to read
        self.snapshot: dict[tuple[str, str], tuple[object, object]] = {}
        self.modules: dict[str, types.ModuleType] = {}
        self.reported: set[str] = set()
        self._local = threading.local()  # `busy`: inside the hook (our own sys._getframe raises events too)
        self._import = builtins.__import__

    # ---------------------------------------------------------------- installing

    def install(self) -> None:
        self.take_snapshot()
        sys.addaudithook(self._audit)
        builtins.__import__ = self._guarded_import

    def take_snapshot(self) -> None:
        """Remember every function and class attribute of the grader's modules loaded so far
        (called again after collection, for the test modules)."""
        for name, module in list(sys.modules.items()):
            if module is None or name in self.modules or name.split(".")[0] not in GRADER_PACKAGES:
                continue
            self.modules[name] = module
            for key, value in list(vars(module).items()):
                if not _is_code(value):
                    continue
                self.snapshot[(name, key)] = (module, value)
                if isinstance(value, type) and value.__module__ == name:
                    for attr, member in list(vars(value).items()):
                        if _is_code(member):
                            self.snapshot[(name, f"{key}.{attr}")] = (value, member)

    # ---------------------------------------------------------------- checks after each test

    def check(self) -> list[str]:
        """What changed since the snapshot, and student modules that hold grader objects."""
        found = [f"sys.modules[{n!r}] was replaced" for n, m in self.modules.items() if sys.modules.get(n) is not m]
        for (name, key), (owner, value) in self.snapshot.items():
            if vars(owner).get(key.rsplit(".", 1)[-1]) is not value:
                found.append(f"{name}.{key} was replaced or removed")
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None) or ""
            if not path.startswith(self.student):
                continue
            for key, value in list(vars(module).items()):
                try:
                    is_module = isinstance(value, types.ModuleType)
                    owner = value.__name__ if is_module else getattr(value, "__module__", None)
                except Exception:  # objects with a __getattr__ of their own
                    continue
                if isinstance(owner, str) and owner.split(".")[0] in GRADER_PACKAGES:
                    found.append(f"{self._where(path)} holds {key} = {owner} (the grader's own code)")
        return [self._flag(problem, block=False) for problem in found if problem not in self.reported]

    # ---------------------------------------------------------------- live detection

    def _guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.split(".")[0] in GRADER_PACKAGES and globals:
            path = globals.get("__file__") or ""
            if path.startswith(self.student):
                self._flag(f"{self._where(path)} imports {name} (the grader's own code)")
        return self._import(name, globals, locals, fromlist, level)

    def _audit(self, event: str, args: tuple) -> None:
        if getattr(self._local, "busy", False) or not _watched(event):
            return
        self._local.busy = True
        try:
            problem = self._problem(event, args)
        except Exception:  # an event with arguments we do not understand is not evidence
            problem = None
        finally:
            self._local.busy = False
        if problem:
            self._flag(problem)

    def _problem(self, event: str, args: tuple) -> str | None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return None
            writes = (mode and any(c in mode for c in "wax+")) or (not mode and flags & WRITE_FLAGS)
            if writes and self._is_protected(path):
                return f"writes {self._where(path)}"
            text = os.fsdecode(path)
            if text.startswith("/proc/") and text.endswith(("/environ", "/mem")) and self._student_caller():
                return f"{self._student_caller()} reads {text}"
            if self._is_protected(path, self.graders) and (caller := self._student_on_stack()):
                return f"{caller} reads {self._where(path)} (the grader's tests)"
            return None
        if event in ("os.listdir", "os.scandir") and args and self._is_protected(args[0] or ".", self.graders):
            caller = self._student_on_stack()
            return f"{caller} lists {self._where(args[0] or '.')} (the grader's tests)" if caller else None
        if event in PATH_EVENTS:
            for index in PATH_EVENTS[event]:
                if index < len(args) and isinstance(args[index], (str, bytes, os.PathLike)):
                    if self._is_protected(args[index]):
                        return f"{event} on {self._where(args[index])}"
            return None
        if event == "import":
            if args[0].split(".")[0] in GRADER_PACKAGES and (caller := self._student_caller(skip_imports=True)):
                return f"{caller} imports {args[0]} (the grader's own code)"
            return None
        if event == "subprocess.Popen":
            argv = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
            words = {os.path.basename(os.fsdecode(w)) for w in argv if isinstance(w, (str, bytes))}
            words |= {w for a in argv if isinstance(a, str) for w in a.split()}
            if words & ESCAPE_PROGRAMS:
                command = " ".join(" ".join(map(str, argv)).split())[:120]
                return f"starts a process outside the grading session: {command}"
            return None
        if event == "object.__getattr__" and (len(args) < 2 or args[1] not in FRAME_ATTRIBUTES):
            return None
        caller = self._student_caller(through_inspect=event == "sys._getframe")
        return f"{caller} calls {event}{'.' + args[1] if event == 'object.__getattr__' else ''}" if caller else None

    def _student_caller(self, skip_imports: bool = False, through_inspect: bool = False) -> str | None:
        """`file:line` of the Python code that triggered the current event, when it is a
        student file (frame 0 is the hook, 1 `_problem`, 2 `_audit`, 3 the caller)."""
        frame = sys._getframe(3)
        while frame is not None:
            name = frame.f_code.co_filename
            library = skip_imports and (name.startswith("<frozen importlib") or name == __file__)
            library |= through_inspect and os.path.basename(name) in ("inspect.py", "traceback.py")
            if not library:
                break
            frame = frame.f_back
        if frame is None or not frame.f_code.co_filename.startswith(self.student):
            return None
        return f"{self._where(frame.f_code.co_filename)}:{frame.f_lineno}"

    # ---------------------------------------------------------------- helpers

    def _student_on_stack(self) -> str | None:
        """`file:line` of the innermost student frame anywhere on the stack: the student's
        code asked for this, possibly through a library (importlib loading a file by path)."""
        frame = sys._getframe(1)
        while frame is not None and not frame.f_code.co_filename.startswith(self.student):
            frame = frame.f_back
        return None if frame is None else f"{self._where(frame.f_code.co_filename)}:{frame.f_lineno}"

    def _is_protected(self, path, roots: list[str] | None = None) -> bool:
        try:
            resolved = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(resolved == p or resolved.startswith(p + os.sep) for p in roots or self.protected)

    def _where(self, path) -> str:
        text = os.fsdecode(path)
        return text[len(str(self.repo)) + 1 :] if text.startswith(str(self.repo) + os.sep) else text

    def _flag(self, problem: str, block: bool = True) -> str:
        if problem not in self.reported:
            self.reported.add(problem)
            self.report(problem)
        if block:
            raise Tampering(f"tampering with the grader: {problem}")
        return problem


def _watched(event: str) -> bool:
    return (
        event in INTROSPECTION
        or event in PATH_EVENTS
        or event in ("open", "import", "subprocess.Popen", "object.__getattr__", "os.listdir", "os.scandir")
        or event.startswith("ctypes.")
    )


def _is_code(value) -> bool:
    return isinstance(value, (types.FunctionType, type, classmethod, staticmethod, property, types.BuiltinFunctionType))
