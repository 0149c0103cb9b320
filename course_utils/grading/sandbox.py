"""The sandbox a submission runs in: bubblewrap and a cgroup where the machine has them.

With bubblewrap (``bwrap``), the runner and its kernel start in their own PID, network,
IPC and UTS namespaces with no capabilities: nothing they start outlives them
(``--die-with-parent``; the namespace dies with its first process), there is no network,
``/proc`` shows the sandbox only, the system, the Python environment and the course are
mounted read-only, ``/tmp`` is private, and the submission's own folder is the only one
writable. Nothing else is mounted: not the other submissions, the grades, the grader's
other folders or the user's home.

With a cgroup (v1 memory + pids controllers, or v2), the whole sandbox shares one memory
limit and one limit on processes and threads, and every process in it is killed at the end,
wherever it moved. Without one, each process of the kernel has the memory limit on its own.

``COURSE_GRADER_WITHOUT=bwrap`` (or ``cgroup``, or ``bwrap,cgroup``) forces the fallback.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

WITHOUT_ENV = "COURSE_GRADER_WITHOUT"
MAX_TASKS = 256  # processes and threads of one sandbox (the kernel alone runs ~20 threads)
# the runner's own memory, on top of --memory: a kernel that passes --memory then gets a
# MemoryError from its own limit, not a kill of the whole sandbox
RUNNER_MB = 256
CGROUP_ROOT = Path("/sys/fs/cgroup")
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
# joins the cgroup (its cgroup.procs files come before --), then becomes the sandbox
JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'


def _without():
    return {part.strip() for part in os.environ.get(WITHOUT_ENV, "").split(",")}


# ---------------------------------------------------------------------------------------
# cgroups


@dataclass(frozen=True)
class Cgroup:
    """One sandbox's cgroup: its folder per controller (v1) or its one folder (v2)."""

    memory: Path
    pids: Path
    version: int

    def folders(self):
        return [self.memory] if self.memory == self.pids else [self.memory, self.pids]

    def procs_files(self):
        return [str(folder / "cgroup.procs") for folder in self.folders()]

    def oom_kills(self):
        """How many processes the kernel killed for passing the memory limit."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            lines = (self.memory / name).read_text(encoding="ascii").splitlines()
        except OSError:
            return 0
        counts = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
        return int(counts.get("oom_kill", 0))

    def pids_inside(self):
        try:
            return [int(pid) for pid in (self.pids / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self, patience_s=10.0):
        """SIGKILL every process in the cgroup, also those forked meanwhile; then remove it."""
        deadline = time.monotonic() + patience_s
        while (pids := self.pids_inside()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        for folder in self.folders():
            while time.monotonic() < deadline:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the killed processes have exited
                    time.sleep(0.02)


def _own_cgroups(text):
    """{controller: path} from /proc/self/cgroup; v2's unified hierarchy is ``""``."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                own[controller] = parts[2].lstrip("/")
    return own


def cgroup_parents(root=CGROUP_ROOT, self_cgroup=Path("/proc/self/cgroup")):
    """(memory parent, pids parent, version) under which sandboxes get cgroups, or a reason."""
    try:
        own = _own_cgroups(self_cgroup.read_text(encoding="ascii"))
    except OSError:
        return "this system has no cgroups (no /proc/self/cgroup)"
    if (root / "cgroup.controllers").is_file():  # v2 only
        parent = root / own.get("", "")
        enabled = (parent / "cgroup.subtree_control").read_text().split() \
            if (parent / "cgroup.subtree_control").is_file() else []
        if not {"memory", "pids"} <= set(enabled):
            return (f"cgroup v2 without the memory and pids controllers delegated to {parent} "
                    f"(cgroup.subtree_control)")
        return parent, parent, 2
    if "memory" in own and "pids" in own and (root / "memory").is_dir() and (root / "pids").is_dir():
        return root / "memory" / own["memory"], root / "pids" / own["pids"], 1
    return "no cgroup memory and pids controllers are mounted under /sys/fs/cgroup"


def sandbox_memory_mb(memory_mb):
    """The memory limit of a whole sandbox whose processes each have ``memory_mb``."""
    return int(memory_mb) + RUNNER_MB


def make_cgroup(parents, memory_mb, max_tasks=MAX_TASKS):
    """A fresh cgroup below ``parents`` limited to ``memory_mb`` and ``max_tasks``; OSError
    if not allowed."""
    memory_parent, pids_parent, version = parents
    name = f"course-grade-{uuid.uuid4().hex[:12]}"
    group = Cgroup(memory_parent / name, pids_parent / name, version)
    limit = int(memory_mb) << 20
    try:
        for folder in group.folders():
            folder.mkdir()
        if version == 1:
            (group.memory / "memory.limit_in_bytes").write_text(str(limit))
            if (group.memory / "memory.memsw.limit_in_bytes").exists():  # swap counts too
                (group.memory / "memory.memsw.limit_in_bytes").write_text(str(limit))
        else:
            (group.memory / "memory.max").write_text(str(limit))
            if (group.memory / "memory.swap.max").exists():
                (group.memory / "memory.swap.max").write_text("0")
        (group.pids / "pids.max").write_text(str(max_tasks))
    except OSError:
        group.kill_all(patience_s=1.0)
        raise
    return group


# ---------------------------------------------------------------------------------------
# bubblewrap


def _probe_bwrap(bwrap):
    """None when ``bwrap`` can build this sandbox here, else why not."""
    try:
        proc = subprocess.run([bwrap, *NAMESPACES, "--ro-bind", "/", "/", "--proc", "/proc",
                               "--dev", "/dev", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not run ({err})"
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[0]
        return f"bwrap cannot make namespaces here ({first[:160]})"
    return None


def _ro_mounts(paths):
    """bwrap arguments mounting ``paths`` read-only where they are (and where they point)."""
    wanted = set()
    for path in paths:
        if path and os.path.exists(path):
            wanted.update({os.path.abspath(path), os.path.realpath(path)})
    # a folder inside another one already mounted needs no mount of its own
    kept = [p for p in sorted(wanted) if not any(p.startswith(q.rstrip("/") + "/") for q in wanted)]
    args = []
    for path in kept:
        args += ["--ro-bind", path, path]
    return args


def bwrap_arguments(bwrap, readable, writable, workdir):
    """The bwrap command line, up to its ``--``: ``readable`` read-only, ``writable`` rw."""
    args = [bwrap, *NAMESPACES, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    args += _ro_mounts(readable)
    args += ["--bind", str(writable), str(writable), "--chdir", str(workdir), "--"]
    return args


def python_paths(course_dir, package_parent):
    """What the kernel imports from: the Python installation, its sys.path and the course."""
    # the grader's folder and the course's parent (a repository, say) may hold submissions
    # and grades: of those, the course package alone is mounted
    skip = {os.path.realpath(os.getcwd()), os.path.realpath(package_parent)}
    skip -= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(course_dir)]
    return paths + [p for p in sys.path[1:] if p and os.path.realpath(p) not in skip]


# ---------------------------------------------------------------------------------------
# what this machine offers


@dataclass(frozen=True)
class Isolation:
    """The sandbox this machine can give each submission, and what it is missing."""

    bwrap: str = None  # path of a working bwrap, or None
    cgroups: tuple = None  # cgroup_parents() when sandboxes get cgroups, or None
    no_bwrap: str = ""  # why there is no bubblewrap
    no_cgroup: str = ""  # why there is no cgroup

    @property
    def complete(self):
        return self.bwrap is not None and self.cgroups is not None

    def describe(self, memory_mb):
        """One line for the start of a run and for every record."""
        if self.bwrap:
            box = ("bubblewrap sandbox (own PID namespace, no network, course and Python "
                   "read-only, only its own folder writable)")
        else:
            box = (f"NO SANDBOX ({self.no_bwrap}): a notebook can read the other submissions "
                   f"and the grader's command line (--seeds) and change files for later runs"
                   + ("" if self.cgroups else ", and its processes can outlive it"))
        if self.cgroups:
            limits = (f"memory {memory_mb} MB per process, {sandbox_memory_mb(memory_mb)} MB for "
                      f"all its processes together, at most {MAX_TASKS} processes and threads "
                      f"(cgroup v{self.cgroups[2]})")
        else:
            tasks = ("process count not limited (root)" if os.geteuid() == 0 else
                     f"at most {MAX_TASKS} more processes of this user")
            limits = f"memory {memory_mb} MB per process (no cgroup: {self.no_cgroup}), {tasks}"
        return f"{box}; {limits}"


def detect():
    """The Isolation of this machine (bubblewrap and cgroups tried, unless switched off)."""
    without = _without()
    bwrap, no_bwrap = None, ""
    if "bwrap" in without:
        no_bwrap = f"switched off by {WITHOUT_ENV}={os.environ[WITHOUT_ENV]}"
    elif shutil.which("bwrap") is None:
        no_bwrap = ("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; "
                    "not available on macOS)")
    else:
        no_bwrap = _probe_bwrap(shutil.which("bwrap")) or ""
        bwrap = None if no_bwrap else shutil.which("bwrap")
    cgroups, no_cgroup = None, ""
    if "cgroup" in without:
        no_cgroup = f"switched off by {WITHOUT_ENV}={os.environ[WITHOUT_ENV]}"
    else:
        found = cgroup_parents()
        if isinstance(found, str):
            no_cgroup = found
        else:
            try:  # creating one is the only reliable test of permission
                make_cgroup(found, 64).kill_all(patience_s=1.0)
                cgroups = found
            except OSError as err:
                no_cgroup = f"cannot create a cgroup in {found[0]} ({err.strerror})"
    return Isolation(bwrap, cgroups, no_bwrap, no_cgroup)


def user_task_limit():
    """RLIMIT_NPROC for a kernel without a cgroup: this user's tasks now plus MAX_TASKS (the
    limit counts every process and thread of the user); None where it cannot be counted or
    would not apply (root)."""
    if os.geteuid() == 0 or not Path("/proc/self/task").is_dir():
        return None
    uid, tasks = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                tasks += len(os.listdir(entry / "task"))
        except OSError:
            pass
    return tasks + MAX_TASKS


def command(isolation, argv, cgroup, readable, writable, workdir):
    """The full command line that runs ``argv`` in the sandbox ``isolation`` allows."""
    if isolation.bwrap:
        argv = [*bwrap_arguments(isolation.bwrap, readable, writable, workdir), *argv]
    if cgroup is not None:
        argv = ["/bin/sh", "-c", JOIN, "sh", *cgroup.procs_files(), "--", *argv]
    return argv
