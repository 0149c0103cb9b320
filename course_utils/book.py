"""The course as a website: a Jupyter Book of the stored, executed student notebooks.

    python -m course_utils.book build [--out build/book]   (``make book`` runs it in .venv-book)

Nothing is executed: the pages show the outputs stored in ``lessons/*.ipynb``. The book's
sources are staged in ``OUT/src`` from the repository: the README as the home page, the
lessons, the instructors' and grading pages. Staging drops each notebook's launch cell
(the page has launch buttons instead), turns widget outputs into static snapshots (their
images and values: a widget needs a kernel to move) and points links to files outside
the book at the repository. Every asset is local, MathJax included (from the PyPI
package sphinx-mathjax-offline), so the site works offline. The finished site replaces
``OUT/html`` only when the build succeeded.
"""
import argparse
import importlib.util
import json
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .launch import README_BEGIN, README_END, AddressError, read_repository

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "book"
TITLE = "Local Rules, Creative Machines"
HOME = "README.md"
PAGES = ["docs/INSTRUCTORS.md", "docs/GRADING.md", "CONTRIBUTING.md"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_PACKAGE = "sphinx-mathjax-offline"  # its folder name has dashes: found by path, not imported
MATHJAX_FILES = ["tex-chtml.js", "output/chtml/fonts/woff-v2"]
MARKDOWN_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
STATIC = "_assets"  # not "_static": Jupyter Book would load every .js file in that one on every page
LAUNCH_CELL_ID = re.compile(r"^l\d\d-launch$")


class BookError(RuntimeError):
    """The book cannot be built; the message says why and what to do."""


def lesson_paths(root=ROOT):
    """The student notebooks the book shows, in lesson order, relative to ``root``."""
    return sorted(path.relative_to(root).as_posix() for path in (Path(root) / "lessons").glob("*.ipynb"))


def rewrite_links(markdown, page, in_book, repository):
    """``markdown`` of ``page`` with relative links to files outside the book sent to the repository."""
    def replace(match):
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if resolved in in_book:
            return match.group(0)
        url = repository.source_url(resolved) + (f"#{anchor}" if anchor else "")
        return f"{match.group(1)}{url}{match.group(3)}"
    return MARKDOWN_LINK.sub(replace, markdown)


def home_markdown(readme, repository, lessons):
    """The home page: the README, its badges (remote images) replaced by plain launch links."""
    start, end = readme.find(README_BEGIN), readme.find(README_END)
    if start < 0 or end < start:
        raise BookError("README.md has lost its launch block; restore it from git, then run "
                        "`python -m course_utils.launch readme`")
    end += len(README_END)
    links = (f"Lesson 00 on [Binder]({repository.binder_url(lessons[0])}) or "
             f"[Colab]({repository.colab_url(lessons[0])}); every lesson page has the same "
             f"buttons (the rocket at its top).")
    return readme[:start] + links + readme[end:]


def _widget_models(state, model_id):
    """The models of the widget ``model_id`` and everything it contains, depth first."""
    model = state.get(model_id)
    if model is None:
        return []
    found = [model]
    for child in model["state"].get("children", []):
        found += _widget_models(state, child.removeprefix("IPY_MODEL_"))
    return found


def _readout(model):
    """'description = value' for a control (a dropdown, slider or text box), else None."""
    values = model["state"]
    if "_options_labels" in values and values.get("index") is not None:
        return f"{values.get('description', '')} = {values['_options_labels'][values['index']]}"
    if values.get("description") and isinstance(values.get("value"), (int, float, str)) \
            and model["model_name"].endswith(("SliderModel", "TextModel")):
        return f"{values['description']} = {values['value']}"
    return None


def widget_snapshot(view, state):
    """Static outputs for a widget: each of its images, and a line of its values."""
    models = _widget_models(state, view["model_id"])
    outputs = []
    for model in models:
        if model["model_name"] == "ImageModel":
            image = next((b["data"] for b in model.get("buffers", []) if b.get("path") == ["value"]), None)
            if image and model["state"].get("format") in ("png", "jpeg"):
                outputs.append(nbformat.v4.new_output(
                    "display_data", data={f"image/{model['state']['format']}": image}))
    readouts = [text for text in map(_readout, models) if text]
    caption = "A snapshot of an interactive widget"
    caption += f" ({'; '.join(readouts)})" if readouts else ""
    outputs.append(nbformat.v4.new_output("display_data", data={
        "text/markdown": f"*{caption}. Launch the lesson (the rocket above) to use it live.*"}))
    return outputs


def page_notebook(nb, path, in_book, repository):
    """The notebook as its page shows it: no launch cell, static widgets, links resolved."""
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    cells = []
    for cell in nb.cells:
        if LAUNCH_CELL_ID.match(cell.get("id", "")):
            continue
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, path, in_book, repository)
        elif cell.cell_type == "code":
            outputs = []
            for output in cell.outputs:
                view = output.get("data", {}).get(WIDGET_VIEW)
                outputs += widget_snapshot(view, state) if view else [output]
            cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    return nb


def book_config(repository):
    """Jupyter Book's _config.yml (written as JSON, which YAML reads)."""
    return {
        "title": TITLE,
        "author": "the course's authors",
        "copyright": "2026",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "repository": {"url": repository.url, "path_to_book": "", "branch": repository.branch},
        "launch_buttons": {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                           "colab_url": "https://colab.research.google.com", "thebe": False},
        "html": {"use_repository_button": True, "use_issues_button": True,
                 "home_page_in_navbar": True},
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "amsmath"]},
        "sphinx": {"recursive_update": True, "config": {
            # Jupyter Book's own list less sphinx_thebe (live code through Binder, which
            # is off; its script is added twice and fails on every page) and the PDF one.
            "extensions": ["sphinx_togglebutton", "sphinx_copybutton", "myst_nb", "jupyter_book",
                           "sphinx_comments", "sphinx_external_toc", "sphinx.ext.intersphinx",
                           "sphinx_design", "sphinx_book_theme", "sphinx_multitoc_numbering"],
            # An explicit mode: without one the theme logs an error on every page.
            "html_context": {"default_mode": "auto"},
            "html_static_path": [STATIC],
            "mathjax_path": "mathjax/tex-chtml.js",
            "html_show_sourcelink": False,
        }},
    }


def book_toc(lessons):
    """Jupyter Book's _toc.yml: the home page, the lessons, the pages for teachers."""
    def entries(paths):
        return [{"file": path.rsplit(".", 1)[0]} for path in paths]
    return {"format": "jb-book", "root": HOME.rsplit(".", 1)[0], "parts": [
        {"caption": "Lessons", "chapters": entries(lessons)},
        {"caption": "Teaching and contributing", "chapters": entries(PAGES)},
    ]}


def _mathjax_dir():
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BookError(f"{MATHJAX_PACKAGE} is not installed in {sys.prefix}; build the book with "
                        f"`make book` (it installs book/requirements.txt into .venv-book)")
    return Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"


def stage(src, repository, root=ROOT):
    """Write the book's sources into ``src`` (emptied first); returns the lessons staged."""
    root = Path(root)
    lessons = lesson_paths(root)
    if not lessons:
        raise BookError(f"no notebooks in {root / 'lessons'}; run `make notebooks` first")
    if src.exists():
        shutil.rmtree(src)
    in_book = set(lessons) | set(PAGES) | {HOME}
    for path in lessons:
        nb = page_notebook(nbformat.read(root / path, as_version=4), path, in_book, repository)
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, src / path)
    home = home_markdown((root / HOME).read_text(encoding="utf-8"), repository, lessons)
    for path, text in [(HOME, home)] + [(p, (root / p).read_text(encoding="utf-8")) for p in PAGES]:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text(rewrite_links(text, path, in_book, repository), encoding="utf-8")
    mathjax = _mathjax_dir()
    for name in MATHJAX_FILES:
        target = src / STATIC / "mathjax" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (mathjax / name).is_dir() else shutil.copy2)(mathjax / name, target)
    (src / "_config.yml").write_text(json.dumps(book_config(repository), indent=1), encoding="utf-8")
    (src / "_toc.yml").write_text(json.dumps(book_toc(lessons), indent=1), encoding="utf-8")
    return lessons


def build(out=DEFAULT_OUT, root=ROOT):
    """Stage and build the book; the site lands in ``out/html``. Returns its path."""
    try:
        repository = read_repository()
    except AddressError as err:
        raise BookError(str(err)) from None
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if jupyter_book is None:
        raise BookError(f"jupyter-book is not installed next to {sys.executable}; run `make book` "
                        f"(it installs book/requirements.txt into .venv-book)")
    out = Path(out)
    stage(out / "src", repository, root)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    log = out / "build.log"
    with open(log, "w", encoding="utf-8") as stream:
        done = subprocess.run([jupyter_book, "build", "--path-output", str(work), str(out / "src")],
                              stdout=stream, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BookError(f"jupyter-book failed (exit {done.returncode}); its log: {log}")
    html, old = out / "html", out / ".html.old"
    shutil.rmtree(old, ignore_errors=True)
    if html.exists():
        html.rename(old)
    (work / "_build" / "html").rename(html)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return html


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.book", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="stage and build the website")
    build_cmd.add_argument("--out", type=Path, default=DEFAULT_OUT,
                           help="folder of the build (default: build/book)")
    args = parser.parse_args(argv)
    try:
        html = build(args.out)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
