#!/usr/bin/env python3
"""The admin console in a real browser.

Headless Chromium (Debian's package, never a Playwright download) driven by
Playwright's sync API against a running auth-service. The Rust launcher
(api-tests/tests/console/main.rs) sets up the service, OpenBao, a tenant and an
ec2 profile, then runs this script with:

  CONSOLE_URL     http://127.0.0.1:PORT/console
  ADMIN_KEY       the tenant's admin key
  READ_KEY        the tenant's read key
  TENANT          the tenant id
  VAULT_ADDR      the real OpenBao (jwt auth at auth/jwt, role "app", secret/data/app/db readable)
  JWT_PATH        a JWT file the tenant may use
  EC2_PROFILE     an existing ec2 profile
  SCREENSHOT_DIR  where the numbered screenshots go
  EC2_INSTANCE_ID (optional) the instance id the IMDS stand-in reports
  CHROMIUM_BIN    (optional) default /usr/bin/chromium

Prints one line per check and `console: N passed, N failed[, N skipped]`;
exits non-zero on any failure.
"""

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import expect, sync_playwright


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        sys.exit(f"console_test.py: the environment variable {name} is required")
    return value


CONSOLE_URL = env("CONSOLE_URL")
ADMIN_KEY = env("ADMIN_KEY")
READ_KEY = env("READ_KEY")
TENANT = env("TENANT")
VAULT_ADDR = env("VAULT_ADDR")
JWT_PATH = env("JWT_PATH")
EC2_PROFILE = env("EC2_PROFILE")
EC2_INSTANCE_ID = env("EC2_INSTANCE_ID", "i-0123456789abcdef0")
SHOTS = Path(env("SCREENSHOT_DIR"))
CHROMIUM = env("CHROMIUM_BIN", "/usr/bin/chromium")

JWT_NAME = "console-jwt"
DRAFT_NAME = "console-draft"
SECRET_PATH = "secret/data/app/db"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# A test connection runs a real agent login (the service bounds it at 30 s).
REPORT_TIMEOUT_MS = 45_000

SHOTS.mkdir(parents=True, exist_ok=True)
expect.set_options(timeout=15_000)


def method_block(role):
    return json.dumps(
        {"type": "jwt", "mount_path": "auth/jwt", "config": {"path": JWT_PATH, "role": role}},
        indent=2,
    )


# ------------------------------------------------------------------ bookkeeping


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.names = {}

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

    def __init__(self, browser, label, viewport):
        self.label = label
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        self.page = self.context.new_page()
        self.requests = []  # (method, url)
        self.problems = []  # console errors and page errors
        self.dialogs = []  # texts of the confirmations the page asked
        self.first_response = None
        self.context.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _on_console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def shot(self, slug, copy_as=None):
        SHOT_COUNTER[0] += 1
        path = SHOTS / f"{SHOT_COUNTER[0]:02d}-{self.label}-{slug}.png"
        self.page.screenshot(path=str(path))
        if copy_as:
            self.page.screenshot(path=str(SHOTS / copy_as))
        return path

    def on_next_dialog(self, accept):
        def handle(dialog):
            self.dialogs.append(dialog.message)
            if dialog.type != "confirm":
                self.problems.append(f"unexpected {dialog.type} dialog: {dialog.message}")
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        self.page.once("dialog", handle)

    def sent(self, method, path_re):
        return [u for (m, u) in self.requests if m == method and re.search(path_re, urlparse(u).path)]


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
            path = session.shot("FAILED-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
            detail += f"\nscreenshot: {path}"
        except Exception:  # noqa: BLE001
            pass
        RESULTS.record(name, "failed", detail)
        return False
    RESULTS.record(name, "passed")
    return True


# ------------------------------------------------------------------ actions


def button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def sign_in(s, key):
    page = s.page
    expect(page.locator("#signin-section")).to_be_visible()
    page.get_by_label("API key", exact=True).fill(key)
    button(page, "Sign in").click()
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator("#session-who")).to_contain_text(TENANT)
    expect(button(page, EC2_PROFILE)).to_be_visible()


def open_profile(s, name):
    page = s.page
    button(page, name).click()
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#editor-title")).to_contain_text(name)
    expect(page.get_by_label("Profile name", exact=True)).to_have_value(name)


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


def assert_no_key_in(where, text):
    for label, key in (("admin", ADMIN_KEY), ("read", READ_KEY)):
        assert key not in text, f"the {label} key is in {where}"


def no_horizontal_overflow(page):
    sizes = page.evaluate(
        "() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })"
    )
    assert sizes["scroll"] <= sizes["inner"], f"horizontal overflow: {sizes}"


# ------------------------------------------------------------------ the desktop flows


def desktop(browser):
    s = Session(browser, "desktop", {"width": 1280, "height": 800})
    page = s.page
    print("desktop (1280x800):", flush=True)

    def open_console():
        resp = page.goto(CONSOLE_URL, wait_until="load")
        assert resp is not None and resp.status == 200, f"GET /console: {resp and resp.status}"
        headers = resp.headers
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, f"CSP header: {csp!r}"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, f"CSP header: {csp!r}"
        assert headers.get("x-frame-options", "").upper() == "DENY", headers.get("x-frame-options")
        assert headers.get("referrer-policy", "") == "no-referrer", headers.get("referrer-policy")
        expect(page.get_by_label("API key", exact=True)).to_be_visible()
        s.shot("sign-in")

    def sign_in_admin():
        sign_in(s, ADMIN_KEY)
        expect(page.locator("#readonly-notice")).to_be_hidden()
        expect(button(page, "New profile")).to_be_enabled()
        dump = storage_dump(page)
        assert_no_key_in("the URL", dump["url"])
        assert_no_key_in("cookies", dump["cookie"])
        local = [i for i in dump["items"] if i[0] == "localStorage"]
        assert_no_key_in("localStorage", json.dumps(local))
        session_values = [i[2] for i in dump["items"] if i[0] == "sessionStorage"]
        assert ADMIN_KEY in session_values, "the key of this tab is kept in sessionStorage"
        s.shot("signed-in")

    def live_validation():
        button(page, "New profile").click()
        expect(page.locator("#editor")).to_be_visible()
        page.get_by_label("Profile name", exact=True).fill(JWT_NAME)
        page.get_by_label("Vault address", exact=True).fill(VAULT_ADDR)
        page.get_by_label("Test secret path", exact=True).fill(SECRET_PATH)
        page.get_by_label("Method block", exact=True).fill(method_block(5))
        errors = page.locator("#method-errors")
        expect(errors).to_contain_text("/config/role")
        expect(errors).to_contain_text(re.compile(r"type|string", re.I))
        expect(page.get_by_label("Method block", exact=True)).to_have_attribute("aria-invalid", "true")
        # Shown before anything was sent to be stored.
        stored = s.sent("POST", r"/profiles$") + s.sent("PUT", r"/profiles/")
        assert not stored, f"a save was sent before Save: {stored}"
        page.locator("#field-method").scroll_into_view_if_needed()
        s.shot("live-validation")

    def save_and_preview():
        page.get_by_label("Method block", exact=True).fill(method_block("app"))
        expect(page.locator("#method-errors")).to_be_empty()
        button(page, "Save").click()
        expect(page.locator("#form-status")).to_contain_text("Created")
        expect(button(page, JWT_NAME)).to_be_visible()
        expect(page.locator("#preview")).to_contain_text('method "jwt"')
        expect(page.locator("#preview")).to_contain_text("auth/jwt")
        assert s.sent("POST", r"/profiles$"), "no create request"
        page.evaluate("() => window.scrollTo(0, 0)")
        s.shot("saved-preview", copy_as="console-profiles.png")

    def test_connection_passes():
        button(page, "Test connection").click()
        outcome = page.locator("#report-outcome")
        expect(outcome).to_contain_text("Passed", timeout=REPORT_TIMEOUT_MS)
        steps = page.locator("#report-steps > li")
        for step in ("agent_login", "verify_token", "read_test_secret"):
            item = steps.filter(has=page.locator("code", has_text=re.compile(f"^{step}$")))
            expect(item).to_have_count(1)
            expect(item.locator(".state")).to_have_text("passed")
        expect(page.locator("#report-steps .step-failed")).to_have_count(0)
        expect(page.locator("#hint")).to_be_hidden()
        page.locator("#report").scroll_into_view_if_needed()
        s.shot("test-passed", copy_as="console-report.png")

    def missing_role_hint():
        page.get_by_label("Method block", exact=True).fill(method_block("no-such-role"))
        expect(page.locator("#method-errors")).to_be_empty()
        button(page, "Save").click()
        expect(page.locator("#form-status")).to_contain_text("revision 2")
        button(page, "Test connection").click()
        expect(page.locator("#report-outcome")).to_contain_text("Failed", timeout=REPORT_TIMEOUT_MS)
        hint = page.locator("#hint")
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("no-such-role")
        expect(hint).to_contain_text("does not exist")
        page.locator("#report").scroll_into_view_if_needed()
        s.shot("test-missing-role")

    def secret_cache_field():
        field = page.get_by_label("Secret cache", exact=True)
        field.fill("soon")
        button(page, "Save").click()
        expect(page.locator("#secret_cache_ttl-errors")).to_contain_text("not a duration")
        field.fill("30s")
        button(page, "Save").click()
        expect(page.locator("#form-status")).to_contain_text("revision 3")
        open_profile(s, JWT_NAME)
        expect(page.get_by_label("Secret cache", exact=True)).to_have_value("30s")

    def ec2_panel():
        open_profile(s, EC2_PROFILE)
        panel = page.locator("#nonce-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#nonce-instance-id")).to_have_text(EC2_INSTANCE_ID)
        expect(page.locator("#nonce-exists")).to_contain_text("no")
        expect(page.locator("#nonce-reset-count")).to_have_text("0")
        expect(page.locator("#nonce-command")).to_contain_text(f"identity-accesslist/{EC2_INSTANCE_ID}")
        panel.scroll_into_view_if_needed()
        s.shot("ec2-panel")

    def ec2_reset():
        before = len(s.sent("POST", r"/ec2-nonce/reset$"))
        # Cancelled: nothing is sent.
        s.on_next_dialog(accept=False)
        button(page, "Reset nonce").click()
        page.wait_for_timeout(300)
        assert len(s.dialogs) == 1, "a confirmation was asked"
        assert f"identity-accesslist/{EC2_INSTANCE_ID}" in s.dialogs[-1], s.dialogs[-1]
        assert len(s.sent("POST", r"/ec2-nonce/reset$")) == before, "a cancelled reset was sent"
        expect(page.locator("#nonce-reset-count")).to_have_text("0")
        # Accepted.
        s.on_next_dialog(accept=True)
        button(page, "Reset nonce").click()
        expect(page.locator("#nonce-reset-count")).to_have_text("1")
        expect(page.locator("#nonce-exists")).to_have_text("yes")
        expect(page.locator("#nonce-fingerprint")).to_contain_text("sha256:")
        expect(page.locator("#nonce-status")).to_contain_text("reset")
        assert len(s.dialogs) == 2
        page.locator("#nonce-panel").scroll_into_view_if_needed()
        s.shot("ec2-reset")

    def test_before_saving():
        button(page, "New profile").click()
        expect(page.locator("#editor-title")).to_have_text("New profile")
        page.get_by_label("Profile name", exact=True).fill(DRAFT_NAME)
        page.get_by_label("Vault address", exact=True).fill(VAULT_ADDR)
        page.get_by_label("Test secret path", exact=True).fill(SECRET_PATH)
        page.get_by_label("Method block", exact=True).fill(method_block("app"))
        expect(page.locator("#method-errors")).to_be_empty()
        button(page, "Test before saving").click()
        expect(page.locator("#report-outcome")).to_contain_text("Passed", timeout=REPORT_TIMEOUT_MS)
        expect(page.locator("#report-context")).to_contain_text("nothing was stored")
        expect(page.locator("#report-steps > li")).not_to_have_count(0)
        assert s.sent("POST", r"/profiles/test$"), "the dry run was sent"
        # Nothing stored.
        button(page, "Reload list").click()
        expect(button(page, EC2_PROFILE)).to_be_visible()
        expect(button(page, DRAFT_NAME)).to_have_count(0)
        page.locator("#report").scroll_into_view_if_needed()
        s.shot("test-before-saving")

    def delete_profile():
        open_profile(s, JWT_NAME)
        dialogs = len(s.dialogs)
        s.on_next_dialog(accept=False)
        button(page, "Delete").click()
        page.wait_for_timeout(300)
        assert len(s.dialogs) == dialogs + 1, "a confirmation was asked"
        assert JWT_NAME in s.dialogs[-1], s.dialogs[-1]
        assert not s.sent("DELETE", r"/profiles/"), "a cancelled delete was sent"
        expect(button(page, JWT_NAME)).to_be_visible()
        s.on_next_dialog(accept=True)
        button(page, "Delete").click()
        expect(button(page, JWT_NAME)).to_have_count(0)
        expect(page.locator("#status")).to_contain_text("Deleted")
        expect(button(page, EC2_PROFILE)).to_be_visible()
        s.shot("deleted")

    def sign_out():
        button(page, "Sign out").click()
        expect(page.locator("#signin-section")).to_be_visible()
        expect(page.locator("#workspace")).to_be_hidden()
        expect(page.get_by_label("API key", exact=True)).to_have_value("")
        dump = storage_dump(page)
        assert_no_key_in("sessionStorage/localStorage", json.dumps(dump["items"]))
        assert_no_key_in("the URL", dump["url"])
        assert_no_key_in("cookies", dump["cookie"])
        # A reload stays signed out.
        page.reload(wait_until="load")
        expect(page.locator("#signin-section")).to_be_visible()
        expect(page.locator("#workspace")).to_be_hidden()
        s.shot("signed-out")

    def read_only():
        sign_in(s, READ_KEY)
        notice = page.locator("#readonly-notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("read")
        new = button(page, "New profile")
        assert new.count() == 0 or not new.is_visible() or new.is_disabled(), "New profile is usable"
        open_profile(s, EC2_PROFILE)
        for name in ("Save", "Test connection", "Test before saving", "Delete", "Reset nonce"):
            b = button(page, name)
            assert b.count() == 0 or not b.is_visible() or b.is_disabled(), f"{name} is usable with a read key"
        expect(page.get_by_label("Method block", exact=True)).not_to_be_editable()
        expect(page.get_by_label("Vault address", exact=True)).not_to_be_editable()
        s.shot("read-only")

    opened = ["console page with CSP, X-Frame-Options and Referrer-Policy"]
    run_step(s, opened[0], open_console)
    run_step(s, "sign in with the admin key", sign_in_admin, needs=opened)
    signed = ["sign in with the admin key"]
    run_step(s, "wrong type in the method block is shown before saving", live_validation, needs=signed)
    run_step(s, "fixed and saved: the preview shows method \"jwt\"", save_and_preview,
             needs=signed + ["wrong type in the method block is shown before saving"])
    saved = ["fixed and saved: the preview shows method \"jwt\""]
    run_step(s, "test connection: every step passed", test_connection_passes, needs=saved)
    run_step(s, "a missing role: the hint says it does not exist", missing_role_hint,
             needs=saved + ["test connection: every step passed"])
    run_step(s, "secret cache: a bad duration is named at its field, 30s is saved and shown", secret_cache_field,
             needs=saved + ["a missing role: the hint says it does not exist"])
    run_step(s, "EC2 panel: instance id and nonce state", ec2_panel, needs=signed)
    run_step(s, "EC2 nonce reset asks first, then resets", ec2_reset, needs=["EC2 panel: instance id and nonce state"])
    run_step(s, "test before saving gives a report, stores nothing", test_before_saving, needs=signed)
    run_step(s, "delete asks first, then the profile leaves the list", delete_profile, needs=saved)
    run_step(s, "sign out: no key in storage, cookies or URL", sign_out, needs=signed)
    run_step(s, "read key: read-only notice, no write actions", read_only,
             needs=["sign out: no key in storage, cookies or URL"])
    return s


# ------------------------------------------------------------------ the phone smoke check


def phone(browser):
    s = Session(browser, "phone", {"width": 390, "height": 844})
    page = s.page
    print("phone (390x844):", flush=True)

    def smoke():
        resp = page.goto(CONSOLE_URL, wait_until="load")
        assert resp is not None and "content-security-policy" in resp.headers
        no_horizontal_overflow(page)
        sign_in(s, ADMIN_KEY)
        expect(page.locator("#profiles-table")).to_be_visible()
        no_horizontal_overflow(page)
        s.shot("profiles")
        open_profile(s, EC2_PROFILE)
        expect(page.locator("#nonce-panel")).to_be_visible()
        expect(page.locator("#preview")).to_contain_text("method \"aws\"")
        no_horizontal_overflow(page)
        s.shot("editor")

    run_step(s, "phone: sign in, list visible, no horizontal overflow", smoke)
    return s


# ------------------------------------------------------------------ checks over everything


def global_checks(sessions):
    print("every page:", flush=True)
    for s in sessions:
        def local_only(s=s):
            assert s.requests, "no request was recorded"
            outside = []
            for _, url in s.requests:
                u = urlparse(url)
                if u.scheme in ("data", "blob", "about"):
                    continue
                if u.scheme not in ("http", "https") or u.hostname not in LOCAL_HOSTS:
                    outside.append(url)
            assert not outside, f"requests left the machine: {outside}"

        def no_errors(s=s):
            assert not s.problems, "\n".join(s.problems)

        def no_key_in_urls(s=s):
            for _, url in s.requests:
                assert_no_key_in(f"a request URL ({urlparse(url).path})", url)

        run_step(s, f"{s.label}: every request stayed on 127.0.0.1 ({len(s.requests)} requests)", local_only)
        run_step(s, f"{s.label}: no console error, no page error", no_errors)
        run_step(s, f"{s.label}: no key in any request URL", no_key_in_urls)


def main():
    started = time.monotonic()
    sessions = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # As root Chromium needs --no-sandbox; /dev/shm may be small in containers.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            timeout=60_000,
        )
        print(f"chromium {browser.version} from {CHROMIUM}", flush=True)
        try:
            for flow in (desktop, phone):
                try:
                    sessions.append(flow(browser))
                except Exception:  # noqa: BLE001 - a broken flow is a failure, not a crash
                    RESULTS.record(f"{flow.__name__} flow", "failed", traceback.format_exc())
            global_checks(sessions)
        finally:
            for s in sessions:
                s.context.close()
            browser.close()
    elapsed = time.monotonic() - started
    print(f"screenshots: {SHOTS} ({elapsed:.0f} s)")
    summary = f"console: {RESULTS.passed} passed, {RESULTS.failed} failed"
    if RESULTS.skipped:
        summary += f", {RESULTS.skipped} skipped"
    print(summary, flush=True)
    return 0 if RESULTS.failed == 0 and RESULTS.skipped == 0 and RESULTS.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
