#!/usr/bin/env python3
"""Drives the dashboard of `dfstore serve` in a real Chromium and checks it.

    python3 dashboard.py --url http://127.0.0.1:PORT --expect FILE --screenshot PATH
                         [--chromium PATH] [--timeout SECONDS]

FILE holds the KPIs the lake should show, computed independently (the Rust
test computes them with SQL over the lake):

    {"default":  {"month": "2024-12", "kpis": {"venta_neta": "123.45", ...}},
     "filtered": {"region": "NORTE", "month": "2024-12", "kpis": {...}}}

Money values are strings compared exactly with the page's `data-value`
attributes (which carry the API's strings); counts may be integers or
strings; null means "no value" (an empty `data-value`).

Prints one line per check, `ok ...` or `FAIL ...`, and exits 0 when every
check passed, 1 when one failed, 2 when it could not run (bad arguments, no
Chromium, no Playwright). The page signals that it has finished rendering
with `body[data-ready="N"]` (a counter), so nothing here sleeps.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

KPIS = ("venta_neta", "margen_bruto", "tickets", "ticket_promedio", "unidades")
CHARTS = ("trend", "stores", "region", "format", "rejected")
# A month no report holds: the page must show the API's error for it.
UNKNOWN_MONTH = "1900-01"
# What ENVIRONMENT.md found Debian's Chromium needs to run headless as root
# here; Playwright adds --headless, --no-sandbox and its own user-data-dir.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Reads one chart container: its first canvas or svg, size and whether
# anything was painted on it (non-transparent pixels, or svg shapes).
CHART_PROBE = """(id) => {
  const box = document.getElementById(id);
  if (!box) return {error: 'no element #' + id};
  const surface = box.querySelector('canvas, svg');
  if (!surface) return {error: 'no canvas or svg inside #' + id};
  const rect = surface.getBoundingClientRect();
  let painted = 0;
  if (surface.tagName === 'CANVAS') {
    if (surface.width > 0 && surface.height > 0) {
      const pixels = surface.getContext('2d').getImageData(0, 0, surface.width, surface.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted += 1;
    }
  } else {
    painted = surface.querySelectorAll('path, text, rect, circle').length;
  }
  return {kind: surface.tagName.toLowerCase(), width: rect.width, height: rect.height, painted};
}"""

KPI_PROBE = """(names) => Object.fromEntries(names.map((name) => {
  const card = document.getElementById('kpi-' + name);
  return [name, card ? card.getAttribute('data-value') : null];
}))"""


class Report:
    """Prints each check as it is made and remembers whether any failed."""

    def __init__(self):
        self.failures = 0

    def check(self, passed, what, detail=""):
        if passed:
            print(f"ok {what}", flush=True)
        else:
            self.failures += 1
            detail = " ".join(str(detail).split())  # one line per check, whatever the page shows
            if len(detail) > 400:
                detail = detail[:400] + "…"
            print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
        return passed


def expected_string(value):
    """The `data-value` an expected KPI must equal, or raises ValueError."""
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{value!r} is not exact: write money as a string, counts as integers")
    if isinstance(value, (int, str)):
        return str(value)
    raise ValueError(f"{value!r} is neither a string, an integer nor null")


def load_expectation(path):
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    for section in ("default", "filtered"):
        if section not in doc or "kpis" not in doc[section]:
            raise ValueError(f"missing {section}.kpis")
        missing = [name for name in KPIS if name not in doc[section]["kpis"]]
        if missing:
            raise ValueError(f"{section}.kpis lacks {', '.join(missing)}")
        doc[section]["kpis"] = {name: expected_string(doc[section]["kpis"][name]) for name in KPIS}
    if not doc["filtered"].get("region"):
        raise ValueError("missing filtered.region")
    return doc


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, metavar="URL",
                        help="the dashboard, e.g. http://127.0.0.1:8080 (required)")
    parser.add_argument("--expect", required=True, metavar="FILE",
                        help="JSON file with the expected KPIs (required; format in this file's docstring)")
    parser.add_argument("--screenshot", required=True, metavar="PATH",
                        help="where to write a full-page PNG of the filtered view (required)")
    parser.add_argument("--chromium", metavar="PATH",
                        help="the Chromium executable (default: `chromium` on PATH, Debian's package)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the page to be ready each time (default: 30)")
    return parser.parse_args()


class Dashboard:
    """The page under test, with the waits and reads the checks need."""

    def __init__(self, page, base_url, timeout_ms, report):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.timeout_ms = timeout_ms
        self.report = report

    def wait_ready(self, count):
        self.page.wait_for_selector(f'body[data-ready="{count}"]', state="attached", timeout=self.timeout_ms)

    def ready_count(self):
        return int(self.page.evaluate("() => document.body.dataset.ready || '0'"))

    def error_text(self):
        return self.page.evaluate(
            "() => { const e = document.getElementById('error'); return e && !e.hidden ? e.textContent : ''; }")

    def check_no_error(self, when):
        text = self.error_text()
        self.report.check(text == "", f"no error shown {when}", text)

    def check_kpis(self, expected, when):
        actual = self.page.evaluate(KPI_PROBE, list(KPIS))
        for name in KPIS:
            self.report.check(actual[name] == expected[name], f"#kpi-{name} {when} = {expected[name]!r}",
                              f"the page shows data-value={actual[name]!r}")

    def check_charts(self, when):
        for name in CHARTS:
            probe = self.page.evaluate(CHART_PROBE, f"chart-{name}")
            what = f"#chart-{name} rendered {when}"
            if "error" in probe:
                self.report.check(False, what, probe["error"])
                continue
            size = f"{probe['kind']} {probe['width']:.0f}x{probe['height']:.0f}, {probe['painted']} painted"
            passed = probe["width"] > 0 and probe["height"] > 0 and probe["painted"] > 0
            self.report.check(passed, f"{what} ({size})" if passed else what, size)

    def select(self, name, value):
        """Changes one filter and waits for the page to finish re-rendering."""
        selector = f"#filter-{name}"
        options = self.page.eval_on_selector(selector, "(s) => [...s.options].map((o) => o.value)")
        if not self.report.check(value in options, f"{selector} offers {value!r}", f"it offers {options}"):
            return False
        before = self.ready_count()
        self.page.select_option(selector, value=value, timeout=self.timeout_ms)
        self.wait_ready(before + 1)
        self.report.check(self.page.input_value(selector) == value, f"{selector} shows {value!r}")
        return True

    def query(self):
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.page.url).query).items()}


def run_checks(page, args, expect, report, screenshot_taken):
    timeout_ms = int(args.timeout * 1000)
    dash = Dashboard(page, args.url, timeout_ms, report)
    default, filtered = expect["default"], expect["filtered"]

    # 1. The default view.
    page.goto(dash.base_url + "/", timeout=timeout_ms)
    dash.wait_ready(1)
    report.check(True, "page ready (data-ready=1)")
    dash.check_no_error("on the default view")
    month = page.input_value("#filter-month")
    report.check(month == default["month"], f"#filter-month defaults to {default['month']!r}", f"it shows {month!r}")
    dash.check_kpis(default["kpis"], f"for {default['month']}")
    dash.check_charts("on the default view")
    run_id = page.get_attribute("#lineage", "data-run-id") or ""
    if "run_id" in expect:
        report.check(run_id == expect["run_id"], f"#lineage data-run-id = {expect['run_id']!r}", f"it is {run_id!r}")
    else:
        report.check(run_id != "", "#lineage names the run it shows", "data-run-id is empty")
    runs = page.locator("#quality #reconciliation-table tbody tr").count()
    report.check(runs > 0, f"#quality lists runs ({runs})", "its reconciliation table is empty")

    # 2. The same page, filtered by region (and month, when the expectation names another one).
    target_month = filtered.get("month") or default["month"]
    if target_month != month and not dash.select("month", target_month):
        return
    if not dash.select("region", filtered["region"]):
        return
    dash.check_no_error(f"with region {filtered['region']!r}")
    dash.check_kpis(filtered["kpis"], f"for {target_month}, region {filtered['region']}")
    dash.check_charts(f"with region {filtered['region']!r}")
    query = dash.query()
    report.check(query.get("region") == filtered["region"], f"URL carries region={filtered['region']}",
                 f"the URL is {page.url}")

    # 3. A reload keeps the filters.
    page.reload(timeout=timeout_ms)
    dash.wait_ready(1)
    region = page.input_value("#filter-region")
    report.check(region == filtered["region"], "reload keeps the region filter", f"#filter-region shows {region!r}")
    dash.check_kpis(filtered["kpis"], "after reload")
    page.screenshot(path=args.screenshot, full_page=True)
    screenshot_taken.append(True)
    report.check(True, f"screenshot saved to {args.screenshot}")

    # 4. A month the lake does not hold: the API's error is shown, and the page still says it is ready.
    page.goto(f"{dash.base_url}/?month={UNKNOWN_MONTH}", timeout=timeout_ms)
    dash.wait_ready(1)
    text = dash.error_text()
    report.check(UNKNOWN_MONTH in text, f"unknown month {UNKNOWN_MONTH} shows the API's error in #error",
                 f"#error shows {text!r}")


def main():
    args = parse_args()
    try:
        expect = load_expectation(args.expect)
    except (OSError, ValueError) as error:
        print(f"dashboard.py: error: --expect {args.expect}: {error}", file=sys.stderr)
        return 2
    chromium = args.chromium or shutil.which("chromium")
    if not chromium:
        print("dashboard.py: error: no `chromium` on PATH; install Debian's (apt-get install chromium) "
              "or pass --chromium PATH", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(f"dashboard.py: error: Playwright is not installed for {sys.executable}; "
              "pip install playwright (see jobs/tests/browser/README.md)", file=sys.stderr)
        return 2

    report = Report()
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(args.url))
    outside = []  # requests that tried to leave the server: the page must work offline
    page_errors = []
    console_errors = []
    screenshot_taken = []

    def keep_on_server(route):
        url = route.request.url
        if url.startswith(origin + "/"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                                 timeout=int(args.timeout * 1000))
        except PlaywrightError as error:
            print(f"FAIL launch {chromium}: {error.message.splitlines()[0]}", flush=True)
            return 2
        print(f"ok launched {chromium} (Chromium {browser.version})", flush=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="es-PE",
                                      timezone_id="America/Lima")
        page = context.new_page()
        page.route("**/*", keep_on_server)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("console", lambda message: console_errors.append(message.text)
                if message.type == "error" else None)
        try:
            run_checks(page, args, expect, report, screenshot_taken)
        except PlaywrightError as error:
            report.check(False, "the page answered in time", error.message.splitlines()[0])
            # Locator reads, unlike evaluate, give up when the page never loaded.
            try:
                ready = page.locator("body").get_attribute("data-ready", timeout=2000)
                shown = page.locator("#error").text_content(timeout=2000)
                print(f"   when it stopped: data-ready={ready!r}, #error={shown!r}, "
                      f"console errors={console_errors}", flush=True)
            except PlaywrightError:
                print(f"   when it stopped: the page had not loaded; console errors={console_errors}", flush=True)
        finally:
            if not screenshot_taken:
                try:
                    page.screenshot(path=args.screenshot, full_page=True, timeout=10000)
                    print(f"ok screenshot of the failing state saved to {args.screenshot}", flush=True)
                except PlaywrightError as error:
                    report.check(False, "screenshot", error.message.splitlines()[0])
            browser.close()

    report.check(not page_errors, "no uncaught JavaScript error", "; ".join(page_errors))
    report.check(not outside, f"no request left {origin}", ", ".join(outside))
    print(f"{'FAIL' if report.failures else 'ok'} dashboard: {report.failures} check(s) failed", flush=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
