"""Writing files so that readers never see half of one, and hashing them.

``write_atomic(path, write)`` hands ``write`` an open temporary file beside ``path``
and renames it over ``path`` only once ``write`` returned: an interrupted or failed
write leaves the old file (or none) and no temporary file. The new file gets the
normal mode for the user's umask (``open`` would give it), not the private 0600 of
``tempfile.mkstemp``: a course folder shared by a class stays readable to all.
"""
import hashlib
import os
import secrets
from pathlib import Path

BLOCK = 1 << 20


def write_atomic(path, write, text=False):
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it to ``path``.

    text: open the stream as UTF-8 text with "\\n" line ends on every platform.
    The folder must exist: checking it is the caller's job, before any work is done.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never write through a file or link someone else put there; mode 0o666 is
    # reduced by the umask, as for any file the user creates.
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with (open(handle, "w", encoding="utf-8", newline="") if text
              else open(handle, "wb")) as stream:
            write(stream)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Write the string ``text`` to ``path`` atomically (UTF-8)."""
    write_atomic(path, lambda stream: stream.write(text), text=True)


def save_torch(obj, path):
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch  # here, not at the top: the notebook generator and the grader need no torch
    write_atomic(path, lambda stream: torch.save(obj, stream))


def sha256(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def tensor_sha256(tensors):
    """Hex sha256 of named tensors ({name: tensor}, e.g. a state dict): names, dtypes, shapes, values."""
    import torch
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
