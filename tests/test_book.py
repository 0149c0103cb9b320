"""The website's staging (course_utils.book): what each page is made from. The built site
itself is opened in Chromium by tests/test_browser.py."""
import nbformat

from course_utils import book, launch

REPOSITORY = launch.Repository("ada", "local-rules", "main")
IN_BOOK = {"README.md", "docs/INSTRUCTORS.md", "docs/GRADING.md", "CONTRIBUTING.md",
           "lessons/07_theory_meets_practice.ipynb"}


def test_links_outside_the_book_go_to_the_repository():
    text = ("[a](docs/INSTRUCTORS.md) [b](benchmarks/RESULTS.md#speed) [c](https://arxiv.org/abs/1) "
            "[d](#top) [e](lessons/07_theory_meets_practice.ipynb)")
    assert book.rewrite_links(text, "README.md", IN_BOOK, REPOSITORY) == (
        "[a](docs/INSTRUCTORS.md) "
        "[b](https://github.com/ada/local-rules/blob/main/benchmarks/RESULTS.md#speed) "
        "[c](https://arxiv.org/abs/1) [d](#top) [e](lessons/07_theory_meets_practice.ipynb)")
    assert book.rewrite_links("[x](../CONTRIBUTING.md) [y](../course.cfg)", "docs/INSTRUCTORS.md",
                              IN_BOOK, REPOSITORY) == \
        "[x](../CONTRIBUTING.md) [y](https://github.com/ada/local-rules/blob/main/course.cfg)"


def test_lesson_page_drops_the_launch_cell_and_freezes_widgets():
    lesson = book.ROOT / "lessons" / "01_local_rules.ipynb"
    nb = nbformat.read(lesson, as_version=4)
    widget_cells = [c.id for c in nb.cells if c.cell_type == "code"
                    and any(book.WIDGET_VIEW in o.get("data", {}) for o in c.outputs)]
    assert widget_cells, "lesson 01 has no widget output to freeze"
    page = book.page_notebook(nb, "lessons/01_local_rules.ipynb", IN_BOOK, REPOSITORY)
    assert not any(book.LAUNCH_CELL_ID.match(c.id) for c in page.cells)
    assert "widgets" not in page.metadata, "widget state would make the page load remote scripts"
    cell = next(c for c in page.cells if c.id == widget_cells[0])
    kinds = [next(iter(o["data"])) for o in cell.outputs]
    assert kinds == ["image/png", "text/markdown"], kinds
    caption = cell.outputs[-1]["data"]["text/markdown"]
    assert "preset = spots" in caption and "F = 0.03;" in caption and "k = 0.062" in caption


def test_home_page_has_launch_links_but_no_remote_images():
    readme = (book.ROOT / "README.md").read_text(encoding="utf-8")
    lessons = book.lesson_paths()
    home = book.home_markdown(readme, REPOSITORY, lessons)
    assert "badge_logo" not in home and "colab-badge" not in home and "![" not in home
    assert REPOSITORY.binder_url(lessons[0]) in home and REPOSITORY.colab_url(lessons[0]) in home
    assert home.startswith("# Local Rules, Creative Machines")


def test_config_and_toc_come_from_the_repository_and_the_lessons():
    config = book.book_config(REPOSITORY)
    assert config["repository"] == {"url": REPOSITORY.url, "path_to_book": "", "branch": "main"}
    assert config["execute"]["execute_notebooks"] == "off"
    lessons = book.lesson_paths()
    toc = book.book_toc(lessons)
    assert [c["file"] for c in toc["parts"][0]["chapters"]] == [p[:-len(".ipynb")] for p in lessons]
    assert len(lessons) == len(list((book.ROOT / "solutions" / "sources").glob("*.py")))


def test_cli_without_jupyter_book_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setattr(book.shutil, "which", lambda *args, **kwargs: None)
    assert book.main(["build"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "make book" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
