"""Runs one prepared submission in a fresh, limited kernel (a child process of the grader).

    python -m course_utils.grading.runner NOTEBOOK STATE_DIR WORK_DIR MEMORY_MB MAX_TASKS

NOTEBOOK holds the grader's set-up cell and the submission's code cells, each tagged with
its position in the submission. The kernel (``course_utils.grading.kernel``) runs with
cwd WORK_DIR and limits itself (MAX_TASKS: its user's processes and threads, 0 for no
limit: where a cgroup limits the sandbox as a whole); what it records lands in STATE_DIR/answers. This process keeps no output but
the first error of each cell, so a notebook that floods its output cannot exhaust memory,
and writes STATE_DIR/run.json: cells run, their errors, where the kernel died, if it did,
and, in a bubblewrap sandbox, how many processes the notebook left running after its last cell
(they die with the sandbox).
"""
import json
import os
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat.v4 import output_from_msg

from ..files import write_text
from .layout import CELL_FILE, POSITION

KERNEL_NAME = "course-grader"
MAX_ERRORS = 20
MAX_TEXT = 500


def left_running(kernel_pid):
    """How many processes the notebook left behind: live processes of this PID namespace
    but its init (bwrap), this runner and the kernel. 0 outside a bubblewrap sandbox, where
    /proc shows the whole machine."""
    proc = Path("/proc")
    try:
        if os.getpid() != 2 or b"bwrap" not in (proc / "1" / "cmdline").read_bytes():
            return 0
    except OSError:
        return 0
    alive = 0
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) not in (1, 2, kernel_pid):
            try:
                alive += (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            except (OSError, IndexError):
                pass
    return alive


class _ErrorsOnlyClient(NotebookClient):
    """A NotebookClient that keeps only the first error output of each cell."""

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] != "error" or outs:
            return None
        out = output_from_msg(msg)
        out.traceback = []
        out.evalue = str(out.get("evalue", ""))[:MAX_TEXT]
        outs.append(out)
        return out

    async def _async_check_alive(self):
        # the heartbeat alone can miss a kernel that exited (os._exit): ask for the process too
        if not await ensure_async(self.km.is_alive()):
            raise DeadKernelError("Kernel died")
        await super()._async_check_alive()


def kernel_manager(state, memory_mb, max_tasks):
    """A KernelManager for the grading kernel, its spec written under ``state``."""
    folder = state / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "course_utils.grading.kernel",
                     "--memory-mb", str(memory_mb), "--max-tasks", str(max_tasks),
                     "--pid-file", str(state / "kernel.pid"), "-f", "{connection_file}"],
            "display_name": "course grader", "language": "python",
            # glibc reserves 64 MB of address space per thread arena: under the memory limit
            # the kernel could not even start its threads
            "env": {"MALLOC_ARENA_MAX": "2"}}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(state / "kernels")])
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def run(nb, state, workdir, memory_mb, max_tasks):
    """Execute ``nb`` cell by cell; the report that goes to run.json."""
    report = {"cells_run": 0, "errors": [], "died_in": None, "startup_error": None,
              "left_running": 0}
    client = _ErrorsOnlyClient(nb, km=kernel_manager(state, memory_mb, max_tasks), allow_errors=True,
                               timeout=None, startup_timeout=120, record_timing=False,
                               resources={"metadata": {"path": str(workdir)}})
    cell_file = state / "answers" / CELL_FILE
    finished, position, kernel_pid = False, 0, None
    try:
        with client.setup_kernel():
            kernel_pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            for index, cell in enumerate(nb.cells):
                position = cell.metadata.get(POSITION, 0)
                cell_file.write_text(str(position), encoding="ascii")
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    report["died_in"] = position
                    break
                report["cells_run"] += 1
                for out in cell.outputs:
                    if out.output_type == "error" and len(report["errors"]) < MAX_ERRORS:
                        report["errors"].append({"cell": position, "ename": str(out.ename)[:100],
                                                 "evalue": out.evalue})
            finished = True
    except Exception as err:  # reported, not raised: the grader turns it into feedback
        if finished:
            pass  # every cell ran; trouble shutting the kernel down is not the notebook's fault
        elif report["cells_run"] == 0:
            report["startup_error"] = f"{type(err).__name__}: {err}"[:MAX_TEXT]
        elif report["died_in"] is None:
            report["died_in"] = position
    report["left_running"] = left_running(kernel_pid)
    return report


def main(argv):
    notebook, state, workdir, memory_mb, max_tasks = argv
    state = Path(state).resolve()
    nb = nbformat.read(notebook, as_version=4)
    report = run(nb, state, Path(workdir).resolve(), int(memory_mb), int(max_tasks))
    write_text(state / "run.json", json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
