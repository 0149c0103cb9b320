"""Progress bars that know whether they run in a notebook or a terminal.

Set ``COURSE_PROGRESS=off`` to silence every bar: the test suite and the notebook
generator do, so that stored outputs contain no timings.
"""
import os

from tqdm.auto import tqdm


def progress_enabled(requested=None):
    """Whether bars are shown: an explicit request wins, else COURSE_PROGRESS."""
    if os.environ.get("COURSE_PROGRESS", "auto").lower() in ("off", "0", "false", "no"):
        return False
    return True if requested is None else bool(requested)


def progress(iterable=None, total=None, desc=None, enabled=None, **kwargs):
    """tqdm over ``iterable`` (notebook widget or terminal bar), or a silent pass-through."""
    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(enabled),
                leave=False, dynamic_ncols=True, **kwargs)
