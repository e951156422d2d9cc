#!/usr/bin/env python3
"""Drives the phone scan page (/scan) in Debian's Chromium with playwright.

A real browser, a real camera pipeline: Chromium's fake camera plays a y4m
video of a shipment label's QR code, the page decodes it (BarcodeDetector or
the bundled jsQR), signs the scan with its Ed25519 device key and sends it.
Run by the shipments service's browser test, which starts the service,
creates the carrier's API key and a shipment, makes the label's video, and
checks the JSON this script prints as its LAST stdout line against what the
service published:

    {"ok": true, "device_id": "<uuid>",
     "results": [{"kind", "status", "event_id", "nonce", "state", "detail"}, ...],
     "decoder": "jsqr" | "barcode-detector", "requests": ["POST /v1/scans", ...],
     "batch_requests": n, "private_key_extractable": false,
     "api_key_stored": false, "overflow_px": n, "overflow_px_360": n,
     "innerhtml_with_string": "TypeError", "console_errors": [...],
     "browser_version": "..."}

Steps (30 s each at most): open /scan; register the phone for the carrier
with its API key; scan `pickup` (accepted); go offline and scan
`checkpoint` twice (both queued in the page, nothing sent); go online (both
sent with POST /v1/scans/batch and accepted); scan `delivery` (accepted);
then a 360x640 viewport must not scroll sideways. Any step that cannot
happen ends the run with exit code 1, the reason on stderr and in the JSON
line (`"ok": false, "error": ...`). Console errors are reported, not judged.

Usage:
    python3 scan.py --url http://127.0.0.1:PORT --video label.y4m \\
        --carrier carrier-a --api-key KEY [--screenshot-dir DIR] \\
        [--chromium /usr/bin/chromium]

The video: a PNG of the label's QR code turned into a y4m with ffmpeg,
e.g. `tests/browser/make_qr_video.sh label.png label.y4m`, which runs

    ffmpeg -loop 1 -i label.png -t 1 -r 10 \\
      -vf "scale=640:480:force_original_aspect_ratio=decrease:flags=neighbor,\\
           pad=640:480:(ow-iw)/2:(oh-ih)/2:white,format=yuv420p" \\
      -f yuv4mpegpipe label.y4m

Never `playwright install`: the browser is the distribution's
(/usr/bin/chromium); Python playwright 1.65.2 only drives it.
"""

import argparse
import json
import sys
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
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
    # The camera: granted without a prompt, fed from the y4m file.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

STEP_MS = 30_000
expect.set_options(timeout=STEP_MS)

# Where the phone is (Amsterdam), as the browser's geolocation reports it.
GEOLOCATION = {"latitude": 52.37, "longitude": 4.89, "accuracy": 10}


class StepFailed(Exception):
    """A step that could not happen, with what the page showed."""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the shipments service's base URL")
    parser.add_argument("--video", required=True, help="y4m video of the label's QR code")
    parser.add_argument("--carrier", required=True, help="the carrier's tenant id")
    parser.add_argument("--api-key", required=True, help="the carrier's API key")
    parser.add_argument("--screenshot-dir", help="directory for screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args()


class Run:
    """The browser session and what it saw."""

    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/")
        self.shots = Path(args.screenshot_dir) if args.screenshot_dir else None
        if self.shots:
            self.shots.mkdir(parents=True, exist_ok=True)
        self.report = {"ok": False, "results": []}
        self.console = []
        self.requests = []
        self.page = None

    # -- helpers -----------------------------------------------------------

    def watch(self, page, name):
        def on_console(msg):
            if msg.type == "error":
                self.console.append(f"{name}: console: {msg.text}")

        def on_request(request):
            path = urlsplit(request.url).path
            if path.startswith("/v1/"):
                self.requests.append(f"{request.method} {path}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console.append(f"{name}: pageerror: {error}"))
        page.on("request", on_request)

    def shot(self, name):
        if self.shots and self.page and not self.page.is_closed():
            try:
                self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
            except PlaywrightError as error:
                print(f"screenshot {name} failed: {error}", file=sys.stderr)

    def status_line(self):
        try:
            return self.page.get_by_test_id("status").inner_text(timeout=2_000).strip()
        except PlaywrightError:
            return "(no status line)"

    def wait_js(self, what, script, arg, fail_on_error=False):
        """Waits for a JS predicate; on timeout, says what the page showed.

        With `fail_on_error`, an error on the page's status line ends the
        wait at once (the page sets it to "busy" when a tap is taken, so an
        error seen afterwards is this step's).
        """
        if fail_on_error:
            script = f"""arg => {{
                const status = document.getElementById('status');
                if (status.dataset.level === 'error') return {{ error: status.textContent }};
                const value = ({script})(arg);
                return value ? {{ value }} : false;
            }}"""
        try:
            result = self.page.wait_for_function(script, arg=arg, timeout=STEP_MS).json_value()
        except PlaywrightError as error:
            raise StepFailed(f"{what}: not within {STEP_MS // 1000} s; the page says: "
                             f"{self.status_line()!r} ({error.message.splitlines()[0]})") from None
        if not fail_on_error:
            return result
        if "error" in result:
            raise StepFailed(f"{what}: the page says: {result['error']!r}")
        return result["value"]

    def entry(self, nonce):
        return self.page.evaluate(
            """nonce => {
                const li = document.querySelector(`li.result[data-nonce="${nonce}"]`);
                if (!li) return null;
                return {
                    kind: li.dataset.kind, status: li.dataset.status,
                    event_id: li.dataset.eventId || null, nonce: li.dataset.nonce,
                    state: li.dataset.state || null, check: li.dataset.check || null,
                    detail: li.querySelector('[data-testid=result-detail]').textContent,
                };
            }""",
            nonce,
        )

    def wait_status(self, nonce, wanted, what):
        """Waits until the scan's entry has one of `wanted` statuses; returns the entry."""
        self.wait_js(
            what,
            """([nonce, wanted]) => {
                const li = document.querySelector(`li.result[data-nonce="${nonce}"]`);
                return li && wanted.includes(li.dataset.status) ? li.dataset.status : false;
            }""",
            [nonce, wanted],
        )
        return self.entry(nonce)

    # -- steps -------------------------------------------------------------

    def open(self, browser):
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            geolocation=GEOLOCATION,
            permissions=["geolocation", "camera"],
        )
        self.context = context
        page = context.new_page()
        page.set_default_timeout(STEP_MS)
        self.page = page
        self.watch(page, "scan")
        page.goto(f"{self.url}/scan")
        try:
            ready = page.evaluate("() => window.__scanPage.ready")
        except PlaywrightError as error:
            raise StepFailed(f"the page did not start: {error.message.splitlines()[0]}") from None
        if ready.get("registered"):
            raise StepFailed("a fresh browser profile already has a registered device")
        expect(page.get_by_test_id("register-card")).to_be_visible()

    def register(self):
        page = self.page
        page.get_by_test_id("carrier-id").fill(self.args.carrier)
        page.get_by_test_id("api-key").fill(self.args.api_key)
        page.get_by_test_id("register").tap()
        device_id = self.wait_js(
            "registration",
            "() => document.getElementById('device-id').textContent.trim() || false",
            None,
            fail_on_error=True,
        )
        self.report["device_id"] = device_id
        expect(page.get_by_test_id("register-card")).to_be_hidden()
        # The API key was for the registration only; the private key cannot leave.
        self.report["api_key_input_after"] = page.get_by_test_id("api-key").input_value()
        kept = page.evaluate(
            """async (apiKey) => {
                const inStorage = [localStorage, sessionStorage].some((s) =>
                    Object.keys(s).some((k) => (s.getItem(k) || '').includes(apiKey)));
                const db = await new Promise((resolve, reject) => {
                    const r = indexedDB.open('tracechain-scan');
                    r.onsuccess = () => resolve(r.result);
                    r.onerror = () => reject(r.error);
                });
                const all = (store) => new Promise((resolve, reject) => {
                    const r = db.transaction(store).objectStore(store).getAll();
                    r.onsuccess = () => resolve(r.result);
                    r.onerror = () => reject(r.error);
                });
                const key = await new Promise((resolve, reject) => {
                    const r = db.transaction('settings').objectStore('settings').get('key');
                    r.onsuccess = () => resolve(r.result);
                    r.onerror = () => reject(r.error);
                });
                const settings = await all('settings');
                db.close();
                return {
                    stored: inStorage || JSON.stringify(settings).includes(apiKey),
                    extractable: key.privateKey.extractable,
                    algorithm: key.privateKey.algorithm.name,
                    cookies: document.cookie.length,
                };
            }""",
            self.args.api_key,
        )
        self.report["api_key_stored"] = kept["stored"] or kept["cookies"] > 0
        self.report["private_key_extractable"] = kept["extractable"]
        self.report["key_algorithm"] = kept["algorithm"]
        self.shot("1-registered")

    def scan(self, kind, wanted):
        """One tap on Scan for `kind`; waits for the new entry to reach `wanted`."""
        page = self.page
        before = page.locator("#results li.result").count()
        page.get_by_test_id("kind").select_option(kind)
        expect(page.get_by_test_id("scan")).to_be_enabled()
        page.get_by_test_id("scan").tap()
        nonce = self.wait_js(
            f"{kind} scan: a new result entry",
            """n => {
                const items = document.querySelectorAll('#results li.result');
                return items.length > n ? items[0].dataset.nonce : false;
            }""",
            before,
            fail_on_error=True,
        )
        entry = self.wait_status(nonce, wanted, f"{kind} scan: status {'/'.join(wanted)}")
        # One tap, one scan: the camera is off again and no second entry came.
        expect(page.get_by_test_id("viewfinder")).to_be_hidden()
        if page.locator("#results li.result").count() != before + 1:
            raise StepFailed(f"{kind}: one tap made more than one scan")
        if entry["kind"] != kind:
            raise StepFailed(f"the entry is a {entry['kind']} scan, not {kind}")
        return entry

    def expect_accepted(self, entry):
        if entry["status"] != "accepted":
            raise StepFailed(f"the {entry['kind']} scan was {entry['status']}: "
                             f"[{entry.get('check')}] {entry['detail']}")
        self.report["results"].append(entry)

    def online_scan(self, kind, shot):
        entry = self.scan(kind, ["accepted", "refused"])
        self.expect_accepted(entry)
        self.shot(shot)

    def offline_scans(self):
        page = self.page
        self.context.set_offline(True)
        expect(page.get_by_test_id("network")).to_have_attribute("data-online", "false")
        sent_before = len(self.requests)
        queued = [self.scan("checkpoint", ["queued"]) for _ in range(2)]
        expect(page.get_by_test_id("queue-count")).to_have_attribute("data-count", "2")
        if len(self.requests) != sent_before:
            raise StepFailed(f"offline, the page still tried {self.requests[sent_before:]}")
        self.report["queued_seen"] = [q["status"] for q in queued]
        self.shot("3-offline-queued")

        self.context.set_offline(False)
        expect(page.get_by_test_id("network")).to_have_attribute("data-online", "true")
        for q in queued:
            entry = self.wait_status(q["nonce"], ["accepted", "refused"], "a queued checkpoint scan sent")
            self.expect_accepted(entry)
        expect(page.get_by_test_id("queue-count")).to_have_attribute("data-count", "0")
        self.shot("4-synced")

    def phone_checks(self):
        page = self.page
        overflow = "() => document.documentElement.scrollWidth - window.innerWidth"
        self.report["overflow_px"] = page.evaluate(overflow)
        page.set_viewport_size({"width": 360, "height": 640})
        page.evaluate("() => window.scrollTo(0, 0)")
        self.report["overflow_px_360"] = page.evaluate(overflow)
        box = page.get_by_test_id("scan").bounding_box()
        self.report["scan_button_px"] = {"width": box["width"], "height": box["height"]}
        self.shot("6-360x640")

    def trusted_types_probe(self):
        # A tab of its own, whose console is not watched: Chromium logs the
        # refusal this probe provokes.
        probe = self.context.new_page()
        probe.goto(f"{self.url}/scan")
        probe.evaluate("() => window.__scanPage.ready")
        self.report["innerhtml_with_string"] = probe.evaluate(
            """() => {
                const probe = document.createElement('div');
                try { probe.innerHTML = '<img src=x>'; return 'allowed'; }
                catch (e) { return e.name; }
            }"""
        )
        probe.close()

    def run(self):
        args = self.args
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={args.video}"],
            )
            try:
                self.report["browser_version"] = browser.version
                self.open(browser)
                self.register()
                self.report["decoder"] = self.page.evaluate("() => window.__scanPage.decoder()")
                self.online_scan("pickup", "2-pickup")
                self.offline_scans()
                self.online_scan("delivery", "5-delivery")
                self.phone_checks()
                self.trusted_types_probe()
                self.report["ok"] = True
            except Exception:
                self.shot("failure")
                raise
            finally:
                self.report["requests"] = self.requests
                self.report["batch_requests"] = self.requests.count("POST /v1/scans/batch")
                self.report["console_errors"] = self.console
                browser.close()


def main():
    args = parse_args()
    if not Path(args.video).is_file():
        print(f"scan.py: no video at {args.video}", file=sys.stderr)
        print(json.dumps({"ok": False, "error": f"no video at {args.video}"}))
        return 1
    run = Run(args)
    status = 1
    try:
        run.run()
        status = 0
    except StepFailed as error:
        run.report["error"] = str(error)
    except Exception:  # noqa: BLE001 - reported whole to the Rust test
        run.report["error"] = traceback.format_exc()
    if status != 0:
        print(f"scan.py failed: {run.report['error']}", file=sys.stderr)
    # The last stdout line is the report.
    print(json.dumps(run.report, sort_keys=True), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
