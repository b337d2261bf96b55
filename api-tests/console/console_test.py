#!/usr/bin/env python3
"""The admin console in a real browser.

Headless Chromium (Debian's package, never a Playwright download) driven by
Playwright's sync API against a running auth-service; axe-core (npm) checks
every screen at WCAG 2.1 AA. The Rust launcher (api-tests/tests/console/main.rs)
sets up the service, OpenBao, a tenant with an ec2 profile and an empty tenant,
then runs this script with:

  CONSOLE_URL       http://127.0.0.1:PORT/console
  ADMIN_KEY         the tenant's admin key
  READ_KEY          the tenant's read key
  EMPTY_ADMIN_KEY   the admin key of a tenant without profiles
  TENANT            the tenant id
  VAULT_ADDR        the real OpenBao (jwt auth at auth/jwt, role "app", secret/data/app/db readable)
  SILENT_VAULT_ADDR an address that accepts connections and never answers
  JWT_PATH          a JWT file the tenant may use; JWT_DIR its folder
  EC2_PROFILE       an existing ec2 profile
  LEASE_PROFILE     an existing profile with live leases (database credentials)
  AXE_JS            axe-core's axe.min.js
  SCREENSHOT_DIR    where the numbered screenshots go
  EC2_INSTANCE_ID   (optional) the instance id the IMDS stand-in reports
  CHROMIUM_BIN      (optional) default /usr/bin/chromium

Every admin flow (admin_flows.py) runs at 1280x800 with the mouse and again at
390x844 with the keyboard; the
phone's own checks (cards, folding sections, first run, pages by keyboard) are in
phone_flows.py.
Prints one line per check, `axe: ...` per screen and overall, and
`console: N passed, N failed[, N skipped]`; exits non-zero on any failure.
"""

import sys
import time
import traceback
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

from console_support import CHROMIUM, LOCAL_HOSTS, RESULTS, SHOTS, assert_no_key_in, run_step
from admin_flows import admin_flows
from phone_flows import phone


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
        run_step(s, f"{s.label}: no console error, page error or native dialog", no_errors)
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
            runs = (
                ("desktop", lambda: admin_flows(browser, "desktop", {"width": 1280, "height": 800}, keyboard=False)),
                ("phone", lambda: admin_flows(browser, "phone", {"width": 390, "height": 844}, keyboard=True)),
                ("phone layout", lambda: phone(browser)),
            )
            for name, flow in runs:
                flow_started = time.monotonic()
                try:
                    sessions.append(flow())
                except Exception:  # noqa: BLE001 - a broken flow is a failure, not a crash
                    RESULTS.record(f"{name} flows", "failed", traceback.format_exc())
                print(f"  ({name}: {time.monotonic() - flow_started:.0f} s)", flush=True)
            global_checks(sessions)
        finally:
            for s in sessions:
                s.context.close()
            browser.close()
    elapsed = time.monotonic() - started
    for screen, violations, passes in RESULTS.axe:
        print(f"axe: {screen}: {violations} violations, {passes} rules passed")
    total = sum(v for _, v, _ in RESULTS.axe)
    print(f"axe: {len(RESULTS.axe)} screens at WCAG 2.1 AA, {total} violations")
    print(f"screenshots: {SHOTS} ({elapsed:.0f} s)")
    summary = f"console: {RESULTS.passed} passed, {RESULTS.failed} failed"
    if RESULTS.skipped:
        summary += f", {RESULTS.skipped} skipped"
    print(summary, flush=True)
    return 0 if RESULTS.failed == 0 and RESULTS.skipped == 0 and RESULTS.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
