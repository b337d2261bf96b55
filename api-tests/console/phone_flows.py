"""The console at 390x844: cards instead of the table, nothing scrolls sideways,
sections that fold, the first-run guide, and the keyboard way through the pages."""

import re

from playwright.sync_api import expect

from console_support import (
    ADMIN_KEY, CONSOLE_URL, EC2_PROFILE, EMPTY_ADMIN_KEY, Session, button, nav, no_horizontal_overflow, open_profile,
    run_step, sign_in,
)


def phone(browser):
    s = Session(browser, "phone-layout", {"width": 390, "height": 844})
    page = s.page
    print("phone layout (390x844):", flush=True)

    def first_run():
        resp = page.goto(CONSOLE_URL, wait_until="load")
        assert resp is not None and "content-security-policy" in resp.headers
        no_horizontal_overflow(page)
        s.axe("sign-in")
        sign_in(s, EMPTY_ADMIN_KEY, expect_profile=None, keyboard=True)
        guide = page.locator("#first-run")
        expect(guide).to_be_visible()
        expect(guide).to_contain_text("Test connection")
        no_horizontal_overflow(page)
        s.axe("first run")
        s.shot("first-run", copy_as="console-first-run.png")
        button(page, "Create your first profile").click()
        expect(page.locator("#editor")).to_be_visible()
        expect(page.get_by_label("Profile name", exact=True)).to_be_focused()
        parts = page.locator("details.part")
        expect(parts).to_have_count(3)
        summary = parts.nth(2).locator("summary")
        summary.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_label("Test secret path", exact=True)).to_be_hidden()
        page.keyboard.press("Enter")
        expect(page.get_by_label("Test secret path", exact=True)).to_be_visible()
        page.get_by_label("JWT", exact=True).check()
        no_horizontal_overflow(page)
        s.axe("new profile")
        s.shot("new-profile", full_page=True)
        button(page, "Close").click()
        page.locator("#confirm-dialog").get_by_role("button", name="Discard changes", exact=True).click()
        expect(page.locator("#editor")).to_be_hidden()
        button(page, "Sign out").click()
        expect(page.locator("#signin-section")).to_be_visible()

    def cards_and_editor():
        sign_in(s, ADMIN_KEY)
        row = page.locator("#profiles-body tr").first
        assert row.evaluate("(r) => getComputedStyle(r).display") == "block", "profiles are cards on a phone"
        expect(page.locator("#profiles-table thead")).not_to_be_in_viewport()
        no_horizontal_overflow(page)
        s.axe("profile cards")
        s.shot("profiles", copy_as="console-phone-list.png")
        open_profile(s, EC2_PROFILE)
        expect(page.locator("#nonce-panel")).to_be_visible()
        expect(page.locator("#preview")).to_contain_text('method "aws"')
        no_horizontal_overflow(page)
        s.axe("profile editor")
        s.shot("editor", copy_as="console-phone-editor.png")
        button(page, "Close").click()

    def pages_by_keyboard():
        for name, heading in (("API keys", "#keys-title"), ("Audit trail", "#audit-title"), ("Connect a connector", "#connect-title"), ("Profiles", "#profiles-title")):
            link = nav(page, name)
            link.focus()
            page.keyboard.press("Enter")
            expect(page.locator(heading)).to_be_focused()
            expect(link).to_have_attribute("aria-current", "page")
            if name == "Audit trail":
                expect(page.locator("#audit-body tr")).not_to_have_count(0)
            if name == "API keys":
                expect(page.locator("#keys-body tr")).not_to_have_count(0)
            no_horizontal_overflow(page)
            s.axe(name)
            s.shot(re.sub(r"[^a-z]+", "-", name.lower()))

    run_step(s, "phone: first-run guide for an empty tenant; the profile page folds by section", first_run)
    run_step(s, "phone: profiles as cards, the editor fits, nothing scrolls sideways", cards_and_editor)
    run_step(s, "phone: every page by keyboard fits the screen", pages_by_keyboard,
             needs=["phone: profiles as cards, the editor fits, nothing scrolls sideways"])
    return s
