"""The course as a learner meets it: JupyterLab in a real (headless) Chromium.

A notebook is opened in JupyterLab, run with Run > Run All Cells, its "F" slider is moved
with the keyboard, and the picture next to it must change. Needs Debian's Chromium and
Playwright for Python (.ci/install_browser.sh installs both when it can); without them
the tests skip and say why. Screenshots land in test-output/.

The built website (`make book`) is checked here too, with the same browser: each lesson
page, the home page and search.
"""
import functools
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 90
PAGE_LOAD_S = 90
RUN_ALL_S = 360  # twice a lesson's budget (3 min on 2 cores): room for a busy machine
REDRAW_S = 60
# A clean, quiet JupyterLab: no news pop-up, and every cell kept in the DOM (windowed
# notebooks drop off-screen cells, so their prompts could not be read).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen
PROMPTS = f"{PANEL} .jp-CodeCell .jp-InputPrompt"
ALL_CELLS_RAN = f"""() => {{
  const text = document.querySelector('{PANEL} .jp-Notebook')?.innerText ?? '';
  if (text.includes('Traceback (most recent call last)')) return 'error';
  const prompts = [...document.querySelectorAll('{PROMPTS}')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}}"""

SMOKE_NOTEBOOK = [
    "import io\nimport ipywidgets as widgets\nimport matplotlib\nmatplotlib.use('agg')\n"
    "import matplotlib.pyplot as plt\nimport numpy as np",
    "def picture(F):\n"
    "    x = np.linspace(0, 1, 64)\n"
    "    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)\n"
    "    ax.imshow(np.sin(40 * F * np.add.outer(x, x ** 2)), cmap='viridis')\n"
    "    ax.set_axis_off()\n"
    "    buffer = io.BytesIO()\n"
    "    fig.savefig(buffer, format='png')\n"
    "    plt.close(fig)\n"
    "    return buffer.getvalue()",
    "slider = widgets.FloatSlider(value=0.03, min=0.01, max=0.08, step=0.002, description='F')\n"
    "image = widgets.Image(value=picture(slider.value), format='png',\n"
    "                      layout=widgets.Layout(width='240px'))\n"
    "slider.observe(lambda change: setattr(image, 'value', picture(change['new'])), 'value')\n"
    "widgets.VBox([slider, image])",
]


def _browser_tools():
    """(chromium path, playwright.sync_api), or skip naming what is missing and how to get it."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not on PATH: run `sh .ci/install_browser.sh` as root on "
                    "Debian/Ubuntu, or install Chromium with your package manager")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("Playwright for Python is missing: `.venv/bin/pip install playwright` "
                    "(its browser download is not needed)")
    return chromium, sync_api


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab on 127.0.0.1 with a fresh token, serving a temp dir; yields (url, token, dir)."""
    _browser_tools()
    home = tmp_path_factory.mktemp("lab")
    work = home / "notebooks"
    work.mkdir()
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # Own config, data and runtime dirs: no user kernels, settings or workspaces leak in.
    env = dict(os.environ, COURSE_PROGRESS="off", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    token, port = secrets.token_hex(16), _free_port()
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={work}"] + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited at start:\n{log_path.read_text()[-3000:]}")
            try:
                if _get(f"{url}/api/status?token={token}") == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer in {SERVER_START_S} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, token, work
    finally:
        _stop(server, url, token)


def _stop(server, url, token):
    """Shut the server down through its API (kernels included), then by signal if it hangs."""
    try:
        request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        server.wait(timeout=20)
    except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if server.poll() is not None:
            return
        os.killpg(server.pid, sig)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _copy_without_outputs(source, work):
    """Copy a notebook into the server's dir with outputs cleared, so only fresh ones are seen."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, work / source.name)
    return source.name


def _save_screenshot(page, name):
    OUTPUT.mkdir(exist_ok=True)
    target = OUTPUT / name
    partial = target.with_name(f".{target.name}.partial.png")
    page.screenshot(path=str(partial))
    partial.replace(target)
    return target


def _kernel_idle(url, token, notebook_name):
    """Whether the server's session for the notebook has a kernel that has reported idle."""
    with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=5) as response:
        sessions = json.load(response)
    return any(s.get("path") == notebook_name and s["kernel"]["execution_state"] == "idle"
               for s in sessions)


def _run_all(page, sync_api, url, token, notebook_name):
    """Run > Run All Cells once the kernel is up; retried if no cell was queued (a click that
    lands while the front end is still connecting to the kernel is dropped)."""
    deadline = time.monotonic() + PAGE_LOAD_S
    while not _kernel_idle(url, token, notebook_name):
        if time.monotonic() > deadline:
            pytest.fail(f"the kernel of {notebook_name} was not idle after {PAGE_LOAD_S} s")
        time.sleep(0.5)
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(f"""() => [...document.querySelectorAll('{PROMPTS}')]
                                   .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
                                   timeout=30_000, polling=250)
            return
        except sync_api.TimeoutError:
            continue
    pytest.fail("Run > Run All Cells queued no cell, three times")


def _run_and_move_slider(lab, notebook_name, screenshot_name):
    """Open a notebook, Run All, press ArrowRight on the "F" slider; return (before, after) readouts."""
    chromium, sync_api = _browser_tools()
    url, token, _ = lab
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            # A workspace of its own: no tab of an earlier test is restored next to it.
            workspace = Path(notebook_name).stem
            page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook_name}?token={token}",
                      timeout=PAGE_LOAD_S * 1000)
            page.locator(f"{PANEL} .jp-Notebook .jp-Cell").first.wait_for(timeout=PAGE_LOAD_S * 1000)
            _run_all(page, sync_api, url, token, notebook_name)
            try:
                outcome = page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_ALL_S * 1000,
                                                 polling=500).json_value()
            except sync_api.TimeoutError:
                prompts = page.locator(PROMPTS).all_inner_texts()
                pytest.fail(f"Run All had not finished after {RUN_ALL_S} s; input prompts: "
                            f"{' '.join(p.strip() for p in prompts)}")
            if outcome == "error":
                pytest.fail(f"{notebook_name} raised while running")

            label = page.locator(".widget-label", has_text=re.compile(r"^\s*F\b"))
            slider = page.locator(".widget-slider", has=label).first
            cell = page.locator(".jp-CodeCell", has=slider).first
            images = cell.locator(".jp-OutputArea-output img")
            images.first.wait_for(timeout=REDRAW_S * 1000)
            notebook_text = page.locator(f"{PANEL} .jp-Notebook").inner_text()
            assert "Error displaying widget" not in notebook_text, "a widget failed to render"
            readout = slider.locator(".widget-readout")
            before_value = readout.inner_text()
            before = [img.screenshot() for img in images.all()]

            slider.locator(".noUi-handle").first.focus()
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            deadline = time.monotonic() + REDRAW_S
            while True:
                page.wait_for_timeout(500)
                after = [img.screenshot() for img in images.all()]
                if after and after != before:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"the picture did not change within {REDRAW_S} s of moving F "
                                f"(readout {before_value} -> {readout.inner_text()})")
            after_value = readout.inner_text()
            slider.scroll_into_view_if_needed()
        finally:
            # On failure too: the screenshot shows what the learner would have seen.
            print(f"screenshot: {_save_screenshot(page, screenshot_name)}")
            browser.close()
    return before_value, after_value


def test_widget_slider_redraws_image_in_jupyterlab(lab):
    """The browser, JupyterLab and ipywidgets pipeline itself, on a notebook of three cells."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in SMOKE_NOTEBOOK])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab[2] / "smoke.ipynb")
    before, after = _run_and_move_slider(lab, "smoke.ipynb", "browser_smoke.png")
    assert float(after) > float(before), f"F readout went {before} -> {after}"


def test_lesson01_explorer_in_jupyterlab(lab):
    """Lesson 01 (student version) runs top to bottom in JupyterLab and its F slider redraws the pattern."""
    sources = sorted((ROOT / "lessons").glob("01_*.ipynb"))
    if not sources:
        pytest.skip("lessons/01_*.ipynb is not generated yet")
    name = _copy_without_outputs(sources[0], lab[2])
    before, after = _run_and_move_slider(lab, name, "browser_lesson01.png")
    assert float(after) > float(before), f"F readout went {before} -> {after}"


# The course as a website (`make book`): every lesson page in Chromium, served from
# 127.0.0.1 the way GitHub Pages serves it, with every request to another host refused.
BOOK_HTML = ROOT / "build" / "book" / "html"
LESSON_PAGES = sorted(BOOK_HTML.glob("lessons/*.html"))
FIGURES = "article .cell_output img"
FIGURES_LOADED = f"""() => {{
  const images = [...document.querySelectorAll('{FIGURES}')];
  return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);
}}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def book_site():
    """(base url, playwright page, console errors, refused requests) for the built book."""
    chromium, sync_api = _browser_tools()
    if not (BOOK_HTML / "index.html").exists():
        pytest.skip(f"the book is not built ({BOOK_HTML} is missing): run `make book`")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(BOOK_HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    errors, refused = [], []

    def local_only(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", local_only)
            try:
                yield base, page, errors, refused
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def _open(book_site, path):
    base, page, errors, refused = book_site
    errors.clear(), refused.clear()
    page.goto(f"{base}/{path}", timeout=PAGE_LOAD_S * 1000)
    return page


@pytest.mark.parametrize("page_path", LESSON_PAGES, ids=lambda p: p.stem)
def test_book_lesson_page(book_site, page_path):
    """Figures load, an equation is typeset, launch links are there, "next" leads on; no error."""
    from course_utils.launch import read_repository
    repository = read_repository()
    _, _, errors, refused = book_site
    page = _open(book_site, f"lessons/{page_path.name}")
    # Times out (and fails) when the page has no figure or one did not load.
    page.wait_for_function(FIGURES_LOADED, timeout=PAGE_LOAD_S * 1000, polling=250)
    prose = " ".join(page.locator("article p, article li").all_inner_texts())
    assert not re.search(r"\$\\[A-Za-z]|\$\$", prose), f"{page_path.name}: TeX left untypeset"
    maths = page.locator("article mjx-container")
    maths.first.wait_for(timeout=PAGE_LOAD_S * 1000)  # MathJax has typeset an equation
    assert maths.first.bounding_box()["width"] > 0
    notebook = f"lessons/{page_path.stem}.ipynb"
    for url in (repository.colab_url(notebook), repository.binder_url(notebook)):
        assert page.locator(f'a[href="{url}"]').count() == 1, f"no launch link {url}"
    following = page.locator("a.right-next")
    if page_path != LESSON_PAGES[-1]:
        target = LESSON_PAGES[LESSON_PAGES.index(page_path) + 1]
        following.click()
        page.wait_for_url(f"**/lessons/{target.name}", timeout=PAGE_LOAD_S * 1000)
        page.locator("article h1").first.wait_for(timeout=PAGE_LOAD_S * 1000)
    if page_path.stem.startswith("01_"):
        _open(book_site, f"lessons/{page_path.name}")
        snapshot = page.get_by_text("A snapshot of an interactive widget").first
        snapshot.scroll_into_view_if_needed()
        print(f"screenshot: {_save_screenshot(page, 'book_lesson01_widget.png')}")
    assert not errors, f"console errors on {page_path.name}: {errors}"
    assert not refused, f"{page_path.name} asked for assets from other hosts: {refused}"


def test_book_home_and_search(book_site):
    """The home page lists the lessons; search finds a word in them; no error, nothing remote."""
    _, _, errors, refused = book_site
    page = _open(book_site, "index.html")
    page.wait_for_url("**/README.html", timeout=PAGE_LOAD_S * 1000)
    table_links = page.locator('article table a[href*="lessons/"]')
    assert table_links.count() == len(LESSON_PAGES), "the lesson table does not link every lesson"
    print(f"screenshot: {_save_screenshot(page, 'book_home.png')}")
    page = _open(book_site, "search.html?q=denoiser")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=PAGE_LOAD_S * 1000)
    assert results.count() >= 3
    print(f"screenshot: {_save_screenshot(page, 'book_search.png')}")
    assert not errors and not refused, (errors, refused)
