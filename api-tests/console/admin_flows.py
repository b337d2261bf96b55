"""Every admin flow of the console, run once at 1280x800 with the mouse and once at
390x844 with the keyboard (Enter on buttons, links and summaries, Space on the
login types); both also use the keys that are the way in (Enter to sign in, Enter
on the focused Cancel test, Escape, arrow keys). Each run starts signed out and
ends as it began (its profile deleted, its key revoked), so the second run repeats
the first."""

import json
import re

from playwright.sync_api import expect

from console_support import (
    ADMIN_KEY, CONSOLE_URL, EC2_INSTANCE_ID, EC2_PROFILE, JWT_DIR, LEASE_PROFILE, JWT_NAME, JWT_PATH, DRAFT_NAME, ORIGIN, READ_KEY,
    REPORT_TIMEOUT_MS, SECRET_PATH, SILENT_VAULT_ADDR, TENANT, VAULT_ADDR, Session, assert_no_key_in, button, dialog,
    dialog_button, nav, open_details, open_profile, rest_read, run_step, sign_in, storage_dump, unload_is_guarded,
)


def admin_flows(browser, label_, viewport, keyboard):
    s = Session(browser, label_, viewport, keyboard=keyboard)
    page = s.page
    print(f"{label_} ({viewport['width']}x{viewport['height']}):", flush=True)
    created = {}

    def doc(name):
        """The documentation's copy of a screenshot, from the wide run only."""
        return name if label_ == "desktop" else None

    def label(name):
        return page.get_by_label(name, exact=True)

    def open_console():
        resp = page.goto(CONSOLE_URL, wait_until="load")
        assert resp is not None and resp.status == 200, f"GET /console: {resp and resp.status}"
        headers = resp.headers
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, f"CSP header: {csp!r}"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, f"CSP header: {csp!r}"
        assert headers.get("x-frame-options", "").upper() == "DENY", headers.get("x-frame-options")
        assert headers.get("referrer-policy", "") == "no-referrer", headers.get("referrer-policy")
        # The page is modules only: no classic script, no inline script.
        scripts = page.evaluate("() => [...document.scripts].map((s) => [s.type, s.src, s.text.length])")
        assert scripts and all(t == "module" and src and n == 0 for t, src, n in scripts), scripts
        expect(label("API key")).to_be_visible()
        s.axe("sign-in")
        s.shot("sign-in")

    def sign_in_admin():
        sign_in(s, ADMIN_KEY, keyboard=True)
        expect(page.locator("#readonly-notice")).to_be_hidden()
        expect(button(page, "New profile")).to_be_enabled()
        for name in ("Profiles", "API keys", "Audit trail"):
            expect(nav(page, name)).to_be_visible()
        expect(nav(page, "Profiles")).to_have_attribute("aria-current", "page")
        dump = storage_dump(page)
        assert_no_key_in("the URL", dump["url"])
        assert_no_key_in("cookies", dump["cookie"])
        assert_no_key_in("localStorage", json.dumps([i for i in dump["items"] if i[0] == "localStorage"]))
        assert ADMIN_KEY in [i[2] for i in dump["items"] if i[0] == "sessionStorage"], "the key is kept in sessionStorage"
        # Times are local with UTC on hover.
        when = page.locator("#profiles-body time").first
        if when.count():
            expect(when).to_have_attribute("title", re.compile(r"UTC$"))
        s.axe("profile list")
        s.shot("signed-in")

    def guided_form():
        s.press(button(page, "New profile"))
        expect(page.locator("#editor-title")).to_have_text("New profile")
        for t in ("AWS IAM", "AWS EC2", "JWT"):
            expect(label(t)).to_be_visible()
        expect(label("Vault role")).to_be_hidden()
        s.choose(label("JWT"))
        expect(label("Vault role")).to_be_visible()
        expect(label("JWT file")).to_be_visible()
        expect(label("AWS role ARN")).to_be_hidden()
        s.press(button(page, "Fill in an example"))
        expect(label("JWT file")).to_have_value(re.compile("^" + re.escape(JWT_DIR.rstrip("/") + "/")))
        expect(label("Vault address")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+$"))
        expect(page.locator("#jwt_path-help")).to_contain_text(JWT_DIR.rstrip("/"))
        s.choose(label("AWS IAM"))
        expect(label("AWS role ARN")).to_be_visible()
        expect(label("Header value")).to_be_visible()
        expect(label("AWS region")).to_be_visible()
        expect(label("JWT file")).to_be_hidden()
        s.choose(label("JWT"))
        expect(label("AWS role ARN")).to_be_hidden()
        expect(label("JWT file")).to_have_value(re.compile("^" + re.escape(JWT_DIR.rstrip("/") + "/")))
        s.shot("guided-form")

    def live_validation():
        label("Profile name").fill("Bad Name")
        expect(page.locator("#name-errors")).to_contain_text("lower-case letters")
        text = page.locator("#name-errors").inner_text()
        assert "pattern" not in text and "^" not in text, f"a regular expression is shown: {text!r}"
        label("Profile name").fill(JWT_NAME)
        expect(page.locator("#name-errors")).to_be_empty()
        label("Vault address").fill(VAULT_ADDR)
        label("JWT file").fill("/etc/passwd")
        errors = page.locator("#jwt_path-errors")
        expect(errors).to_contain_text(JWT_DIR.rstrip("/").rsplit("/", 1)[0])
        expect(errors).not_to_contain_text("AUTH_SERVICE")
        expect(label("JWT file")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#form-verdict-text")).to_have_text("1 problem to fix.")
        page.locator("#field-jwt_path").evaluate("(f) => f.scrollIntoView({ block: 'center' })")
        s.shot("live-validation-file", copy_as=doc("console-validation.png"))
        # The advanced view is the same block: a wrong type typed there lands at "Vault role".
        open_details(s, page.locator("#advanced"))
        block = json.loads(label("Method block").input_value())
        assert block["config"]["path"] == "/etc/passwd", block
        block["config"]["role"] = 5
        label("Method block").fill(json.dumps(block, indent=2))
        expect(label("Vault role")).to_have_value("5")
        expect(page.locator("#role-errors")).not_to_be_empty()
        # Every problem at once: the role's type and the file's folder.
        expect(page.locator("#form-verdict-text")).to_have_text("2 problems to fix.")
        expect(page.locator("#jwt_path-errors")).not_to_be_empty()
        for box in ("#role-errors", "#jwt_path-errors", "#form-verdict"):
            text = page.locator(box).inner_text()
            assert "/config/" not in text and "/method" not in text, f"a JSON pointer is shown: {text!r}"
        stored = s.sent("POST", r"/profiles$") + s.sent("PUT", r"/profiles/")
        assert not stored, f"a save was sent before Save: {stored}"
        assert s.sent("POST", r"/profiles/validate$"), "the service was asked"
        label("Method block").fill("{ \"type\": ")
        expect(page.locator("#method-errors")).to_contain_text("not valid JSON")
        expect(page.locator("#role-errors")).to_be_empty()  # one verdict at a time
        # A key no field shows is named in the advanced view, in words.
        label("Method block").fill(json.dumps({**block, "wrap_ttl": "5m"}, indent=2))
        expect(page.locator("#method-errors")).to_contain_text("At wrap_ttl")
        expect(page.locator("#method-errors")).to_contain_text("response-wrapped")
        label("Method block").fill(json.dumps(block, indent=2))
        expect(page.locator("#role-errors")).not_to_be_empty()
        expect(page.locator("#method-errors")).to_be_empty()
        s.shot("live-validation-role")

    def fix_and_save():
        label("JWT file").fill(JWT_PATH)
        label("Vault role").fill("app")
        expect(page.locator("#jwt_path-errors")).to_be_empty()
        expect(page.locator("#role-errors")).to_be_empty()
        assert json.loads(label("Method block").input_value())["config"] == {"path": JWT_PATH, "role": "app"}
        label("Test secret path").fill(SECRET_PATH)
        expect(page.locator("#form-verdict-text")).to_have_text("The service accepts this profile.")
        expect(page.locator("#preview")).to_contain_text('method "jwt"')
        s.press(button(page, "Save"))
        expect(page.locator("#form-status")).to_contain_text("Created")
        expect(button(page, JWT_NAME)).to_be_visible()
        expect(page.locator("#preview")).to_contain_text("auth/jwt")
        s.axe("profile editor")
        page.evaluate("() => window.scrollTo(0, 0)")
        s.shot("saved-preview", copy_as=doc("console-profiles.png"))

    def test_connection_passes():
        s.press(button(page, "Test connection"))
        expect(page.locator("#report-outcome")).to_contain_text("Passed", timeout=REPORT_TIMEOUT_MS)
        expect(page.locator("#report-title")).to_be_focused()
        for step in ("agent_login", "verify_token", "read_test_secret"):
            item = page.locator(f"#report-steps > li[data-step={step}]")
            expect(item).to_have_count(1)
            expect(item.locator(".state")).to_have_text("passed")
        expect(page.locator("#hint")).to_be_hidden()
        expect(button(page, "Save")).to_be_enabled()
        s.axe("test report")
        s.shot("test-passed", copy_as=doc("console-report.png"))

    def cancel_a_test():
        label("Vault address").fill(SILENT_VAULT_ADDR)
        s.press(button(page, "Test before saving"))
        expect(page.locator("#report-progress-text")).to_contain_text("of at most 10 s")
        expect(button(page, "Cancel test")).to_be_focused()
        for name in ("Save", "Test connection", "Test before saving", "Delete"):
            expect(button(page, name)).to_be_disabled()
        expect(page.locator("#report-progress-text")).to_contain_text(re.compile(r"^[1-9] s of"), timeout=5_000)
        s.shot("test-running")
        page.keyboard.press("Enter")  # the focused Cancel test button
        expect(page.locator("#form-status")).to_contain_text("cancelled")
        expect(button(page, "Test before saving")).to_be_focused()
        expect(page.locator("#form-errors")).to_be_empty()
        expect(button(page, "Save")).to_be_enabled()
        label("Vault address").fill(VAULT_ADDR)
        expect(page.locator("#dirty-note")).to_be_hidden()

    def missing_role_hint():
        label("Vault role").fill("no-such-role")
        s.press(button(page, "Save"))
        expect(page.locator("#form-status")).to_contain_text("revision 2")
        s.press(button(page, "Test connection"))
        expect(page.locator("#report-outcome")).to_contain_text("Failed", timeout=REPORT_TIMEOUT_MS)
        hint = page.locator("#hint")
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("no-such-role")
        expect(hint).to_contain_text("does not exist")
        s.shot("test-missing-role")

    def secret_cache_field():
        field = label("Secret cache")
        field.fill("soon")
        expect(page.locator("#secret_cache_ttl-errors")).to_contain_text("not a duration")
        field.fill("30s")
        expect(page.locator("#secret_cache_ttl-errors")).to_be_empty()
        label("Vault role").fill("app")
        s.press(button(page, "Save"))
        expect(page.locator("#form-status")).to_contain_text("revision 3")
        open_profile(s, EC2_PROFILE)
        open_profile(s, JWT_NAME)
        expect(label("Secret cache")).to_have_value("30s")

    def unsaved_guard():
        puts = len(s.sent("PUT", r"/profiles/"))
        label("Namespace").fill("team-x")
        expect(page.locator("#dirty-note")).to_be_visible()
        assert unload_is_guarded(page), "a reload would not ask"
        s.press(button(page, "Close"))
        expect(dialog(page)).to_be_visible()
        expect(dialog(page)).to_contain_text(JWT_NAME)
        s.axe("unsaved-changes dialog")
        s.shot("unsaved-guard", copy_as=doc("console-unsaved.png"))
        s.press(dialog_button(page, "Keep editing"))
        expect(dialog(page)).to_be_hidden()
        expect(label("Namespace")).to_have_value("team-x")
        s.press(nav(page, "API keys"))
        expect(dialog(page)).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog(page)).to_be_hidden()
        expect(page.locator("#page-keys")).to_be_hidden()
        expect(label("Namespace")).to_have_value("team-x")
        label("Namespace").press("Escape")  # Escape closes the editor, after the guard
        expect(dialog(page)).to_be_visible()
        s.press(dialog_button(page, "Discard changes"))
        expect(page.locator("#editor")).to_be_hidden()
        assert not unload_is_guarded(page), "nothing is unsaved any more"
        assert len(s.sent("PUT", r"/profiles/")) == puts, "the guard sent a save"

    def example_picker_and_arrows():
        open_profile(s, JWT_NAME)
        before = label("Method block").input_value()
        example = button(page, "Fill in an example")
        example.focus()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowUp")
        expect(dialog(page)).to_be_hidden()
        assert label("Method block").input_value() == before, "an arrow key changed the block"
        # Arrow keys move between login types; moving back restores the fields.
        label("JWT").focus()
        page.keyboard.press("ArrowUp")
        expect(label("JWT file")).to_be_hidden()
        page.keyboard.press("ArrowDown")
        expect(label("JWT file")).to_have_value(JWT_PATH)
        expect(page.locator("#dirty-note")).to_be_hidden()
        s.press(button(page, "Close"))
        expect(page.locator("#editor")).to_be_hidden()

    def ec2_panel_and_reset():
        open_profile(s, EC2_PROFILE)
        expect(page.locator("#nonce-panel")).to_be_visible()
        expect(page.locator("#nonce-instance-id")).to_have_text(EC2_INSTANCE_ID)
        resets = int(page.locator("#nonce-reset-count").inner_text())
        expect(page.locator("#nonce-command")).to_contain_text(f"identity-accesslist/{EC2_INSTANCE_ID}")
        before = len(s.sent("POST", r"/ec2-nonce/reset$"))
        s.press(button(page, "Reset nonce"))
        expect(dialog(page)).to_contain_text(f"identity-accesslist/{EC2_INSTANCE_ID}")
        expect(dialog_button(page, "Copy command for the vault admin")).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog(page)).to_be_hidden()
        assert len(s.sent("POST", r"/ec2-nonce/reset$")) == before, "a cancelled reset was sent"
        s.press(button(page, "Reset nonce"))
        s.press(dialog_button(page, "Reset the nonce"))
        expect(page.locator("#nonce-reset-count")).to_have_text(str(resets + 1))
        expect(page.locator("#nonce-exists")).to_have_text("yes")
        expect(page.locator("#nonce-fingerprint")).to_contain_text("sha256:")
        page.locator("#nonce-panel").scroll_into_view_if_needed()
        s.shot("ec2-reset")

    def test_before_saving():
        s.press(button(page, "New profile"))
        expect(page.locator("#editor-title")).to_have_text("New profile")
        label("Profile name").fill(EC2_PROFILE)
        label("Vault address").fill(VAULT_ADDR)
        s.choose(label("JWT"))
        label("JWT file").fill(JWT_PATH)
        label("Vault role").fill("app")
        label("Test secret path").fill(SECRET_PATH)
        s.press(button(page, "Save"))  # the name is taken: a failed save leaves no progress behind
        expect(page.locator("#form-errors")).to_contain_text("already exists")
        expect(page.locator("#form-status")).to_be_empty()
        label("Profile name").fill(DRAFT_NAME)
        s.press(button(page, "Test before saving"))
        expect(page.locator("#report-outcome")).to_contain_text("Passed", timeout=REPORT_TIMEOUT_MS)
        expect(page.locator("#report-context")).to_contain_text("nothing was stored")
        s.press(button(page, "Close"))
        s.press(dialog_button(page, "Discard changes"))
        expect(button(page, DRAFT_NAME)).to_have_count(0)

    def keys_page():
        s.press(nav(page, "API keys"))
        expect(page.locator("#keys-title")).to_be_focused()
        expect(page.locator("#keys-body tr")).not_to_have_count(0)
        s.press(button(page, "Create key"))  # no name: the service says what a name must be
        expect(page.locator("#key-name-errors")).to_contain_text("printable characters")
        expect(label("Key name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#created-key")).to_be_hidden()
        label("Key name").fill("console-reader")
        label("Scope").select_option("read")
        label("Key name").press("Enter")
        expect(page.locator("#created-key")).to_be_visible()
        expect(page.locator("#created-key")).to_contain_text("shown only this once")
        key = label("The new key").input_value()
        assert key.startswith("vas_"), "a key is shown"
        s.press(button(page, "Copy key"))
        expect(page.locator("#created-key-copied")).to_contain_text("Copied")
        clip = page.evaluate("() => navigator.clipboard.readText().catch(() => null)")
        assert clip in (None, key), "the clipboard holds the key"
        row = page.locator("#keys-body tr", has_text="console-reader")
        expect(row).to_contain_text("read")
        s.axe("API keys")
        s.shot("key-created")
        if doc("console-keys.png"):
            # The documentation's picture does not carry a working key.
            page.locator("#created-key-value").evaluate("(i) => { i.value = i.value.slice(0, 21) + '… (shown once)'; }")
            s.shot("key-created-doc", copy_as="console-keys.png")
        s.press(button(page, "I have stored it"))
        expect(page.locator("#created-key")).to_be_hidden()
        created["key"] = key

    def connect_and_read():
        s.press(nav(page, "Connect a connector"))
        connect = page.locator("#page-connect")
        connect.get_by_label("Profile", exact=True).select_option(JWT_NAME)
        key_id = connect.locator("#connect-key option", has_text="console-reader").get_attribute("value")
        connect.get_by_label("Key", exact=True).select_option(key_id)
        snippets = page.locator("#connect-snippets")
        base = f"{ORIGIN}/vault/{TENANT}/{JWT_NAME}"
        expect(snippets).to_contain_text(f"VAULT_ADDR='{base}'")
        expect(snippets).to_contain_text("token_file_path")
        expect(snippets).to_contain_text("hvac.Client")
        expect(snippets).to_contain_text("console-reader")
        curl = snippets.locator("pre").first.inner_text()
        url = re.search(r"'(http[^']+/secrets/[^']+)'", curl).group(1)
        status, body = rest_read(url, created["key"])
        assert status == 200, f"REST read with the console's key: {status} {body}"
        assert body["data"]["data"]["username"] == "alice", body
        s.axe("connect")
        s.shot("connect", copy_as=doc("console-connect.png"))
        created["url"] = url

    def key_last_used_and_revoke():
        s.press(nav(page, "API keys"))
        row = page.locator("#keys-body tr", has_text="console-reader")
        expect(row.locator("td[data-label='Last used'] time")).to_have_count(1)
        s.press(row.get_by_role("button", name="Revoke", exact=True))
        expect(dialog(page)).to_contain_text("console-reader")
        s.press(dialog_button(page, "Revoke key"))
        expect(page.locator("#keys-body tr", has_text="console-reader")).to_have_count(0)
        status, _ = rest_read(created["url"], created["key"])
        assert status == 401, f"a revoked key still reads: {status}"

    def audit_page():
        s.press(nav(page, "Audit trail"))
        expect(page.locator("#audit-title")).to_be_focused()
        rows = page.locator("#audit-body tr")
        expect(rows).not_to_have_count(0)
        times = page.locator("#audit-body time").evaluate_all("(ts) => ts.map((t) => t.getAttribute('datetime'))")
        assert times == sorted(times, reverse=True), f"not newest first: {times[:5]}"
        expect(rows.first).to_contain_text("API key revoked")
        audit = page.locator("#page-audit")
        audit.get_by_label("Action", exact=True).select_option(label="Secret read")
        expect(rows).not_to_have_count(0)
        for text in rows.locator("td[data-label='Action']").all_inner_texts():
            assert text == "Secret read", text
        audit.get_by_label("Profile", exact=True).select_option(JWT_NAME)
        audit.get_by_label("Outcome", exact=True).select_option("ok")
        expect(rows).not_to_have_count(0)
        s.axe("audit trail")
        s.shot("audit", copy_as=doc("console-audit.png"))
        audit.get_by_label("Action", exact=True).select_option("")
        s.press(nav(page, "Profiles"))

    def leases_panel():
        open_profile(s, JWT_NAME)
        open_details(s, page.locator("#leases-section"))
        expect(page.locator("#leases-status")).to_contain_text("No leases")
        open_profile(s, LEASE_PROFILE)
        open_details(s, page.locator("#leases-section"))
        leases = page.locator("#leases-list > li")
        expect(page.locator("#leases-status")).to_contain_text(re.compile(r"^\d+ leases? issued"))
        count = leases.count()
        assert count >= 1, "the launcher made leases"
        expect(leases.first.locator("time")).to_have_attribute("title", re.compile("UTC$"))
        s.press(leases.first.get_by_role("button", name="Renew", exact=True))
        expect(page.locator("#leases-status")).to_contain_text("Renewed; it now ends")
        last = leases.last
        lease_id = last.locator(".lease-id").inner_text()
        s.press(last.get_by_role("button", name="Revoke", exact=True))
        expect(dialog(page)).to_contain_text(lease_id)
        s.press(dialog_button(page, "Revoke lease"))
        expect(page.locator("#leases-status")).to_have_text("Revoked.")
        expect(leases).to_have_count(count - 1)
        expect(page.locator("#leases-list")).not_to_contain_text(lease_id)
        s.axe("leases")
        s.shot("leases")
        open_profile(s, JWT_NAME)

    def delete_profile():
        s.press(button(page, "Delete"))
        expect(dialog(page)).to_contain_text(JWT_NAME)
        s.press(dialog_button(page, "Cancel"))
        assert not s.sent("DELETE", r"/profiles/"), "a cancelled delete was sent"
        s.press(button(page, "Delete"))
        s.press(dialog_button(page, "Delete profile"))
        expect(button(page, JWT_NAME)).to_have_count(0)
        expect(page.locator("#status")).to_contain_text("Deleted")
        s.shot("deleted")

    def hint_blocks():
        # AWS's refusal and an EC2 nonce mismatch cannot happen against OpenBao here, so the
        # service's answer is replaced by one with the hints the service gives for them.
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                  "Principal": {"AWS": "arn:aws:iam::111122223333:role/auth-service"}, "Action": "sts:AssumeRole",
                  "Condition": {"StringEquals": {"sts:ExternalId": "0123abcd"}}}]}
        hints = [
            "AWS refused to let the service assume arn:aws:iam::123456789012:role/vault-login. The role's trust policy "
            "must allow the service's principal (arn:aws:iam::111122223333:role/auth-service) with sts:ExternalId = this "
            "tenant's aws_external_id. Paste this trust policy into the role: " + json.dumps(policy),
            "Vault remembers another nonce for this instance on auth/aws. Ask the Vault admin to run: vault delete "
            "auth/aws/identity-accesslist/i-0abc; then POST .../ec2-nonce/reset on this profile.",
        ]

        def answer(route):
            report = {"ok": False, "hint": hints.pop(0),
                      "steps": [{"step": "assume_role", "ok": False, "duration_ms": 120, "detail": "AccessDenied"}]}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(report))

        page.route(re.compile(r"/v1/tenants/[^/]+/profiles/test$"), answer)
        try:
            s.press(button(page, "New profile"))
            s.choose(label("AWS IAM"))
            s.press(button(page, "Test before saving"))
            hint = page.locator("#hint")
            expect(hint).to_contain_text("Paste this trust policy into the role.")
            expect(hint).not_to_contain_text("aws_external_id")
            block = hint.locator(".copy-block", has_text="Trust policy for the role")
            assert json.loads(block.locator("pre").inner_text()) == policy
            s.press(button(page, "Copy trust policy for the role"))
            expect(block).to_contain_text("Copied.")
            clip = page.evaluate("() => navigator.clipboard.readText().catch(() => null)")
            assert clip is None or json.loads(clip) == policy, clip
            s.press(button(page, "Test before saving"))
            expect(hint.locator("pre")).to_have_text("vault delete auth/aws/identity-accesslist/i-0abc")
            expect(hint).to_contain_text("Then press “Reset nonce” on this profile.")
            expect(button(page, "Copy command for the vault admin")).to_be_visible()
            s.axe("hint with copy blocks")
            s.shot("hint-blocks")
        finally:
            page.unroute(re.compile(r"/v1/tenants/[^/]+/profiles/test$"))
        s.press(button(page, "Close"))
        s.press(dialog_button(page, "Discard changes"))

    def sign_out():
        open_profile(s, EC2_PROFILE)
        label("Namespace").fill("team-x")
        s.press(button(page, "Sign out"))
        expect(dialog(page)).to_be_visible()
        s.press(dialog_button(page, "Discard changes"))
        expect(page.locator("#signin-section")).to_be_visible()
        expect(page.locator("#workspace")).to_be_hidden()
        expect(label("API key")).to_have_value("")
        dump = storage_dump(page)
        assert_no_key_in("sessionStorage/localStorage", json.dumps(dump["items"]))
        assert_no_key_in("the URL", dump["url"])
        assert_no_key_in("cookies", dump["cookie"])
        page.reload(wait_until="load")
        expect(page.locator("#signin-section")).to_be_visible()
        expect(page.locator("#workspace")).to_be_hidden()
        s.shot("signed-out")

    def read_only():
        sign_in(s, READ_KEY)
        expect(page.locator("#readonly-notice")).to_be_visible()
        expect(nav(page, "API keys")).to_be_hidden()
        expect(nav(page, "Audit trail")).to_be_hidden()
        expect(button(page, "New profile")).to_be_disabled()
        open_profile(s, EC2_PROFILE)
        for name in ("Save", "Test connection", "Test before saving", "Delete", "Reset nonce"):
            b = button(page, name)
            assert b.count() == 0 or not b.is_visible() or b.is_disabled(), f"{name} is usable with a read key"
        expect(label("Vault address")).not_to_be_editable()
        s.axe("read-only editor")
        s.shot("read-only")

    steps = [
        ("console page: modules only, CSP, X-Frame-Options, Referrer-Policy", open_console, []),
        ("sign in with the admin key (keyboard)", sign_in_admin, [0]),
        ("guided form: login types from the grants, examples from the tenant's folder", guided_form, [1]),
        ("live validation by the service: each problem at its field, in words", live_validation, [2]),
        ("fixed fields clear their problems; saved, the preview shows method \"jwt\"", fix_and_save, [3]),
        ("test connection: every step passed, focus on the report", test_connection_passes, [4]),
        ("a running test shows its time against the limit and can be cancelled", cancel_a_test, [5]),
        ("a missing role: the hint says it does not exist", missing_role_hint, [6]),
        ("secret cache: a bad duration is named at its field, 30s is saved", secret_cache_field, [7]),
        ("unsaved changes: close, navigation, Escape and reload ask first", unsaved_guard, [8]),
        ("arrow keys never fill in an example; a login type's fields come back", example_picker_and_arrows, [9]),
        ("EC2 nonce: the reset asks in the page (Escape cancels), then resets", ec2_panel_and_reset, [1]),
        ("test before saving gives a report, stores nothing", test_before_saving, [1]),
        ("API keys: a key is created and shown once with a copy button", keys_page, [1]),
        ("connect: snippets for the profile; the console's key reads over REST", connect_and_read, [13, 4]),
        ("API keys: last use shown, revoke asks and the key stops working", key_last_used_and_revoke, [14]),
        ("audit trail: newest first, filters by action, profile and outcome", audit_page, [15]),
        ("leases: listed with their end, renewed, revoked after a question", leases_panel, [4]),
        ("delete asks in the page, then the profile leaves the list", delete_profile, [17]),
        ("a hint's trust policy and Vault command come in copyable blocks", hint_blocks, [1]),
        ("sign out asks about unsaved changes, then leaves no key behind", sign_out, [1]),
        ("read key: read-only notice, no write actions, no admin pages", read_only, [20]),
    ]
    names = [f"{label_}: {n}" for n, _, _ in steps]
    for (_, fn, needs), name in zip(steps, names):
        run_step(s, name, fn, needs=[names[i] for i in needs])
    return s
