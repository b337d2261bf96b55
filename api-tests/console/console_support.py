"""What the console's browser flows share: the settings from the Rust launcher,
bookkeeping of checks, one browser session per screen size, axe-core, helpers."""

import json
import os
import re
import sys
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import expect


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        sys.exit(f"console_test.py: the environment variable {name} is required")
    return value


CONSOLE_URL = env("CONSOLE_URL")
ORIGIN = "{0.scheme}://{0.netloc}".format(urlparse(CONSOLE_URL))
ADMIN_KEY = env("ADMIN_KEY")
READ_KEY = env("READ_KEY")
EMPTY_ADMIN_KEY = env("EMPTY_ADMIN_KEY")
TENANT = env("TENANT")
VAULT_ADDR = env("VAULT_ADDR")
SILENT_VAULT_ADDR = env("SILENT_VAULT_ADDR")
JWT_PATH = env("JWT_PATH")
JWT_DIR = env("JWT_DIR")
EC2_PROFILE = env("EC2_PROFILE")
LEASE_PROFILE = env("LEASE_PROFILE")
EC2_INSTANCE_ID = env("EC2_INSTANCE_ID", "i-0123456789abcdef0")
SHOTS = Path(env("SCREENSHOT_DIR"))
CHROMIUM = env("CHROMIUM_BIN", "/usr/bin/chromium")
AXE_SOURCE = Path(env("AXE_JS")).read_text(encoding="utf-8")

JWT_NAME = "console-jwt"
DRAFT_NAME = "console-draft"
SECRET_PATH = "secret/data/app/db"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# A test connection runs a real agent login (the launcher bounds it at 10 s).
REPORT_TIMEOUT_MS = 30_000
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

SHOTS.mkdir(parents=True, exist_ok=True)
expect.set_options(timeout=15_000)


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.names = {}
        self.axe = []  # (screen, violations, passes)

    def record(self, name, outcome, detail=""):
        self.names[name] = outcome
        if outcome == "passed":
            self.passed += 1
        elif outcome == "failed":
            self.failed += 1
        else:
            self.skipped += 1
        line = f"  {outcome:<7} {name}"
        if detail:
            line += "\n" + "\n".join("          " + d for d in detail.rstrip().splitlines())
        print(line, flush=True)

    def ok(self, name):
        return self.names.get(name) == "passed"


RESULTS = Results()
SHOT_COUNTER = [0]


class Session:
    """One browser context and page, with everything it sent and complained about."""

    def __init__(self, browser, label, viewport, keyboard=False):
        self.label = label
        self.keyboard = keyboard  # act with the keyboard instead of the mouse
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ORIGIN)
        self.page = self.context.new_page()
        self.requests = []  # (method, url)
        self.problems = []  # console errors, page errors, native dialogs
        self.context.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", self._on_dialog)

    def _on_console(self, msg):
        # The browser's own line for an API answer of 4xx (a validation verdict, a 404 the page
        # explains) is not a script error; 5xx answers and everything else count.
        if msg.type == "error" and re.match(r"Failed to load resource: the server responded with a status of 4\d\d", msg.text):
            return
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _on_dialog(self, dialog):
        # Every confirmation is an in-page <dialog>; a native one is a failure.
        self.problems.append(f"unexpected native {dialog.type} dialog: {dialog.message}")
        dialog.dismiss()

    def press(self, locator):
        """Activate a button, link or summary: a click, or focus and Enter on the keyboard run."""
        if self.keyboard:
            # What a click waits for: shown and usable (a disabled button takes no focus).
            expect(locator).to_be_visible()
            if locator.evaluate("(e) => 'disabled' in e"):
                expect(locator).to_be_enabled()
            locator.focus()
            expect(locator).to_be_focused()
            self.page.keyboard.press("Enter")
        else:
            locator.click()

    def choose(self, locator):
        """Choose a radio button: a click, or focus and Space on the keyboard run."""
        if self.keyboard:
            expect(locator).to_be_enabled()
            locator.focus()
            expect(locator).to_be_focused()
            self.page.keyboard.press("Space")
        else:
            locator.check()
        expect(locator).to_be_checked()

    def shot(self, slug, copy_as=None, full_page=False):
        SHOT_COUNTER[0] += 1
        path = SHOTS / f"{SHOT_COUNTER[0]:02d}-{self.label}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if copy_as:
            self.page.screenshot(path=str(SHOTS / copy_as), full_page=full_page)
        return path

    def sent(self, method, path_re):
        return [u for (m, u) in self.requests if m == method and re.search(path_re, urlparse(u).path)]

    def axe(self, screen):
        """axe-core on what is shown now: 0 violations at WCAG 2.1 AA, or the check fails;
        and nothing may scroll sideways, at either screen size."""
        page = self.page
        no_horizontal_overflow(page)
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(AXE_SOURCE)
        result = page.evaluate(
            """async (tags) => {
                const r = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
                return { passes: r.passes.length, violations: r.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").split("\\n").join(" ")) })) };
            }""",
            AXE_TAGS,
        )
        name = f"{self.label} {screen}"
        RESULTS.axe.append((name, len(result["violations"]), result["passes"]))
        assert not result["violations"], f"axe on {name}: " + json.dumps(result["violations"], indent=1)


def run_step(session, name, fn, needs=()):
    """Run one check; a check whose prerequisite did not pass is skipped."""
    missing = [n for n in needs if not RESULTS.ok(n)]
    if missing:
        RESULTS.record(name, "skipped", f"needs: {', '.join(missing)}")
        return False
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the run goes on
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        try:
            path = session.shot("FAILED-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60])
            detail += f"\nscreenshot: {path}"
        except Exception:  # noqa: BLE001
            pass
        RESULTS.record(name, "failed", detail)
        return False
    RESULTS.record(name, "passed")
    return True


# ------------------------------------------------------------------ helpers


def button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def nav(page, name):
    return page.get_by_role("navigation", name="Console").get_by_role("link", name=name, exact=True)


def dialog(page):
    return page.locator("#confirm-dialog")


def dialog_button(page, name):
    return dialog(page).get_by_role("button", name=name, exact=True)


def sign_in(s, key, expect_profile=EC2_PROFILE, keyboard=False):
    page = s.page
    expect(page.locator("#signin-section")).to_be_visible()
    field = page.get_by_label("API key", exact=True)
    field.fill(key)
    if keyboard:
        field.press("Enter")
    else:
        s.press(button(page, "Sign in"))
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator("#session-who")).to_contain_text("Tenant")
    if expect_profile:
        expect(button(page, expect_profile)).to_be_visible()


def open_profile(s, name):
    page = s.page
    if page.locator("#page-profiles").is_hidden():
        s.press(nav(page, "Profiles"))
    s.press(button(page, name))
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#editor-title")).to_contain_text(name)
    expect(page.get_by_label("Profile name", exact=True)).to_have_value(name)


def open_details(s, locator):
    """Open a <details> (activating its summary would close one already open)."""
    if not locator.evaluate("(d) => d.open"):
        s.press(locator.locator("> summary"))
    assert locator.evaluate("(d) => d.open")


def storage_dump(page):
    return page.evaluate(
        """() => {
            const items = [];
            for (const [kind, store] of [["sessionStorage", window.sessionStorage], ["localStorage", window.localStorage]]) {
                for (let i = 0; i < store.length; i += 1) {
                    const k = store.key(i);
                    items.push([kind, k, store.getItem(k)]);
                }
            }
            return { items, cookie: document.cookie, url: location.href };
        }"""
    )


def assert_no_key_in(where, text, keys=None):
    for label, key in keys or (("admin", ADMIN_KEY), ("read", READ_KEY), ("empty tenant's admin", EMPTY_ADMIN_KEY)):
        assert key not in text, f"the {label} key is in {where}"


def no_horizontal_overflow(page):
    sizes = page.evaluate(
        "() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })"
    )
    assert sizes["scroll"] <= sizes["inner"], f"horizontal overflow: {sizes}"


def unload_is_guarded(page):
    """Whether the page asks before a reload or closing the tab (its beforeunload handler)."""
    return page.evaluate(
        "() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; }"
    )


def rest_read(url, key):
    """A REST read as a connector does it: (status, parsed body or text)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
