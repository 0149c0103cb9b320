"""The course's public address (course.cfg) and everything derived from it.

    python -m course_utils.launch readme [--check]   write (or check) README.md's launch badges
    python -m course_utils.launch url                print the repository's address

``course.cfg`` is the one file that names the repository. From it come the Binder and
Colab links of every notebook's first cell and the install that cell runs in a hosted
notebook (``first_cell``), the README's badges (``readme_block``) and the book's launch
buttons and source links (``course_utils.book``). Standard library only: the book is
built in a virtual environment of its own.
"""
import argparse
import configparser
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "course.cfg"
README = ROOT / "README.md"
GITHUB_URL = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$")
PLACEHOLDER_OWNER = "OWNER"
README_BEGIN = ("<!-- launch: generated from course.cfg by `python -m course_utils.launch readme`;"
                " edit course.cfg, not these lines -->")
README_END = "<!-- launch: end -->"
README_LESSON = "lessons/00_paradox.ipynb"
INSTALL_FROM_VARIABLE = "COURSE_INSTALL_FROM"


class AddressError(ValueError):
    """course.cfg is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    branch: str

    @property
    def url(self):
        return f"https://github.com/{self.owner}/{self.name}"

    @property
    def is_placeholder(self):
        return self.owner == PLACEHOLDER_OWNER

    def binder_url(self, path):
        """Binder's JupyterLab on ``path`` (a file of the repository, e.g. lessons/00_paradox.ipynb)."""
        return f"https://mybinder.org/v2/gh/{self.owner}/{self.name}/{self.branch}?urlpath=lab/tree/{path}"

    def colab_url(self, path):
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/{path}"

    def source_url(self, path):
        return f"{self.url}/blob/{self.branch}/{path}"

    @property
    def install_spec(self):
        """What pip installs in a hosted notebook: the package straight from the repository."""
        return f"git+{self.url}@{self.branch}"


def read_repository(path=CONFIG):
    """The repository that ``path`` (course.cfg) names."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
        url, branch = parser["repository"]["url"].strip(), parser["repository"]["branch"].strip()
    except FileNotFoundError:
        raise AddressError(f"{path} is missing; restore it from git (it names the course's "
                           f"public repository)") from None
    except (KeyError, configparser.Error) as err:
        raise AddressError(f"{path}: needs a [repository] section with `url` and `branch` "
                           f"({err})") from None
    match = GITHUB_URL.match(url)
    if not match or not branch:
        raise AddressError(f"{path}: url must read https://github.com/OWNER/NAME and branch must "
                           f"be set (Binder and Colab launch from GitHub); found url={url!r}, "
                           f"branch={branch!r}")
    return Repository(match.group(1), match.group(2), branch)


def first_cell(repository, notebook_path):
    """The source of a notebook's first cell: its launch links, and the install a hosted notebook needs."""
    return f'''\
# Run this notebook in the cloud, nothing to install:
#   Binder  {repository.binder_url(notebook_path)}
#   Colab   {repository.colab_url(notebook_path)}
# In a hosted notebook (Colab, Kaggle) this cell installs the course; where the course is
# installed (make lab, Binder, a JupyterHub) it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("course_utils") is None:
    _install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet",
         os.environ.get("{INSTALL_FROM_VARIABLE}", "{repository.install_spec}")],
        capture_output=True, text=True)
    if _install.returncode != 0:
        raise RuntimeError("installing the course failed:\\n" + _install.stderr[-3000:])
    importlib.invalidate_caches()
    print("course installed")'''


def readme_block(repository):
    """README.md's launch lines, markers included: Binder and Colab badges for lesson 00."""
    lines = [README_BEGIN,
             f"[![Binder](https://mybinder.org/badge_logo.svg)]({repository.binder_url(README_LESSON)})",
             f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({repository.colab_url(README_LESSON)})"]
    if repository.is_placeholder:
        lines.append("*(Placeholder address: the course is not published yet; course.cfg says how "
                     "to set it.)*")
    return "\n".join(lines + [README_END])


def with_readme_block(text, repository):
    """``text`` (README.md) with its launch block replaced by the current one."""
    pattern = re.compile(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise AddressError(f"README.md must hold exactly one launch block from {README_BEGIN!r} "
                           f"to {README_END!r}; restore it from git")
    return pattern.sub(lambda _: readme_block(repository), text)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file, so no reader sees half of it."""
    handle, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".tmp", dir=Path(path).parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.launch",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    readme = sub.add_parser("readme", help="write README.md's launch badges from course.cfg")
    readme.add_argument("--check", action="store_true", help="only say whether they are current")
    sub.add_parser("url", help="print the repository's address")
    args = parser.parse_args(argv)
    try:
        repository = read_repository()
        if args.command == "url":
            print(repository.url)
            return 0
        text = README.read_text(encoding="utf-8")
        current = with_readme_block(text, repository)
        if args.check:
            if current != text:
                print("README.md: the launch badges are stale w.r.t. course.cfg; run "
                      "`python -m course_utils.launch readme`", file=sys.stderr)
                return 1
            return 0
        if current != text:
            write_atomic(README, current)
            print("wrote README.md")
        return 0
    except AddressError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
