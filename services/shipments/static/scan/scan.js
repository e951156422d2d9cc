// tracechain scan page: a carrier's phone scans shipment labels and sends
// signed scans to the shipments service.
//
//   * The phone's identity is an Ed25519 key pair made here with WebCrypto;
//     the private key is not extractable and lives in IndexedDB. It is
//     registered once (POST /v1/carriers/{carrier}/devices) with the
//     carrier's API key, which is used for that request only and never kept.
//   * One tap on "Scan" opens the camera until ONE QR code is read (the
//     browser's BarcodeDetector when it reads QR codes, else the bundled
//     jsQR), then closes it. The scan is signed over its RFC 8785 canonical
//     bytes (without `signature`) and stored in IndexedDB before anything
//     is sent, so no scan is lost to a dead network or a closed tab.
//   * Online, a scan goes to POST /v1/scans. Without a connection (or on a
//     503) it waits, signed, in the queue, and the queue is sent in scan
//     order with POST /v1/scans/batch when the browser is back online and
//     every 10 s while anything waits. A scan leaves the queue only with a
//     definite answer: accepted, or refused with a 4xx problem.
//
// Text from the server or the camera only ever reaches the page through
// textContent or text nodes (the CSP enforces Trusted Types, so innerHTML
// with a string would throw). Results carry data-status, data-nonce,
// data-event-id and data-testid attributes for the browser tests, and
// `window.__scanPage.ready` settles once the page has loaded its state.
'use strict';

(() => {
  const DB_NAME = 'tracechain-scan';
  const DB_VERSION = 1;
  const KINDS = ['pickup', 'handover', 'checkpoint', 'delivery', 'exception'];
  /** How long to wait for a position before falling back to the GLN. */
  const GEO_TIMEOUT_MS = 5000;
  /** The camera closes by itself when nothing is read for this long. */
  const CAMERA_IDLE_MS = 60000;
  /** Pause between two decoding attempts on camera frames. */
  const DECODE_EVERY_MS = 120;
  /** Frames are scaled down to at most this many pixels on the long side for jsQR. */
  const DECODE_MAX_SIDE = 800;
  /** While scans are queued, a send is tried this often. */
  const SYNC_EVERY_MS = 10000;
  /** Scans per batch request. */
  const BATCH_MAX = 50;
  const MAX_NOTE_CHARS = 500;
  const MAX_LABEL_CHARS = 100;
  // A tenant id (as the service parses it): a-z, 0-9 and '-', 1 to 64, no leading '-'.
  const TENANT_ID = /^(?!-)[a-z0-9-]{1,64}$/;
  const encoder = new TextEncoder();

  // ---------------------------------------------------------------------
  // RFC 8785 (JCS) canonical JSON, for the values this page builds.
  // ---------------------------------------------------------------------

  /** The RFC 8785 canonical text of `value`. */
  function canonicalize(value) {
    if (value === null) return 'null';
    switch (typeof value) {
      case 'boolean':
        return value ? 'true' : 'false';
      case 'number':
        // ES Number-to-String is what RFC 8785 §3.2.2.3 prescribes, and
        // JSON.stringify of a finite number is exactly that (-0 gives "0").
        if (!Number.isFinite(value)) throw new Error('NaN or infinity has no JSON form');
        return JSON.stringify(value);
      case 'string':
        // JSON.stringify escapes strings as RFC 8785 §3.2.2.2 requires.
        return JSON.stringify(value);
      case 'object': {
        if (Array.isArray(value)) return '[' + value.map(canonicalize).join(',') + ']';
        // The default sort compares UTF-16 code units (RFC 8785 §3.2.3).
        const names = Object.keys(value).sort();
        return '{' + names.map((n) => JSON.stringify(n) + ':' + canonicalize(value[n])).join(',') + '}';
      }
      default:
        // `undefined` included: a member is either present with a value or absent.
        throw new Error('a ' + typeof value + ' has no JSON form');
    }
  }

  // ---------------------------------------------------------------------
  // Bytes and keys.
  // ---------------------------------------------------------------------

  function toBase64(bytes) {
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  }

  /** 16 random bytes as unpadded base64url: 22 characters from A-Z a-z 0-9 - _. */
  function newNonce() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function subtle() {
    if (!window.isSecureContext || !globalThis.crypto || !crypto.subtle) {
      throw new UserError('This page needs a secure connection (HTTPS) to sign scans.');
    }
    return crypto.subtle;
  }

  /** The device's key pair: loaded, or made once and stored (private key not extractable). */
  async function deviceKey() {
    const stored = await settingGet('key');
    if (stored && stored.privateKey && stored.publicKey) return stored;
    let pair;
    try {
      pair = await subtle().generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError('This browser cannot make Ed25519 keys (' + messageOf(error) + '); use a current Chrome, Safari or Firefox.');
    }
    await settingPut('key', pair);
    return pair;
  }

  /** The scan with `signature`: Ed25519 over the canonical bytes of `body`. */
  async function signScan(body) {
    const pair = await deviceKey();
    const bytes = encoder.encode(canonicalize(body));
    const signature = new Uint8Array(await subtle().sign({ name: 'Ed25519' }, pair.privateKey, bytes));
    return Object.assign({}, body, { signature: toBase64(signature) });
  }

  // ---------------------------------------------------------------------
  // IndexedDB: `settings` (key → value: the key pair, the device, the GLN)
  // and `queue` (signed scans not yet answered, by nonce).
  // ---------------------------------------------------------------------

  let db = null;

  function openDb() {
    return new Promise((resolve, reject) => {
      if (!window.indexedDB) {
        reject(new UserError('This browser keeps no local database (IndexedDB), which the scan page needs.'));
        return;
      }
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const database = request.result;
        if (!database.objectStoreNames.contains('settings')) database.createObjectStore('settings');
        if (!database.objectStoreNames.contains('queue')) database.createObjectStore('queue', { keyPath: 'nonce' });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new UserError('The local database is in use by another tab of this page: close it and reload.'));
    });
  }

  /** Runs `fn(store)` in a transaction; resolves with its request's result once committed. */
  function inStore(name, mode, fn) {
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(name, mode);
      let result;
      const request = fn(transaction.objectStore(name));
      if (request) {
        request.onsuccess = () => {
          result = request.result;
        };
      }
      transaction.oncomplete = () => resolve(result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error || new Error('the database transaction was aborted'));
    });
  }

  const settingGet = (key) => inStore('settings', 'readonly', (s) => s.get(key));
  const settingPut = (key, value) => inStore('settings', 'readwrite', (s) => s.put(value, key));
  const settingDelete = (key) => inStore('settings', 'readwrite', (s) => s.delete(key));
  const queuePut = (record) => inStore('queue', 'readwrite', (s) => s.put(record));
  const queueDelete = (nonce) => inStore('queue', 'readwrite', (s) => s.delete(nonce));

  /** Queued scans, oldest first (the order they were scanned and must be sent in). */
  async function queueAll() {
    const records = (await inStore('queue', 'readonly', (s) => s.getAll())) || [];
    return records.sort((a, b) => a.queued_at - b.queued_at || (a.nonce < b.nonce ? -1 : 1));
  }

  // ---------------------------------------------------------------------
  // DOM: elements built from text only.
  // ---------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** `<tag>` with attributes; children are nodes or strings (text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  /** An error whose message is meant for the person holding the phone. */
  class UserError extends Error {}
  /** The scan was stopped (Cancel, the page hidden). */
  class Cancelled extends Error {}
  /** fetch itself failed: no connection. */
  class NetworkError extends Error {}

  function messageOf(error) {
    return String((error && error.message) || error);
  }

  function banner(text) {
    const node = $('banner');
    node.textContent = text || '';
    node.hidden = !text;
  }

  /** The status line under the Scan button; `level`: info, busy, ok or error. */
  function status(text, level = 'info') {
    const node = $('status');
    node.textContent = text;
    node.dataset.level = level;
  }

  function shortCode(code) {
    const sscc = /\/00\/(\d{18})(?:[/?#]|$)/.exec(code);
    if (sscc) return 'SSCC ' + sscc[1];
    return code.length > 80 ? code.slice(0, 77) + '…' : code;
  }

  function timeOf(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString();
  }

  // ---------------------------------------------------------------------
  // The result list: one entry per scan, by nonce.
  // ---------------------------------------------------------------------

  const LABELS = { sending: 'SENDING', queued: 'QUEUED', accepted: 'ACCEPTED', refused: 'REFUSED' };
  const entries = new Map();

  function addEntry(scan, entryStatus, detail) {
    const badge = el('span', { class: 'badge', 'data-testid': 'result-status' });
    const text = el('div', { class: 'result-detail', 'data-testid': 'result-detail' });
    const item = el('li', {
      class: 'result',
      'data-testid': 'result',
      'data-nonce': scan.nonce,
      'data-kind': scan.kind,
      'data-event-id': '',
      'data-state': '',
    },
    el('div', { class: 'result-head' },
      badge,
      el('span', { class: 'result-kind', 'data-testid': 'result-kind' }, scan.kind + (scan.to_party ? ' → ' + scan.to_party : '')),
      el('time', { class: 'result-time', datetime: scan.scanned_at }, timeOf(scan.scanned_at))),
    el('div', { class: 'result-code mono', 'data-testid': 'result-code', title: scan.code }, shortCode(scan.code)),
    text);
    const entry = { item, badge, text };
    entries.set(scan.nonce, entry);
    $('results').prepend(item);
    $('results-empty').hidden = true;
    setEntry(scan.nonce, entryStatus, { detail });
    return entry;
  }

  /** Updates an entry: its status, and what the service said. */
  function setEntry(nonce, entryStatus, facts = {}) {
    const entry = entries.get(nonce);
    if (!entry) return;
    entry.item.dataset.status = entryStatus;
    entry.badge.textContent = LABELS[entryStatus] || entryStatus;
    if (facts.eventId) entry.item.dataset.eventId = facts.eventId;
    if (facts.state) entry.item.dataset.state = facts.state;
    if (facts.check) entry.item.dataset.check = facts.check;
    if (facts.detail !== undefined) entry.text.textContent = facts.detail || '';
  }

  function markAccepted(nonce, answer) {
    const body = answer && typeof answer === 'object' ? answer : {};
    const shipmentState = typeof body.state === 'string' ? body.state : '';
    setEntry(nonce, 'accepted', {
      eventId: typeof body.event_id === 'string' ? body.event_id : '',
      state: shipmentState,
      detail: shipmentState ? 'Recorded · shipment now ' + shipmentState.replace(/_/g, ' ') : 'Recorded',
    });
  }

  function markRefused(nonce, problem) {
    // A replayed nonce after a send whose answer was lost means the service has it already.
    const replay = problem.check === 'nonce'
      ? ' (If an earlier send of this scan lost its answer, the service recorded it then.)'
      : '';
    setEntry(nonce, 'refused', {
      check: problem.check || '',
      detail: (problem.check ? '[' + problem.check + '] ' : '') + problem.detail + replay,
    });
  }

  // ---------------------------------------------------------------------
  // The API.
  // ---------------------------------------------------------------------

  /** POSTs JSON; resolves with the answer whatever its status, throws NetworkError without one. */
  async function post(path, body, headers = {}) {
    let response;
    let text;
    try {
      response = await fetch(path, {
        method: 'POST',
        headers: Object.assign({
          Accept: 'application/json, application/problem+json',
          'Content-Type': 'application/json',
        }, headers),
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
      text = await response.text();
    } catch (error) {
      throw new NetworkError('no connection to the service (' + messageOf(error) + ')');
    }
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      // Not JSON (a proxy's error page): the status says enough.
    }
    return { status: response.status, ok: response.ok, statusText: response.statusText, json };
  }

  /** A problem+json answer (or any error answer) as {status, title, detail, check}. */
  function problemOf(answer) {
    const p = answer.json && typeof answer.json === 'object' ? answer.json : {};
    return problemFrom(p, answer.status, answer.statusText);
  }

  function problemFrom(p, statusCode, statusText) {
    const code = typeof p.status === 'number' ? p.status : statusCode;
    const title = typeof p.title === 'string' ? p.title : (statusText || 'HTTP ' + code);
    return {
      status: code,
      title,
      detail: typeof p.detail === 'string' && p.detail ? p.detail : title + ' (' + code + ')',
      check: typeof p.check === 'string' ? p.check : null,
    };
  }

  /** Worth trying again later: the service is busy or down, not saying no. */
  function transient(statusCode) {
    return !statusCode || statusCode === 408 || statusCode === 429 || statusCode >= 500;
  }

  // ---------------------------------------------------------------------
  // Registration.
  // ---------------------------------------------------------------------

  const state = {
    device: null, // {id, carrier_id, label, public_key, registered_at}
    busy: false, // a scan is being taken or sent
    queueCount: 0,
    inflight: new Set(), // nonces being sent right now
    syncing: null, // the running sync's promise
    syncAgain: false, // something was queued while a sync ran
    decoder: null, // Promise of {name, detect(video)}
  };

  function defaultLabel() {
    const data = navigator.userAgentData;
    let browser = '';
    let platform = '';
    if (data) {
      platform = data.platform || '';
      const brands = (data.brands || []).filter((b) => !/not.?a.?brand/i.test(b.brand));
      const brand = brands.find((b) => b.brand !== 'Chromium') || brands[0];
      if (brand) browser = brand.brand + ' ' + brand.version;
    }
    if (!browser) {
      const ua = navigator.userAgent || '';
      const match = /(Firefox|Edg|OPR|Chrome|Version)\/(\d+)/.exec(ua);
      browser = match ? (match[1] === 'Version' ? 'Safari' : match[1]) + ' ' + match[2] : 'browser';
      if (/iPhone|iPad/.test(ua)) platform = 'iOS';
      else if (/Android/.test(ua)) platform = 'Android';
    }
    return ('Scan page, ' + browser + (platform ? ' on ' + platform : '')).slice(0, MAX_LABEL_CHARS);
  }

  function showDevice() {
    const device = state.device;
    $('register-card').hidden = !!device;
    $('device-facts').hidden = !device;
    $('forget').hidden = !device;
    $('scan').disabled = !device || state.busy;
    $('device-id').textContent = device ? device.id : '';
    $('device-carrier').textContent = device ? device.carrier_id : '';
    $('device-name').textContent = device ? device.label : '';
    $('device-key').textContent = device ? device.public_key : '';
    if (!device) status('Register this phone to start scanning.', 'info');
  }

  async function onRegister(event) {
    event.preventDefault();
    banner('');
    const carrier = $('carrier-id').value.trim();
    const apiKey = $('api-key').value.trim();
    const label = $('device-label').value.trim();
    if (!TENANT_ID.test(carrier)) {
      status('The carrier id is 1 to 64 characters: a-z, 0-9 and "-" (not first).', 'error');
      $('carrier-id').focus();
      return;
    }
    if (!apiKey) {
      status('Enter the carrier\'s API key.', 'error');
      $('api-key').focus();
      return;
    }
    const labelChars = [...label].length;
    if (labelChars < 1 || labelChars > MAX_LABEL_CHARS) {
      status('The phone\'s name is 1 to ' + MAX_LABEL_CHARS + ' characters.', 'error');
      $('device-label').focus();
      return;
    }
    const button = $('register');
    button.disabled = true;
    status('Registering this phone…', 'busy');
    try {
      const pair = await deviceKey();
      const publicKey = toBase64(new Uint8Array(await subtle().exportKey('raw', pair.publicKey)));
      const answer = await post('v1/carriers/' + encodeURIComponent(carrier) + '/devices',
        { public_key: publicKey, label }, { Authorization: 'Bearer ' + apiKey });
      if (!answer.ok) {
        const problem = problemOf(answer);
        const hint = answer.status === 401 || answer.status === 403 ? ' Check the carrier id and its API key.' : '';
        const detail = /[.!?]$/.test(problem.detail) ? problem.detail : problem.detail + '.';
        throw new UserError('Registration refused: ' + detail + hint);
      }
      const body = answer.json || {};
      if (typeof body.id !== 'string' || !body.id) throw new UserError('The service answered without a device id.');
      if (body.public_key && body.public_key !== publicKey) {
        throw new UserError('The service registered another public key than this phone\'s.');
      }
      const device = {
        id: body.id,
        carrier_id: typeof body.carrier_id === 'string' ? body.carrier_id : carrier,
        label: typeof body.label === 'string' ? body.label : label,
        public_key: publicKey,
        registered_at: typeof body.registered_at === 'string' ? body.registered_at : new Date().toISOString(),
      };
      await settingPut('device', device);
      state.device = device;
      // The API key was for this request only.
      $('api-key').value = '';
      showDevice();
      status('Phone registered for ' + device.carrier_id + '. Ready to scan.', 'ok');
    } catch (error) {
      status(error instanceof NetworkError ? 'No connection: registration needs the service. Try again when online.' : messageOf(error), 'error');
    } finally {
      button.disabled = false;
    }
  }

  async function onForget() {
    if (!state.device) return;
    const queued = state.queueCount;
    const question = 'Forget this phone\'s registration and its key? It will have to be registered again.' +
      (queued ? ' The ' + queued + ' queued scans stay and are still sent.' : '');
    if (!window.confirm(question)) return;
    await settingDelete('device');
    await settingDelete('key');
    state.device = null;
    showDevice();
  }

  // ---------------------------------------------------------------------
  // Settings: the GLN of the place.
  // ---------------------------------------------------------------------

  /** Why `text` is not a GLN (13 digits, GS1 check digit), or '' when it is one. */
  function glnProblem(text) {
    if (!/^\d{13}$/.test(text)) return 'a GLN is 13 digits';
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += Number(text[i]) * (i % 2 === 0 ? 1 : 3);
    const check = (10 - (sum % 10)) % 10;
    return Number(text[12]) === check ? '' : 'the check digit is ' + text[12] + ', expected ' + check;
  }

  async function onGlnChange() {
    const input = $('gln');
    const value = input.value.trim();
    const problem = value ? glnProblem(value) : '';
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
    if (problem) {
      $('gln-status').textContent = 'Not saved: ' + problem + '.';
      return;
    }
    try {
      if (value) await settingPut('gln', value);
      else await settingDelete('gln');
      $('gln-status').textContent = value ? 'Saved on this phone.' : 'No GLN: scans need the phone\'s location.';
    } catch (error) {
      $('gln-status').textContent = 'Not saved: ' + messageOf(error);
    }
  }

  // ---------------------------------------------------------------------
  // Location.
  // ---------------------------------------------------------------------

  const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;

  /** Resolves with {location} or {error}; never rejects, never waits much over GEO_TIMEOUT_MS. */
  function currentLocation() {
    return new Promise((resolve) => {
      if (!navigator.geolocation) {
        resolve({ error: 'this browser gives no location' });
        return;
      }
      const timer = setTimeout(() => resolve({ error: 'no position within ' + GEO_TIMEOUT_MS / 1000 + ' s' }), GEO_TIMEOUT_MS + 1000);
      navigator.geolocation.getCurrentPosition(
        (position) => {
          clearTimeout(timer);
          const c = position.coords;
          // 1e-7 degrees is about a centimetre; short decimals parse back exactly anywhere.
          const location = { lat: round(c.latitude, 7), lon: round(c.longitude, 7), accuracy_m: round(c.accuracy, 1) };
          const usable = Number.isFinite(location.lat) && Math.abs(location.lat) <= 90 &&
            Number.isFinite(location.lon) && Math.abs(location.lon) <= 180 &&
            Number.isFinite(location.accuracy_m) && location.accuracy_m >= 0 && location.accuracy_m <= 100000;
          resolve(usable ? { location } : { error: 'the position is too imprecise' });
        },
        (error) => {
          clearTimeout(timer);
          const why = { 1: 'location access is not allowed', 2: 'the position is unavailable', 3: 'no position in time' };
          resolve({ error: why[error.code] || messageOf(error) });
        },
        { enableHighAccuracy: true, timeout: GEO_TIMEOUT_MS, maximumAge: 30000 },
      );
    });
  }

  async function locationDenied() {
    try {
      const permission = await navigator.permissions.query({ name: 'geolocation' });
      return permission.state === 'denied';
    } catch (_) {
      return false;
    }
  }

  const NO_LOCATION = 'No location for the scan: allow this page to use the phone\'s location, or enter the GLN of this place in Settings.';

  // ---------------------------------------------------------------------
  // Camera and QR decoding.
  // ---------------------------------------------------------------------

  /** The decoder: BarcodeDetector when it reads QR codes, else jsQR (`?decoder=jsqr` forces it). */
  function decoder() {
    if (!state.decoder) state.decoder = chooseDecoder();
    return state.decoder;
  }

  async function chooseDecoder() {
    const forced = new URLSearchParams(location.search).get('decoder');
    if (forced !== 'jsqr' && 'BarcodeDetector' in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes('qr_code')) {
          const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
          document.body.dataset.decoder = 'barcode-detector';
          return {
            name: 'barcode-detector',
            async detect(video) {
              const codes = await detector.detect(video);
              const found = codes.find((c) => typeof c.rawValue === 'string' && c.rawValue);
              return found ? found.rawValue : null;
            },
          };
        }
      } catch (_) {
        // Present but unusable: jsQR below.
      }
    }
    if (typeof window.jsQR !== 'function') throw new UserError('No QR decoder is available in this browser.');
    const canvas = document.createElement('canvas');
    const context = canvas.getContext('2d', { willReadFrequently: true });
    document.body.dataset.decoder = 'jsqr';
    return {
      name: 'jsqr',
      async detect(video) {
        const scale = Math.min(1, DECODE_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
        const width = Math.max(1, Math.round(video.videoWidth * scale));
        const height = Math.max(1, Math.round(video.videoHeight * scale));
        if (canvas.width !== width) canvas.width = width;
        if (canvas.height !== height) canvas.height = height;
        context.drawImage(video, 0, 0, width, height);
        const image = context.getImageData(0, 0, width, height);
        const code = window.jsQR(image.data, width, height, { inversionAttempts: 'attemptBoth' });
        return code && code.data ? code.data : null;
      },
    };
  }

  const camera = { stream: null, cancel: null };

  function stopCamera() {
    if (camera.stream) {
      for (const track of camera.stream.getTracks()) track.stop();
      camera.stream = null;
    }
    const video = $('video');
    video.pause();
    video.srcObject = null;
    $('viewfinder').hidden = true;
  }

  function cameraProblem(error) {
    switch (error && error.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return 'The camera is not allowed: allow it for this page, then tap Scan again.';
      case 'NotFoundError':
      case 'OverconstrainedError':
        return 'This phone has no camera the page can use.';
      case 'NotReadableError':
        return 'The camera is busy (another app uses it?). Close it and tap Scan again.';
      default:
        return 'The camera could not start: ' + messageOf(error);
    }
  }

  /** Opens the camera, reads ONE QR code, closes the camera; resolves with the code's text. */
  async function readOneCode() {
    const reader = await decoder();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new UserError('This browser cannot use the camera here (the page needs HTTPS).');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      throw new UserError(cameraProblem(error));
    }
    camera.stream = stream;
    const video = $('video');
    video.srcObject = stream;
    $('viewfinder').hidden = false;
    try {
      await video.play();
    } catch (_) {
      // A muted inline video may play without a gesture; frames arrive regardless.
    }
    try {
      return await new Promise((resolve, reject) => {
        const deadline = Date.now() + CAMERA_IDLE_MS;
        let done = false;
        const finish = (fn, value) => {
          if (!done) {
            done = true;
            fn(value);
          }
        };
        camera.cancel = (why) => finish(reject, new Cancelled(why));
        const tick = async () => {
          if (done) return;
          if (Date.now() > deadline) {
            finish(reject, new UserError('No QR code read in ' + CAMERA_IDLE_MS / 1000 + ' s, so the camera is off. Tap Scan to try again.'));
            return;
          }
          try {
            if (video.readyState >= 2 && video.videoWidth > 0) {
              const text = await reader.detect(video);
              if (text) {
                finish(resolve, text);
                return;
              }
            }
          } catch (error) {
            finish(reject, new UserError('The QR decoder failed: ' + messageOf(error)));
            return;
          }
          setTimeout(tick, DECODE_EVERY_MS);
        };
        tick();
      });
    } finally {
      camera.cancel = null;
      stopCamera();
    }
  }

  // ---------------------------------------------------------------------
  // Scanning.
  // ---------------------------------------------------------------------

  /** What the form asks for, checked: {kind, to_party?, note?, gln?}. */
  function readScanForm() {
    const kind = $('kind').value;
    if (!KINDS.includes(kind)) throw new UserError('Pick what happens.');
    const intent = { kind };
    if (kind === 'handover') {
      const party = $('to-party').value.trim();
      if (!party) throw new UserError('A handover names the party it goes to.');
      if (!TENANT_ID.test(party)) throw new UserError('The receiving party\'s id is a-z, 0-9 and "-" (not first), at most 64.');
      intent.to_party = party;
    }
    const note = $('note').value.trim();
    if (note) {
      if ([...note].length > MAX_NOTE_CHARS) throw new UserError('The note is at most ' + MAX_NOTE_CHARS + ' characters.');
      intent.note = note;
    }
    const gln = $('gln').value.trim();
    if (gln) {
      const problem = glnProblem(gln);
      if (problem) throw new UserError('The GLN in Settings is wrong: ' + problem + '.');
      intent.gln = gln;
    }
    return intent;
  }

  function setBusy(busy) {
    state.busy = busy;
    $('scan').disabled = busy || !state.device;
  }

  async function onScan(event) {
    event.preventDefault();
    if (state.busy) return;
    banner('');
    const device = state.device;
    if (!device) {
      status('Register this phone first.', 'error');
      return;
    }
    let intent;
    try {
      intent = readScanForm();
    } catch (error) {
      status(messageOf(error), 'error');
      return;
    }
    setBusy(true);
    status('Starting the camera…', 'busy');
    try {
      subtle();
      // Ask for the position now: it is found while the camera looks.
      const locating = currentLocation();
      if (!intent.gln && (await locationDenied())) throw new UserError(NO_LOCATION);
      status('Point the camera at the label\'s QR code.', 'busy');
      const code = await readOneCode();
      const scannedAt = new Date().toISOString();
      status('Read ' + shortCode(code) + '. Getting the location…', 'busy');
      const where = await locating;
      const body = { code, kind: intent.kind, device_id: device.id, scanned_at: scannedAt };
      if (where.location) body.location = where.location;
      else if (intent.gln) body.gln = intent.gln;
      else throw new UserError(NO_LOCATION + ' (' + where.error + ')');
      body.nonce = newNonce();
      if (intent.to_party) body.to_party = intent.to_party;
      if (intent.note) body.note = intent.note;
      const scan = await signScan(body);
      $('note').value = '';
      await submit(scan);
    } catch (error) {
      if (error instanceof Cancelled) status(error.message || 'Scan cancelled.', 'info');
      else status(messageOf(error), 'error');
    } finally {
      setBusy(false);
    }
  }

  /**
   * Keeps the signed scan in the queue first, then sends it: straight away
   * when nothing older waits, else after the older ones (scan order matters
   * to the shipment's state machine).
   */
  async function submit(scan) {
    const nonce = scan.nonce;
    state.inflight.add(nonce); // no periodic sync may pick it up meanwhile
    try {
      await queuePut({ nonce, scan, queued_at: Date.now() });
      await refreshQueue();
      if (!navigator.onLine) {
        addEntry(scan, 'queued', 'Offline: will be sent when the phone is back online.');
        status('Offline: the ' + scan.kind + ' scan is saved and will be sent when the phone is back online.', 'busy');
        return;
      }
      if (state.queueCount > 1 || state.syncing) {
        addEntry(scan, 'queued', 'Waiting for the scans queued before it.');
        status('The ' + scan.kind + ' scan goes after the scans queued before it.', 'busy');
        state.inflight.delete(nonce);
        sync();
        return;
      }
      addEntry(scan, 'sending', 'Sending…');
      status('Sending the ' + scan.kind + ' scan…', 'busy');
      await sendOne({ nonce, scan });
      await refreshQueue();
    } finally {
      state.inflight.delete(nonce);
    }
  }

  /** The status line for a scan's answer (not while the camera looks for the next one). */
  function reportResult(nonce) {
    const entry = entries.get(nonce);
    if (!entry || camera.stream) return;
    const item = entry.item;
    const kind = item.dataset.kind;
    if (item.dataset.status === 'accepted') {
      status('Accepted: ' + kind + (item.dataset.state ? ', shipment now ' + item.dataset.state.replace(/_/g, ' ') : '') + '.', 'ok');
    } else if (item.dataset.status === 'refused') {
      status('Refused: ' + entry.text.textContent, 'error');
    } else {
      status('The ' + kind + ' scan is queued: ' + entry.text.textContent, 'busy');
    }
  }

  /** Sends one scan with POST /v1/scans; true when it got a definite answer (and left the queue). */
  async function sendOne(record) {
    const nonce = record.nonce;
    let answer;
    try {
      answer = await post('v1/scans', record.scan);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      setEntry(nonce, 'queued', { detail: 'No connection: will be sent again.' });
      reportResult(nonce);
      return false;
    }
    if (answer.ok) {
      await queueDelete(nonce);
      markAccepted(nonce, answer.json);
      reportResult(nonce);
      return true;
    }
    const problem = problemOf(answer);
    if (transient(answer.status)) {
      setEntry(nonce, 'queued', { detail: 'The service is busy (' + answer.status + '): will be sent again.' });
      reportResult(nonce);
      return false;
    }
    await queueDelete(nonce);
    markRefused(nonce, problem);
    reportResult(nonce);
    return true;
  }

  // ---------------------------------------------------------------------
  // The offline queue.
  // ---------------------------------------------------------------------

  async function refreshQueue() {
    const count = (await inStore('queue', 'readonly', (s) => s.count())) || 0;
    state.queueCount = count;
    const node = $('queue-count');
    node.dataset.count = String(count);
    node.textContent = count + ' queued';
    $('sync-now').hidden = count === 0;
  }

  /** Sends the queue (at most one run at a time; a call during a run asks for another). */
  function sync() {
    if (state.syncing) {
      state.syncAgain = true;
      return state.syncing;
    }
    state.syncing = (async () => {
      do {
        state.syncAgain = false;
        await syncOnce();
      } while (state.syncAgain && navigator.onLine);
    })()
      .catch((error) => syncStatus('Sending queued scans failed: ' + messageOf(error), 'error'))
      .finally(() => {
        state.syncing = null;
        refreshQueue().catch(() => {});
      });
    return state.syncing;
  }

  /** A status line from a background send: never over the camera's prompt. */
  function syncStatus(text, level) {
    if (!camera.stream) status(text, level);
  }

  async function syncOnce() {
    const counts = { accepted: 0, refused: 0 };
    let sent = false;
    for (;;) {
      if (!navigator.onLine) break;
      const waiting = (await queueAll()).filter((r) => !state.inflight.has(r.nonce));
      if (waiting.length === 0) break;
      const chunk = waiting.slice(0, BATCH_MAX);
      for (const r of chunk) state.inflight.add(r.nonce);
      let progressed;
      try {
        sent = true;
        progressed = await sendBatch(chunk, counts);
      } finally {
        for (const r of chunk) state.inflight.delete(r.nonce);
      }
      await refreshQueue();
      if (!progressed) break;
    }
    if (sent && (counts.accepted || counts.refused)) {
      const left = state.queueCount;
      syncStatus('Sent queued scans: ' + counts.accepted + ' accepted, ' + counts.refused + ' refused' +
        (left ? ', ' + left + ' still queued.' : '.'), counts.refused ? 'error' : 'ok');
    }
  }

  /** One POST /v1/scans/batch; true when at least one scan got a definite answer. */
  async function sendBatch(chunk, counts) {
    for (const r of chunk) setEntry(r.nonce, 'sending', { detail: 'Sending…' });
    const requeue = (detail) => {
      for (const r of chunk) setEntry(r.nonce, 'queued', { detail });
    };
    let answer;
    try {
      answer = await post('v1/scans/batch', { scans: chunk.map((r) => r.scan) });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      requeue('No connection: will be sent again.');
      syncStatus(chunk.length + ' scans queued: no connection yet.', 'busy');
      return false;
    }
    if (answer.ok && answer.json && Array.isArray(answer.json.results)) {
      const byIndex = new Map(answer.json.results.map((r, i) => [typeof r.index === 'number' ? r.index : i, r]));
      let progressed = false;
      for (const [i, record] of chunk.entries()) {
        const result = byIndex.get(i);
        if (!result || (typeof result.nonce === 'string' && result.nonce !== record.nonce)) {
          setEntry(record.nonce, 'queued', { detail: 'The service gave no answer for this scan: will be sent again.' });
          continue;
        }
        if (result.accepted === true) {
          await queueDelete(record.nonce);
          markAccepted(record.nonce, result);
          counts.accepted += 1;
          progressed = true;
          continue;
        }
        // `status`: what the scan would have had alone (a 503 was not taken and can be sent again).
        const problem = problemFrom(result.problem || {}, typeof result.status === 'number' ? result.status : 0, 'refused');
        if (typeof result.status === 'number') problem.status = result.status;
        if (transient(problem.status)) {
          setEntry(record.nonce, 'queued', { detail: 'Not taken yet (' + problem.detail + '): will be sent again.' });
          continue;
        }
        await queueDelete(record.nonce);
        markRefused(record.nonce, problem);
        counts.refused += 1;
        progressed = true;
      }
      return progressed;
    }
    if (transient(answer.status)) {
      requeue('The service is busy (' + answer.status + '): will be sent again.');
      syncStatus(chunk.length + ' scans still queued: the service is busy (' + answer.status + ').', 'busy');
      return false;
    }
    if (chunk.length > 1) {
      // The batch as a whole was refused (too many for the service?): each
      // scan in a batch of its own gets its own answer. Still the batch
      // endpoint, which takes scans as old as an offline phone's.
      let progressed = false;
      for (const record of chunk) {
        if (await sendBatch([record], counts)) progressed = true;
      }
      return progressed;
    }
    const record = chunk[0];
    await queueDelete(record.nonce);
    markRefused(record.nonce, problemOf(answer));
    counts.refused += 1;
    return true;
  }

  function showNetwork() {
    const node = $('network');
    node.dataset.online = String(navigator.onLine);
    node.textContent = navigator.onLine ? 'online' : 'offline';
  }

  // ---------------------------------------------------------------------
  // Wiring.
  // ---------------------------------------------------------------------

  async function init() {
    $('register-form').addEventListener('submit', onRegister);
    $('scan-form').addEventListener('submit', onScan);
    $('cancel-scan').addEventListener('click', () => camera.cancel && camera.cancel('Scan cancelled.'));
    $('kind').addEventListener('change', () => {
      $('to-party-field').hidden = $('kind').value !== 'handover';
    });
    $('to-party-field').hidden = $('kind').value !== 'handover';
    $('gln').addEventListener('change', () => onGlnChange());
    $('forget').addEventListener('click', () => onForget().catch((e) => status(messageOf(e), 'error')));
    $('sync-now').addEventListener('click', () => sync());
    $('device-label').value = defaultLabel();
    window.addEventListener('online', () => {
      showNetwork();
      sync();
    });
    window.addEventListener('offline', showNetwork);
    // A hidden page keeps no camera open.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden && camera.cancel) camera.cancel('The camera stopped because the page was hidden.');
    });
    showNetwork();

    if (!window.isSecureContext || !globalThis.crypto || !crypto.subtle) {
      banner('This page needs a secure connection (HTTPS) to make its key and sign scans.');
    }
    $('scan').disabled = true;
    try {
      db = await openDb();
    } catch (error) {
      banner(messageOf(error));
      throw error;
    }
    state.device = (await settingGet('device')) || null;
    $('gln').value = (await settingGet('gln')) || '';
    showDevice();
    if (state.device) status('Ready to scan.', 'info');

    const queued = await queueAll();
    for (const record of queued) addEntry(record.scan, 'queued', 'Saved on this phone, not sent yet.');
    await refreshQueue();
    setInterval(() => {
      if (state.queueCount > 0 && navigator.onLine && !state.syncing) sync();
    }, SYNC_EVERY_MS);
    if (queued.length && navigator.onLine) sync();
    decoder().catch(() => {}); // the choice shows as data-decoder on <body>
    return { registered: !!state.device, queued: queued.length };
  }

  const ready = new Promise((resolve, reject) => {
    const start = () => init().then(resolve, reject);
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
    else start();
  });
  ready.catch(() => {}); // shown in the banner; tests see the rejection through `ready`

  // For tests and the curious.
  window.__scanPage = Object.freeze({
    ready,
    canonicalize,
    decoder: () => decoder().then((d) => d.name),
    queued: () => state.queueCount,
  });
})();
