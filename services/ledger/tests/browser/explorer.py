#!/usr/bin/env python3
"""Drives the ledger explorer page in Debian's Chromium with playwright.

Run by `services/ledger/tests/explorer.rs`, which starts a ledger, anchors
events, and asserts on the JSON report this script writes (to --out and to
stdout). The script only observes and reports; the Rust test decides what
is right, except that a step that cannot happen at all (an element that
never appears, a check that never finishes) ends the run with exit code 1
and the traceback in the report.

Never `playwright install`: the browser is the distribution's
(/usr/bin/chromium). `.ci/run` installs both.

Scenarios:
  desktop  key entry, head, paging newest-first, key kept on reload, a block
           opened, "Verify block", "Verify inclusion", "Verify every
           inclusion", the page's RFC 8785 canonicalizer on test vectors;
  tamper   responses altered in flight with page.route (a proof's path hash,
           a block's signature, a block's header object): the page must say
           FAIL;
  phone    a 390 px wide touch viewport: no sideways scrolling, a block
           opens and verifies.
"""

import argparse
import base64
import json
import re
import sys
import traceback
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Statuses a check ends in (anything but pending/running).
FINAL = re.compile(r"^(pass|fail|skipped|unavailable|error)$")
TIMEOUT_MS = 20_000
# Generous for a loaded 2-core CI machine: a wait ends as soon as it is met.
expect.set_options(timeout=TIMEOUT_MS)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the ledger's base URL")
    parser.add_argument("--key", required=True, help="an API key")
    parser.add_argument("--block", type=int, required=True, help="the block height to open")
    parser.add_argument("--event", required=True, help="an event of that block the key may read")
    parser.add_argument("--vectors", required=True, help="file: JSON array of JSON texts to canonicalize")
    parser.add_argument("--out", required=True, help="where to write the JSON report")
    parser.add_argument("--screenshots", required=True, help="directory for screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args()


class Console:
    """Collects the page's console errors and uncaught exceptions."""

    def __init__(self):
        self.errors = []

    def watch(self, page, name):
        def on_console(msg):
            if msg.type == "error":
                self.errors.append(f"{name}: console: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{name}: pageerror: {error}"))


def open_explorer(context, args, console, name, fragment=""):
    """A new tab on the explorer with the key entered; waits for the head."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console.watch(page, name)
    page.goto(f"{args.url}/explorer{fragment}")
    page.get_by_test_id("api-key-input").fill(args.key)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("head-height")).to_have_text(re.compile(r"^\d+$"))
    return page


def text(page, testid):
    return page.get_by_test_id(testid).inner_text().strip()


def block_heights(page):
    rows = page.locator("[data-testid^='block-row-']")
    return [int(h) for h in rows.evaluate_all("rows => rows.map(r => r.dataset.height)")]


def open_block(page, height):
    """Clicks the block's row (or follows #block=N) and waits for its events."""
    row = page.get_by_test_id(f"block-row-{height}")
    if row.count() > 0:
        row.click()
    else:
        page.evaluate("h => { location.hash = 'block=' + h; }", height)
    expect(page.get_by_test_id("block-height")).to_have_text(str(height))
    expect(page.get_by_test_id("block-detail")).to_be_visible()


def checks_in(scope):
    """{testid: status} of the check items under a locator."""
    return scope.locator("li.check").evaluate_all(
        "items => Object.fromEntries(items.map(i => [i.dataset.testid, i.dataset.status]))"
    )


def check_details(scope):
    return scope.locator("li.check").evaluate_all(
        "items => Object.fromEntries(items.map(i => [i.dataset.testid,"
        " i.querySelector('.detail').textContent]))"
    )


def verify_block(page):
    page.get_by_test_id("verify-block").click()
    result = page.get_by_test_id("verify-block-result")
    expect(result).to_have_attribute("data-status", FINAL)
    verification = page.get_by_test_id("block-verification")
    return {
        "result": result.get_attribute("data-status"),
        "label": result.inner_text().strip(),
        "checks": checks_in(verification),
        "details": check_details(verification),
    }


def event_item(page, event_id):
    return page.locator(f"li.event[data-event-id='{event_id}']")


def verify_inclusion(page, event_id):
    item = event_item(page, event_id)
    index = item.get_attribute("data-testid").removeprefix("event-")
    item.get_by_test_id(f"verify-inclusion-{index}").click()
    result = item.get_by_test_id(f"inclusion-result-{index}")
    expect(result).to_have_attribute("data-status", FINAL)
    return {
        "leaf_index": int(index),
        "result": result.get_attribute("data-status"),
        "label": result.inner_text().strip(),
        "checks": checks_in(item),
        "details": check_details(item),
    }


def shown_events(page):
    return page.locator("li.event").evaluate_all(
        """items => items.map(i => ({
            event_id: i.dataset.eventId,
            leaf_index: Number(i.dataset.testid.slice('event-'.length)),
            type: i.querySelector('[data-testid=event-type]').textContent,
            leaf_hash: i.querySelector('[data-testid=event-leaf-hash]').textContent
                .replace(/^leaf hash /, ''),
        }))"""
    )


def desktop(browser, args, report, console, shots):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console.watch(page, "desktop")
    page.goto(f"{args.url}/explorer")
    # Before a key: nothing but the public keys' origin is loaded.
    expect(page.get_by_test_id("origin")).to_have_text(re.compile(r"\S"))
    report["before_key"] = {
        "head_height": text(page, "head-height"),
        "blocks": len(block_heights(page)),
        "origin": page.get_by_test_id("origin").inner_text().strip(),
    }
    # A wrong key: the page says so, and shows nothing.
    page.get_by_test_id("api-key-input").fill("tc_not-a-real-key")
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("banner")).to_be_visible()
    report["wrong_key"] = {
        "banner": page.get_by_test_id("banner").inner_text().strip(),
        "head_height": text(page, "head-height"),
    }
    page.get_by_test_id("api-key-input").fill(args.key)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("head-height")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("banner")).to_be_hidden()
    expect(page.locator("[data-testid^='block-row-']").first).to_be_visible()
    report["head"] = {
        "height": text(page, "head-height"),
        "tree_size": text(page, "head-tree-size"),
        "root": text(page, "head-root"),
        "time": text(page, "head-time"),
        "key_id": text(page, "head-key-id"),
    }
    report["origin"] = page.get_by_test_id("origin").inner_text().strip()

    # Paging, newest first.
    pages = [block_heights(page)]
    older = page.get_by_test_id("blocks-older")
    while older.is_enabled() and len(pages) < 20:
        first = pages[-1][0]
        older.click()
        expect(page.get_by_test_id(f"block-row-{first}")).to_have_count(0)
        pages.append(block_heights(page))
    report["block_pages"] = pages
    report["older_enabled_at_end"] = older.is_enabled()
    page.get_by_test_id("blocks-newer").click()
    expect(page.get_by_test_id(f"block-row-{pages[-1][0]}")).to_have_count(0)
    report["after_newer"] = block_heights(page)

    # The key is kept for the tab (sessionStorage), not in the URL or a cookie.
    page.reload()
    expect(page.get_by_test_id("head-height")).to_have_text(re.compile(r"^\d+$"))
    report["after_reload"] = {
        "head_height": text(page, "head-height"),
        "session_key": page.evaluate("() => sessionStorage.getItem('tracechain.explorer.apiKey')") == args.key,
        "local_key": page.evaluate("() => localStorage.length"),
        "cookies": len(context.cookies()),
    }

    # A block: its events, then the checks.
    expect(page.get_by_test_id(f"block-row-{args.block}")).to_be_visible()
    open_block(page, args.block)
    report["block"] = {
        "height": text(page, "block-height"),
        "tree_size": text(page, "block-tree-size"),
        "root": text(page, "block-root"),
        "hash_in_url": page.evaluate("() => location.hash"),
        "events": shown_events(page),
    }
    report["verify_block"] = verify_block(page)
    report["verify_inclusion"] = verify_inclusion(page, args.event)
    page.screenshot(path=str(shots / "desktop-block.png"), full_page=True)

    page.get_by_test_id("verify-all").click()
    summary = page.get_by_test_id("verify-all-summary")
    expect(summary).to_have_attribute("data-status", re.compile("^(pass|fail)$"), timeout=60_000)
    report["verify_all"] = {
        "status": summary.get_attribute("data-status"),
        "summary": summary.inner_text().strip(),
        "results": page.locator("li.event").evaluate_all(
            "items => Object.fromEntries(items.map(i => [i.dataset.eventId,"
            " i.querySelector('[data-testid^=inclusion-result-]').dataset.status]))"
        ),
    }
    page.screenshot(path=str(shots / "desktop-verify-all.png"), full_page=True)

    # The page's canonicalizer on vectors the Rust side also canonicalizes.
    vectors = json.loads(Path(args.vectors).read_text())
    report["canonical"] = page.evaluate(
        "texts => texts.map(t => window.tracechainExplorer.canonicalize(JSON.parse(t)))", vectors
    )

    # The page's CSP enforces Trusted Types: a string never reaches innerHTML.
    # (In a tab of its own, whose console is not watched: Chromium logs the
    # refusal this probe provokes.)
    probe_page = context.new_page()
    probe_page.goto(f"{args.url}/explorer")
    report["innerhtml_with_string"] = probe_page.evaluate(
        """() => {
            const probe = document.createElement('div');
            try { probe.innerHTML = '<img src=x>'; return 'allowed'; }
            catch (e) { return e.name; }
        }"""
    )
    context.close()


def flip_hex(hex_text):
    """The same hash with its first nibble changed."""
    first = "0" if hex_text[0] != "0" else "1"
    return first + hex_text[1:]


def flip_base64(b64_text):
    raw = bytearray(base64.b64decode(b64_text))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def tamper(browser, args, report, console, shots):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    results = {}

    # 1. The proof's first path hash altered.
    def bad_proof(route):
        response = route.fetch()
        body = response.json()
        if body.get("path"):
            body["path"][0] = flip_hex(body["path"][0])
        route.fulfill(response=response, json=body)

    page = open_explorer(context, args, console, "tamper-proof", f"#block={args.block}")
    page.route(f"**/v1/events/{args.event}/proof*", bad_proof)
    expect(page.get_by_test_id("block-height")).to_have_text(str(args.block))
    results["proof_path"] = verify_inclusion(page, args.event)
    page.screenshot(path=str(shots / "tamper-proof.png"), full_page=True)
    page.close()

    # 2. The block's signature altered (header and its bytes intact).
    def bad_signature(route):
        response = route.fetch()
        body = response.json()
        body["signature"] = flip_base64(body["signature"])
        route.fulfill(response=response, json=body)

    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console.watch(page, "tamper-signature")
    page.route(f"**/v1/blocks/{args.block}", bad_signature)
    page.goto(f"{args.url}/explorer#block={args.block}")
    page.get_by_test_id("api-key-input").fill(args.key)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("block-height")).to_have_text(str(args.block))
    results["signature"] = verify_block(page)
    # An untampered proof cannot make up for an unsigned root.
    results["signature_inclusion"] = verify_inclusion(page, args.event)
    page.screenshot(path=str(shots / "tamper-signature.png"), full_page=True)
    page.close()

    # 3. The header object altered (its root), signed bytes intact.
    def bad_header(route):
        response = route.fetch()
        body = response.json()
        body["header"]["root"] = flip_hex(body["header"]["root"])
        route.fulfill(response=response, json=body)

    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console.watch(page, "tamper-header")
    page.route(f"**/v1/blocks/{args.block}", bad_header)
    page.goto(f"{args.url}/explorer#block={args.block}")
    page.get_by_test_id("api-key-input").fill(args.key)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("block-height")).to_have_text(str(args.block))
    results["header_object"] = verify_block(page)
    page.close()

    report["tamper"] = results
    context.close()


def phone(browser, args, report, console, shots):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = open_explorer(context, args, console, "phone")
    expect(page.get_by_test_id(f"block-row-{args.block}")).to_be_visible()
    page.screenshot(path=str(shots / "phone-start.png"))
    page.get_by_test_id(f"block-row-{args.block}").tap()
    expect(page.get_by_test_id("block-height")).to_have_text(str(args.block))
    # The block card is brought into view on a one-column layout.
    expect(page.get_by_test_id("block-height")).to_be_in_viewport()
    page.screenshot(path=str(shots / "phone-opened.png"))
    verified = verify_block(page)
    inclusion = verify_inclusion(page, args.event)
    page.screenshot(path=str(shots / "phone-block.png"), full_page=True)
    report["phone"] = {
        "overflow_px": page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"),
        "verify_block": verified["result"],
        "verify_inclusion": inclusion["result"],
    }
    context.close()


def main():
    args = parse_args()
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    report = {"ok": False}
    console = Console()
    status = 1
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            try:
                report["browser_version"] = browser.version
                desktop(browser, args, report, console, shots)
                tamper(browser, args, report, console, shots)
                phone(browser, args, report, console, shots)
            finally:
                browser.close()
        report["ok"] = True
        status = 0
    except Exception:  # noqa: BLE001 - reported to the Rust test whole
        report["error"] = traceback.format_exc()
    report["console_errors"] = console.errors
    text_out = json.dumps(report, indent=2, sort_keys=True)
    Path(args.out).write_text(text_out)
    print(text_out)
    return status


if __name__ == "__main__":
    sys.exit(main())
