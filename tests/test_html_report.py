"""The HTML report (`csr-bench report`): its pieces on hand-written data, the page of a real tiny run
(self-contained, every section there), and that page opened in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from csr_bench.evaluation.document_images import data_root_of, run_images
from csr_bench.reporting.report.page import write_report
from csr_bench.reporting.report.sample_browser import highlight_objects, pope_mistakes
from csr_bench.reporting.run_data import IterationData, load_run

from conftest import WORLD_TASKS

TASKS = WORLD_TASKS.split(",")
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class _Page(HTMLParser):
    """Tags and their attributes, to check what a page would load."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def attrs(self, name: str) -> list[str]:
        return [attrs[name] for _, attrs in self.tags if attrs.get(name) is not None]


@pytest.fixture(scope="module")
def run_copy(tiny_run, tmp_path_factory) -> Path:
    """tiny_run without its weights: the report writes plots/ and report.html into the run folder."""
    copy = tmp_path_factory.mktemp("report") / tiny_run.name
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("model", "trainer"))
    return copy


@pytest.fixture(scope="module")
def report(run_copy) -> Path:
    return write_report(run_copy, images=run_images(run_copy))


def test_highlight_marks_the_words_chair_reads_as_hallucinated_objects():
    caption = "Two Dogs <sit> beside a hot dog & a toilet seat. People watch a cat."
    html = highlight_objects(caption, ["dog", "cat"])
    assert html == ('Two <mark class="hallucinated" title="dog">Dogs</mark> &lt;sit&gt; beside a '
                    '<mark class="object" title="hot dog">hot dog</mark> &amp; a '
                    '<mark class="object" title="toilet">toilet seat</mark>. '
                    '<mark class="object" title="person">People</mark> watch a '
                    '<mark class="hallucinated" title="cat">cat</mark>.')
    assert highlight_objects("Nothing to see.", ["dog"]) == "Nothing to see."


def test_pope_mistakes_lists_every_wrong_answer_with_its_split(tmp_path):
    records = [{"doc_id": 1, "doc_index": 0, "question": "Is there a dog in the image?", "answer": "no",
                "category": "random", "prediction": "Yes", "correct": False},
               {"doc_id": 2, "doc_index": 1, "question": "Is there a cat in the image?", "answer": "yes",
                "category": "adversarial", "prediction": "Yes", "correct": True},
               {"doc_id": 3, "doc_index": 2, "question": "Is there a <b> in the image?", "answer": "yes",
                "category": "adversarial", "prediction": "No", "correct": False}]
    (tmp_path / "pope").mkdir()
    (tmp_path / "pope" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    html = pope_mistakes(IterationData(1, tmp_path, {"pope": {"samples": "pope/samples.jsonl"}}))
    assert "iteration 1: 2 mistakes of 3 (adversarial 1, random 1)" in html
    rows = [tag for tag in _Page(html).tags if tag[0] == "tr"]
    assert len(rows) == 1 + 2  # heading + the two mistakes
    assert "Is there a dog in the image?" in html and "Is there a &lt;b&gt; in the image?" in html
    assert "cat" not in html


@pytest.mark.parametrize("folder", ["pairs", "csr"])
def test_pairs_are_read_from_pairs_and_from_an_old_runs_csr(tmp_path, folder):
    """The shared driver writes iter_<k>/pairs/ (preferences.jsonl + the method's summary.json); runs
    written before have iter_<k>/csr/: the report's pairs and the reward plot read either."""
    from PIL import Image

    from csr_bench.reporting.report.plots import write_plots
    from csr_bench.reporting.report.sample_browser import pairs_section

    run = tmp_path / "run"
    for k in (0, 1, 2):
        (run / f"iter_{k}").mkdir(parents=True)
        (run / f"iter_{k}" / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": {}}))
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "prompt.png")
    pairs = [{"prompt": "Describe the <image>.", "image": str(tmp_path / "prompt.png"), "chosen": "a red square",
              "rejected": "a dog", "chosen_reward": 0.75, "rejected_reward": 0.25},
             {"prompt": "What is it?", "image": str(tmp_path / "gone.png"), "chosen": "red", "rejected": "blue",
              "chosen_reward": 0.5, "rejected_reward": 0.125}]
    for k in (1, 2):
        (run / f"iter_{k}" / folder).mkdir()
        (run / f"iter_{k}" / folder / "preferences.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
        (run / f"iter_{k}" / folder / "summary.json").write_text(json.dumps(
            {"pairs": 2, "calibration": "paper", "mean_chosen_reward": 0.625, "mean_rejected_reward": 0.1875}))
    loaded = load_run(run)
    assert [item.preferences() for item in loaded.iterations] == [[], pairs, pairs]
    assert [(item.summary or {}).get("pairs") for item in loaded.iterations] == [None, 2, 2]

    html = pairs_section(loaded, max_samples=50)
    assert html.count("of 2 pairs — paper calibration: higher reward is better") == 2
    assert "Describe the &lt;image&gt;." in html and "chosen, reward 0.750" in html and "rejected, reward 0.125" in html
    page = _Page(html)
    assert len(page.attrs("src")) == 2  # the one prompt image that exists, in both iterations
    assert html.count(f"image not found: {tmp_path / 'gone.png'}") == 2
    assert [path.name for path in write_plots(loaded, tmp_path / "plots")] == ["rewards.png", "rewards.svg"]



def test_pairs_from_a_released_set_show_their_source_skipped_rows_and_relative_images(tmp_path):
    """A method training on a released set (dpo, povid) has no rewards: the browser says where the
    pairs came from and which rows were skipped, and finds relative images under summary's images_root."""
    from PIL import Image

    from csr_bench.reporting.report.sample_browser import pairs_section

    run = tmp_path / "run"
    for k in (0, 1):
        (run / f"iter_{k}").mkdir(parents=True)
        (run / f"iter_{k}" / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": {}}))
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(tmp_path / "images" / "a.png")
    pairs = [{"prompt": "Describe it.", "image": "a.png", "chosen": "a green square", "rejected": "a dog"}]
    folder = run / "iter_1" / "pairs"
    folder.mkdir()
    (folder / "preferences.jsonl").write_text(json.dumps(pairs[0]) + "\n")
    (folder / "summary.json").write_text(json.dumps(
        {"method": "dpo", "pairs": 1, "source": "world:rlhf-v", "schema": "world", "rows": 4,
         "skipped": {"response already correct": 2, "image not found": 1}, "images_root": str(tmp_path / "images")}))
    html = pairs_section(load_run(run), max_samples=5)
    assert ("1 of 1 dpo pairs — from world:rlhf-v (world schema); 3 rows skipped: response already correct (2), "
            "image not found (1)") in html
    assert '<div class="reward">chosen</div>' in html and "reward –" not in html
    assert len(_Page(html).attrs("src")) == 1  # a.png found under images_root

def test_a_report_without_an_image_source_says_so(tmp_path):
    """Reporting reads files only: the documents' images come from the command (run_images)."""
    from csr_bench.reporting.report.sample_browser import task_section

    (tmp_path / "iter_0" / "pope").mkdir(parents=True)
    record = {"doc_id": 1, "doc_index": 0, "question": "Is there a dog?", "answer": "no", "prediction": "No",
              "correct": True, "category": "random"}
    (tmp_path / "iter_0" / "pope" / "samples.jsonl").write_text(json.dumps(record) + "\n")
    (tmp_path / "iter_0" / "results.json").write_text(json.dumps({"run": {"iteration": 0}, "results": {
        "pope": {"metrics": {}, "data_source": "hub:lmms-lab/POPE[test]", "samples": "pope/samples.jsonl"}}}))
    run = load_run(tmp_path)
    html = task_section(run, "pope", None, max_samples=5)
    assert "samples: 1 of 1 documents (images not shown: the report was made without the tasks&#x27; data)" in html
    assert "src=" not in html
    html = task_section(run, "pope", run_images(tmp_path), max_samples=5)
    assert "images not shown: the task read hub:lmms-lab/POPE[test], not local files" in html


def test_data_root_of_a_recorded_data_source():
    assert data_root_of("local:/data/world/pope", "pope") == Path("/data/world")
    assert data_root_of("local:/data/world/gqa/questions.jsonl", "gqa/questions") == Path("/data/world")
    assert data_root_of("bundled:pope/pope.jsonl", "pope") == "bundled"
    assert data_root_of("hub:lmms-lab/POPE[test]", "pope") is None
    assert data_root_of("local:/elsewhere/other", "pope") is None


def test_report_of_a_tiny_run_is_one_self_contained_page(report, run_copy):
    assert report == run_copy / "report.html"
    text = report.read_text(encoding="utf-8")
    page = _Page(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    assert "http://" not in text and "https://" not in text and "url(" not in text
    sources = page.attrs("src")
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert all(href.startswith("#") for href in page.attrs("href"))
    ids = set(page.attrs("id"))
    assert {"tables", "plots", "samples", "pairs"} <= ids and {f"task-{t}" for t in TASKS} <= ids
    assert len(page.attrs("src")) > len(TASKS)  # the plots, and images beside the samples and pairs
    assert "images not shown" not in text and "image not found" not in text
    assert 'class="hallucinated"' in text


def test_the_runs_own_report_shows_the_documents_images(tiny_run):
    """`csr-bench run` gives the report it writes the tasks' images (evaluation.document_images)."""
    text = (tiny_run / "report.html").read_text(encoding="utf-8")
    assert "images not shown" not in text
    assert text.count('<img class="thumb" src="data:image/png;base64,') > len(TASKS)


def test_report_matches_the_run(report, run_copy):
    run = load_run(run_copy)
    page = _Page(report.read_text(encoding="utf-8"))
    iterations = [i.iteration for i in run.iterations]
    pope = [a for tag, a in page.tags if tag == "details" and "pope-mistakes" in a.get("class", "")]
    assert [int(a["data-iteration"]) for a in pope] == iterations
    pairs = [int(a["data-iteration"]) for tag, a in page.tags if tag == "details" and a.get("class") == "pairs"]
    assert pairs == [i.iteration for i in run.iterations if i.preferences()]
    text = report.read_text(encoding="utf-8")
    for item in run.iterations:
        wrong = sum(not r["correct"] for r in item.samples("pope"))
        assert f"iteration {item.iteration}: {wrong} mistakes of {len(item.samples('pope'))}" in text
    assert "reference calibration: the reward is a rank score, lower is better" in text


def test_max_samples_and_missing_images_do_not_break_the_page(run_copy, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_copy, run)
    (run / "report.html").unlink(missing_ok=True)
    results = run / "iter_0" / "results.json"
    data = json.loads(results.read_text())
    data["results"]["pope"]["data_source"] = f"local:{tmp_path / 'moved' / 'pope'}"
    results.write_text(json.dumps(data))
    prefs = run / "iter_1" / "pairs" / "preferences.jsonl"
    pairs = [json.loads(line) for line in prefs.read_text().splitlines()]
    pairs[0]["image"] = str(tmp_path / "gone.png")
    prefs.write_text("".join(json.dumps(p) + "\n" for p in pairs))

    text = write_report(run, output=tmp_path / "small.html", max_samples=2,
                        images=run_images(run)).read_text(encoding="utf-8")
    assert "images not shown" in text and f"image not found: {tmp_path / 'gone.png'}" in text
    assert text.count('class="sample"') == 2 * len(TASKS)
    assert "samples: 2 of " in text and "2 of 4 csr pairs" in text
    assert not (run / "report.html").exists()


def test_reporting_does_not_import_torch(run_copy, tmp_path):
    code = ("import sys; from csr_bench.reporting.report.page import write_report; "
            "from csr_bench.evaluation.document_images import run_images; "
            f"write_report({str(run_copy)!r}, output={str(tmp_path / 'r.html')!r}, images=run_images({str(run_copy)!r})); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def _require_browser() -> None:
    """Skip without Debian's chromium/chromedriver, unless CI said it installed them."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    if missing:
        reason = f"headless-browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CSR_BENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CSR_BENCH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """Headless Chromium through the Debian chromedriver; Selenium Manager (which downloads drivers) may not run."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_download(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a driver")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_download)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def test_report_in_headless_chromium(browser, report, run_copy, tmp_path):
    run = load_run(run_copy)
    browser.get(report.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert run.name in browser.title and run.model in browser.find_element("tag name", "header").text

    # The iteration table: a table whose rows are the run's iterations, one each.
    first_cells = browser.execute_script(
        "return [...document.querySelectorAll('#tables table')].map("
        "t => [...t.querySelectorAll('tbody tr')].map(r => r.cells[0].textContent.trim()));")
    assert [str(i.iteration) for i in run.iterations] in first_cells
    assert all(browser.execute_script(f"return !!document.getElementById('task-{t}');") for t in TASKS)

    images = browser.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.closest('main > section').id]);")
    assert images and all(complete and width > 0 for complete, width, _ in images)
    assert {"plots", "samples", "pairs"} <= {section for *_, section in images}
    assert browser.execute_script("return document.querySelectorAll('#task-chair mark.hallucinated').length;") > 0
    assert browser.execute_script("return document.querySelectorAll('details.pope-mistakes').length;") == \
        len(run.iterations)

    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true);")
    highlight = browser.find_element("css selector", "#task-chair mark.hallucinated")
    assert highlight.is_displayed() and highlight.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _css_rule(selector: str) -> dict[str, str]:
    """The declarations of ``selector``'s rule in the report's stylesheet."""
    import re

    from csr_bench.reporting.report.page import STYLE

    [body] = re.findall(rf"(?m)^{re.escape(selector)} {{([^}}]*)}}", STYLE)
    return {k.strip(): v.strip() for k, v in (d.split(":", 1) for d in body.split(";") if d.strip())}


def test_thumbnail_keeps_its_aspect_ratio_in_the_flex_row():
    """A .thumb sits in a flex row (.sample) whose height its answers set: it must not stretch to it
    (align-self), and were it ever boxed, its content scales inside the box (object-fit)."""
    rule = _css_rule(".thumb")
    assert rule["height"] == "auto" and rule["align-self"] == "flex-start" and rule["object-fit"] == "contain"
    assert rule["flex"] == "none"


def test_thumbnails_keep_their_aspect_ratio_in_chromium(browser, report, tmp_path):
    """Rendered, every thumbnail's width / height is its image's natural one: the report's square
    world images, and a 2:1 image beside a tall answer, as in a real sample row."""
    import base64
    import io

    from PIL import Image

    from csr_bench.reporting.report.page import STYLE

    ratios = "return [...document.querySelectorAll('img.thumb')].map(i => [i.clientWidth / i.clientHeight, " \
             "i.naturalWidth / i.naturalHeight]);"
    browser.get(report.as_uri())
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true);")
    shown = browser.execute_script(ratios)
    assert shown and all(rendered == pytest.approx(natural, rel=0.02) for rendered, natural in shown)

    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), (200, 40, 40)).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    answer = "<br>".join(f"a long answer, line {i}" for i in range(30))
    page = tmp_path / "wide.html"
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>'
                    f'<div class="sample"><img class="thumb" src="{uri}" alt=""><div class="body">{answer}</div>'
                    "</div></body></html>", encoding="utf-8")
    browser.get(page.as_uri())
    [(rendered, natural)] = browser.execute_script(ratios)
    assert natural == 2.0 and rendered == pytest.approx(2.0, rel=0.02)  # 128 x 64, not 128 x the row's height
