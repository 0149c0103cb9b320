"""The grading kernel: an IPython kernel that limits its own memory, file size and core dumps.

    python -m course_utils.grading.kernel --memory-mb 2048 --max-tasks N --pid-file PATH -f CONNECTION_FILE

Limits are set with ``resource.setrlimit`` before ipykernel starts, so every line the
submission runs (and every process it forks) is bound by them: each process on its own
(a cgroup, where there is one, bounds them together). ``--max-tasks`` (0: none) caps the
processes and threads of the user, for machines without a cgroup. The pid file lets the
grader kill the kernel's process group when the time limit is reached.
"""
import os
import resource
import signal
import sys

MAX_FILE_BYTES = 256 << 20  # no single file the submission writes may exceed this


def _pop_option(argv, name):
    index = argv.index(name)
    value = argv[index + 1]
    del argv[index:index + 2]
    return value


def limit(memory_mb, max_tasks=0):
    """Cap address space at ``memory_mb`` MiB, file size at MAX_FILE_BYTES and, unless 0,
    the user's processes and threads at ``max_tasks``; no core dumps."""
    memory = int(memory_mb) << 20
    if int(max_tasks) > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(max_tasks), int(max_tasks)))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # a write past the file limit then fails with OSError instead of killing the kernel
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def main(argv):
    memory_mb = _pop_option(argv, "--memory-mb")
    max_tasks = _pop_option(argv, "--max-tasks")
    pid_file = _pop_option(argv, "--pid-file")
    with open(pid_file, "w", encoding="ascii") as stream:
        stream.write(str(os.getpid()))
    limit(memory_mb, max_tasks)
    from ipykernel import kernelapp
    kernelapp.launch_new_instance(argv=argv)


if __name__ == "__main__":
    main(sys.argv[1:])
