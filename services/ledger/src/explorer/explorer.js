// tracechain ledger explorer: shows the chain and verifies it in the browser.
//
// Nothing the server says is taken on trust when a check is asked for:
//   * a block: the `header` object is canonicalized here (RFC 8785) and must
//     equal the `signed_header` bytes; SHA-256 of those bytes must equal
//     `header_hash`; the Ed25519 signature over them must verify with the key
//     the header names (from /v1/keys, whose id must match the key bytes);
//   * an event: its leaf hash is recomputed from the envelope when the API
//     key may read it (SHA-256(0x00 ‖ canonical bytes)), and its RFC 9162
//     inclusion proof for the block's tree size must lead to the root in the
//     signature-verified header.
//
// Text from the server only ever reaches the page through textContent or
// text nodes (the CSP enforces Trusted Types, so innerHTML with a string
// would throw). Pass/fail states carry data-status and data-testid
// attributes for the browser tests.
'use strict';

(() => {
  const KEY_STORAGE = 'tracechain.explorer.apiKey';
  const PAGE_SIZE = 10;
  const encoder = new TextEncoder();

  // ---------------------------------------------------------------------
  // RFC 8785 (JCS) canonical JSON, for the values JSON.parse produces.
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
        throw new Error('a ' + typeof value + ' has no JSON form');
    }
  }

  // ---------------------------------------------------------------------
  // Bytes, hashes, RFC 9162 proofs.
  // ---------------------------------------------------------------------

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function fromHex(text) {
    if (typeof text !== 'string' || !/^([0-9a-f]{2})*$/.test(text)) {
      throw new Error('not lowercase hex: ' + String(text).slice(0, 80));
    }
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function fromBase64(text) {
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function subtle() {
    if (!globalThis.crypto || !crypto.subtle) {
      throw new Error('WebCrypto is unavailable: open this page over HTTPS or on localhost');
    }
    return crypto.subtle;
  }

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest('SHA-256', bytes));
  }

  /** RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf). */
  function leafHash(bytes) {
    return sha256(concat(Uint8Array.of(0), bytes));
  }

  /** RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right). */
  function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right));
  }

  /**
   * The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or an error
   * when the proof cannot be for this leaf index and tree size.
   */
  async function rootFromInclusionProof(leafIndex, treeSize, leaf, path) {
    let fn = BigInt(leafIndex);
    let sn = BigInt(treeSize) - 1n;
    if (fn > sn) throw new Error('leaf index ' + leafIndex + ' is outside a tree of ' + treeSize);
    let r = leaf;
    for (const p of path) {
      if (sn === 0n) throw new Error('the path is longer than the tree is deep');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Error('the path is shorter than the tree is deep');
    return r;
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
      else if (name === 'onclick') node.addEventListener('click', value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  function shortHash(hex) {
    return typeof hex === 'string' && hex.length > 20 ? hex.slice(0, 12) + '…' + hex.slice(-6) : String(hex);
  }

  function banner(text) {
    const node = $('banner');
    node.textContent = text || '';
    node.hidden = !text;
  }

  const LABELS = {
    pending: '…', running: 'CHECKING', pass: 'PASS', fail: 'FAIL', skipped: 'SKIPPED', unavailable: 'N/A', error: 'ERROR',
  };

  function setBadge(node, status) {
    node.dataset.status = status;
    node.textContent = LABELS[status] || status;
  }

  /** One line of a check list; `set(status, detail)` updates it. */
  function checkItem(list, testid, label) {
    const badge = el('span', { class: 'badge', 'data-status': 'pending' }, LABELS.pending);
    const detail = el('span', { class: 'detail', 'data-testid': testid + '-detail' });
    const item = el('li', { class: 'check', 'data-testid': testid, 'data-status': 'pending' },
      badge, el('span', { class: 'label' }, label), detail);
    list.append(item);
    return {
      status: 'pending',
      set(status, text) {
        this.status = status;
        item.dataset.status = status;
        setBadge(badge, status);
        detail.textContent = text || '';
      },
    };
  }

  /**
   * Overall status of checks: fail beats error beats unavailable beats pass;
   * a skipped check (nothing to check with this key) does not count.
   */
  function overall(checks) {
    const statuses = checks.map((c) => c.status);
    for (const s of ['fail', 'error', 'unavailable', 'pending', 'running']) {
      if (statuses.includes(s)) return s;
    }
    return 'pass';
  }

  // ---------------------------------------------------------------------
  // The API.
  // ---------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, title, detail) {
      super(detail ? title + ': ' + detail : title);
      this.status = status;
    }
  }

  const state = {
    key: '',
    head: null,
    top: null, // height of the newest block on the page shown
    keys: null, // Promise of /v1/keys
    view: null, // the open block's view
  };

  async function api(path, auth = true) {
    const headers = { Accept: 'application/json' };
    if (auth) {
      if (!state.key) throw new ApiError(0, 'No API key', 'enter one above');
      headers.Authorization = 'Bearer ' + state.key;
    }
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    } catch (error) {
      throw new ApiError(0, 'Network error', String(error && error.message ? error.message : error));
    }
    const text = await response.text();
    if (!response.ok) {
      let title = response.status + ' ' + response.statusText;
      let detail = '';
      try {
        const problem = JSON.parse(text);
        if (problem.title) title = response.status + ' ' + problem.title;
        if (problem.detail) detail = problem.detail;
      } catch (_) {
        // Not problem+json: the status line says enough.
      }
      throw new ApiError(response.status, title, detail);
    }
    return JSON.parse(text);
  }

  function publicKeys() {
    if (!state.keys) {
      state.keys = api('v1/keys', false).catch((error) => {
        state.keys = null; // let a later check try again
        throw error;
      });
    }
    return state.keys;
  }

  function reportApiError(error) {
    if (error instanceof ApiError && error.status === 401) {
      banner('The API key was refused (401). Check it and press "Use key" again.');
    } else {
      banner(String(error.message || error));
    }
  }

  // ---------------------------------------------------------------------
  // Head and block list.
  // ---------------------------------------------------------------------

  function clearChain() {
    state.head = null;
    state.top = null;
    for (const id of ['head-height', 'head-tree-size', 'head-root', 'head-time', 'head-key-id']) setText(id, '–');
    $('blocks').replaceChildren();
    setText('page-info', '');
    $('newer').disabled = true;
    $('older').disabled = true;
    closeBlock();
  }

  async function loadHead() {
    let head;
    try {
      head = await api('v1/head');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        clearChain();
        setText('page-info', 'No block yet.');
        return false;
      }
      throw error;
    }
    state.head = head;
    setText('head-height', String(head.height));
    setText('head-tree-size', String(head.tree_size));
    setText('head-root', head.root);
    setText('head-time', head.time);
    setText('head-key-id', head.key_id);
    return true;
  }

  async function loadBlocks(top) {
    const head = state.head;
    if (!head) return;
    top = Math.max(0, Math.min(top, head.height));
    const from = Math.max(0, top - PAGE_SIZE + 1);
    const page = await api('v1/blocks?from=' + from + '&limit=' + (top - from + 1));
    state.top = top;
    const rows = page.blocks.slice().reverse().map((b) => blockRow(b));
    $('blocks').replaceChildren(...rows);
    setText('page-info', 'Heights ' + top + '–' + from + ' of ' + (head.height + 1) + ' blocks');
    $('newer').disabled = top >= head.height;
    $('older').disabled = from === 0;
    markSelected();
  }

  function blockRow(summary) {
    const h = summary.header;
    const button = el('button', {
      type: 'button',
      class: 'block-row',
      'data-testid': 'block-row-' + h.height,
      'data-height': h.height,
      onclick: () => {
        location.hash = 'block=' + h.height;
      },
    },
    el('span', { class: 'block-height' }, '#' + h.height),
    el('span', { class: 'block-time' }, String(h.time)),
    el('span', { class: 'block-count' }, h.count + (h.count === 1 ? ' event' : ' events') + ' · size ' + h.tree_size),
    el('span', { class: 'hash block-root', title: h.root }, 'root ' + shortHash(h.root)));
    return el('li', {}, button);
  }

  function markSelected() {
    const open = state.view ? String(state.view.height) : null;
    for (const button of $('blocks').querySelectorAll('.block-row')) {
      if (button.dataset.height === open) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  }

  async function loadAll() {
    banner('');
    if (!state.key) {
      clearChain();
      return;
    }
    try {
      if (await loadHead()) {
        await loadBlocks(state.head.height);
        await openFromHash();
      }
    } catch (error) {
      reportApiError(error);
    }
  }

  // ---------------------------------------------------------------------
  // One block.
  // ---------------------------------------------------------------------

  function closeBlock() {
    state.view = null;
    $('block-card').hidden = true;
    $('block-placeholder').hidden = false;
  }

  function fact(list, label, value, testid, isHash) {
    list.append(el('dt', {}, label), el('dd', { 'data-testid': testid, class: isHash ? 'hash' : null }, value));
  }

  function positionsText(positions) {
    if (!positions || typeof positions !== 'object') return String(positions);
    const lines = [];
    for (const topic of Object.keys(positions).sort()) {
      const parts = positions[topic] || {};
      for (const partition of Object.keys(parts).sort((a, b) => Number(a) - Number(b))) {
        lines.push(topic + '/' + partition + ' → ' + parts[partition]);
      }
    }
    return lines.join('\n');
  }

  async function openFromHash(userOpened = false) {
    const match = /^#block=(\d+)$/.exec(location.hash);
    if (!match) return;
    await openBlock(Number(match[1]), userOpened);
  }

  async function openBlock(height, userOpened) {
    if (!state.key) return;
    let block;
    try {
      block = await api('v1/blocks/' + height);
    } catch (error) {
      reportApiError(error);
      return;
    }
    const h = block.header;
    const view = { height, block, check: null, events: [] };
    state.view = view;

    setText('block-height', String(h.height));
    const facts = el('dl', { class: 'facts', id: 'block-facts' });
    fact(facts, 'Time', String(h.time), 'block-time');
    fact(facts, 'Events', String(h.count) + ' (leaves ' + h.first_leaf + '–' + (h.first_leaf + h.count - 1) + ')', 'block-count');
    fact(facts, 'Tree size', String(h.tree_size), 'block-tree-size');
    fact(facts, 'Root', String(h.root), 'block-root', true);
    fact(facts, 'Previous header', String(h.prev_hash), 'block-prev-hash', true);
    fact(facts, 'Header hash', block.header_hash, 'block-header-hash', true);
    fact(facts, 'Signature', block.signature, 'block-signature', true);
    fact(facts, 'Signing key', String(h.key_id), 'block-key-id', true);
    fact(facts, 'Input positions', positionsText(h.positions), 'block-positions', true);
    fact(facts, 'Topic offset', String(block.topic_offset), 'block-topic-offset');
    $('block-facts').replaceWith(facts);

    $('block-verification').hidden = true;
    setBadge($('block-result'), 'pending');
    $('block-checks').replaceWith(el('ul', { class: 'checks', id: 'block-checks' }));
    setText('signed-header', block.signed_header);
    setText('checkpoint', block.checkpoint);
    setText('event-count', '(' + block.events.length + ')');
    setText('verify-all-summary', '');
    delete $('verify-all-summary').dataset.status;

    const items = block.events.map((event) => eventItem(view, event));
    $('events').replaceChildren(...items);

    $('block-placeholder').hidden = true;
    $('block-card').hidden = false;
    markSelected();
    // One column (a phone): the block is below the list, so bring it up.
    if (userOpened && window.matchMedia('(max-width: 959px)').matches) {
      $('block-card').scrollIntoView({ block: 'start' });
    }
  }

  // The block's checks; the promise is kept so that inclusion checks reuse it.
  function blockVerification(view) {
    if (!view.check) view.check = verifyBlock(view);
    return view.check;
  }

  async function verifyBlock(view) {
    const block = view.block;
    const list = el('ul', { class: 'checks', id: 'block-checks' });
    if (state.view === view) {
      $('block-checks').replaceWith(list);
      $('block-verification').hidden = false;
      setBadge($('block-result'), 'running');
    }
    const canonical = checkItem(list, 'check-canonical', 'Header object in RFC 8785 form equals the signed bytes');
    const hash = checkItem(list, 'check-header-hash', 'SHA-256 of the signed bytes equals header_hash');
    const context = checkItem(list, 'check-context', 'Signed header is this chain\'s block at this height');
    const key = checkItem(list, 'check-key', 'Signing key is published and its id matches its bytes');
    const signature = checkItem(list, 'check-signature', 'Ed25519 signature over the signed bytes verifies');
    const checks = [canonical, hash, context, key, signature];
    let signed = null;

    const bytes = encoder.encode(block.signed_header);
    try {
      const text = canonicalize(block.header);
      if (text === block.signed_header) {
        canonical.set('pass', bytes.length + ' bytes');
      } else {
        canonical.set('fail', 'the header object canonicalizes to different bytes than signed_header');
      }
    } catch (error) {
      canonical.set('error', String(error.message || error));
    }

    try {
      const digest = toHex(await sha256(bytes));
      hash.set(digest === block.header_hash ? 'pass' : 'fail',
        digest === block.header_hash ? digest : 'computed ' + digest + ', served ' + block.header_hash);
    } catch (error) {
      hash.set('error', String(error.message || error));
    }

    let keys = null;
    try {
      signed = JSON.parse(block.signed_header);
      keys = await publicKeys();
      const problems = [];
      if (signed.height !== view.height) problems.push('height ' + signed.height + ' instead of ' + view.height);
      if (signed.origin !== keys.origin) problems.push('origin ' + signed.origin + ' instead of ' + keys.origin);
      if (problems.length === 0) context.set('pass', String(signed.origin) + ' #' + signed.height);
      else context.set('fail', problems.join('; '));
    } catch (error) {
      context.set('error', String(error.message || error));
    }

    let publicKey = null;
    if (signed && keys) {
      const entry = (keys.keys || []).find((k) => k.key_id === signed.key_id);
      if (!entry) {
        key.set('fail', 'no published key has id ' + signed.key_id);
      } else {
        try {
          const raw = fromBase64(entry.public_key);
          const id = toHex((await sha256(raw)).slice(0, 8));
          if (raw.length !== 32) key.set('fail', 'the key is ' + raw.length + ' bytes, not 32');
          else if (id !== signed.key_id) key.set('fail', 'the key\'s bytes give id ' + id);
          else {
            key.set('pass', entry.key_id + (entry.current ? ' (current)' : ' (retired)'));
            publicKey = raw;
          }
        } catch (error) {
          key.set('error', String(error.message || error));
        }
      }
    } else {
      key.set('error', 'the signed header or the public keys could not be read');
    }

    if (publicKey) {
      try {
        const cryptoKey = await subtle().importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
        let sig;
        try {
          sig = fromBase64(block.signature);
        } catch (_) {
          sig = new Uint8Array(0);
        }
        const ok = sig.length === 64 && await subtle().verify({ name: 'Ed25519' }, cryptoKey, sig, bytes);
        signature.set(ok ? 'pass' : 'fail', ok ? 'key ' + signed.key_id : 'the signature does not verify with key ' + signed.key_id);
      } catch (error) {
        signature.set('error', 'this browser could not run Ed25519: ' + String(error.message || error));
      }
    } else {
      signature.set('fail', 'no usable public key for the header\'s key id');
    }

    const result = overall(checks);
    if (state.view === view) setBadge($('block-result'), result);
    // Only a header whose signature verified may anchor inclusion proofs;
    // its values come from the signed bytes, not from the `header` object.
    return { ok: result === 'pass', signed: result === 'pass' ? signed : null };
  }

  // ---------------------------------------------------------------------
  // Events and their inclusion proofs.
  // ---------------------------------------------------------------------

  function eventItem(view, event) {
    const index = event.leaf_index;
    const result = el('span', { class: 'badge', 'data-testid': 'inclusion-result-' + index, 'data-status': 'pending' }, 'not checked');
    const checks = el('ul', { class: 'checks', hidden: true });
    const button = el('button', {
      type: 'button',
      class: 'secondary small',
      'data-testid': 'verify-inclusion-' + index,
      disabled: !event.event_id,
      onclick: () => verifyInclusion(view, entry),
    }, 'Verify inclusion');
    const item = el('li', { class: 'event', 'data-testid': 'event-' + index, 'data-event-id': event.event_id || '' },
      el('div', { class: 'event-head' },
        el('span', { class: 'leaf-index', 'data-testid': 'event-leaf-index' }, 'leaf ' + index),
        el('span', { class: 'event-type', 'data-testid': 'event-type' }, event.type || '(unknown type)'),
        result,
        button),
      el('div', { class: 'hash', 'data-testid': 'event-id' }, event.event_id || '(no event id)'),
      el('div', { class: 'hash muted', 'data-testid': 'event-leaf-hash' }, 'leaf hash ' + event.leaf_hash),
      checks);
    const entry = { event, result, checks, button, running: null };
    view.events.push(entry);
    return item;
  }

  function verifyInclusion(view, entry) {
    if (!entry.running) {
      entry.running = runInclusion(view, entry).finally(() => {
        entry.running = null;
      });
    }
    return entry.running;
  }

  async function runInclusion(view, entry) {
    const event = entry.event;
    const id = event.event_id;
    const size = view.block.header.tree_size;
    const list = el('ul', { class: 'checks' });
    entry.checks.replaceWith(list);
    entry.checks = list;
    entry.button.disabled = true;
    setBadge(entry.result, 'running');

    const leafCheck = checkItem(list, 'check-leaf', 'Leaf hash recomputed from the event body');
    const proofCheck = checkItem(list, 'check-proof', 'Inclusion proof is for this leaf and the block\'s tree size');
    const rootCheck = checkItem(list, 'check-root', 'RFC 9162 path leads to the signed header\'s root');
    const checks = [leafCheck, proofCheck, rootCheck];

    let leaf = null;
    try {
      leaf = fromHex(event.leaf_hash);
      const body = await api('v1/events/' + encodeURIComponent(id));
      const computed = toHex(await leafHash(encoder.encode(canonicalize(body.event))));
      if (body.event_id !== id || body.leaf_index !== event.leaf_index) {
        leafCheck.set('fail', 'the event served is ' + body.event_id + ' at leaf ' + body.leaf_index);
      } else if (computed !== event.leaf_hash) {
        leafCheck.set('fail', 'the body hashes to ' + computed + ', the block lists ' + event.leaf_hash);
      } else {
        leafCheck.set('pass', computed);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        leafCheck.set('skipped', 'body not readable with this key: using the block\'s leaf hash');
      } else {
        leafCheck.set('error', String(error.message || error));
      }
    }

    let proof = null;
    try {
      proof = await api('v1/events/' + encodeURIComponent(id) + '/proof?tree_size=' + size);
      const problems = [];
      if (proof.tree_size !== size) problems.push('tree size ' + proof.tree_size + ' instead of ' + size);
      if (proof.leaf_index !== event.leaf_index) problems.push('leaf ' + proof.leaf_index + ' instead of ' + event.leaf_index);
      if (proof.leaf_hash !== event.leaf_hash) problems.push('leaf hash ' + proof.leaf_hash);
      if (!Array.isArray(proof.path)) problems.push('no path');
      if (problems.length === 0) proofCheck.set('pass', proof.path.length + ' hashes for leaf ' + proof.leaf_index + ' of ' + size);
      else proofCheck.set('fail', problems.join('; '));
    } catch (error) {
      proof = null;
      if (error instanceof ApiError && error.status === 404) {
        proofCheck.set('unavailable', 'the ledger serves no proof for this event (404)');
      } else {
        proofCheck.set('error', String(error.message || error));
      }
    }

    if (proof && leaf && proofCheck.status === 'pass') {
      try {
        const header = await blockVerification(view);
        const computed = toHex(await rootFromInclusionProof(event.leaf_index, size, leaf, proof.path.map(fromHex)));
        if (!header.ok) {
          rootCheck.set('fail', 'the block header did not verify, so its root proves nothing (computed ' + computed + ')');
        } else if (computed !== header.signed.root) {
          rootCheck.set('fail', 'the path leads to ' + computed + ', the signed root is ' + header.signed.root);
        } else {
          rootCheck.set('pass', computed);
        }
      } catch (error) {
        rootCheck.set('fail', 'the proof is malformed: ' + String(error.message || error));
      }
    } else if (proofCheck.status === 'unavailable') {
      rootCheck.set('unavailable', 'no proof to check');
    } else {
      rootCheck.set('fail', 'no usable proof');
    }

    const result = overall(checks);
    setBadge(entry.result, result);
    entry.button.disabled = false;
    return result;
  }

  async function verifyAll() {
    const view = state.view;
    if (!view) return;
    const button = $('verify-all');
    const summary = $('verify-all-summary');
    button.disabled = true;
    summary.dataset.status = 'running';
    summary.textContent = 'Checking ' + view.events.length + ' events…';
    const counts = { pass: 0, fail: 0, unavailable: 0, error: 0 };
    for (const entry of view.events) {
      if (!entry.event.event_id) continue;
      const result = await verifyInclusion(view, entry);
      counts[result] = (counts[result] || 0) + 1;
    }
    button.disabled = false;
    if (state.view !== view) return;
    summary.dataset.status = counts.fail || counts.error ? 'fail' : 'pass';
    summary.textContent = counts.pass + ' passed, ' + counts.fail + ' failed, ' + counts.error + ' errors, ' +
      counts.unavailable + ' not readable with this key';
  }

  // ---------------------------------------------------------------------
  // Wiring.
  // ---------------------------------------------------------------------

  function init() {
    if (!window.isSecureContext || !globalThis.crypto || !crypto.subtle) {
      banner('WebCrypto is unavailable on this connection: open the explorer over HTTPS (or on localhost) to verify blocks.');
    }
    try {
      state.key = sessionStorage.getItem(KEY_STORAGE) || '';
    } catch (_) {
      state.key = '';
    }
    $('api-key').value = state.key;

    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      state.key = $('api-key').value.trim();
      try {
        if (state.key) sessionStorage.setItem(KEY_STORAGE, state.key);
        else sessionStorage.removeItem(KEY_STORAGE);
      } catch (_) {
        // Storage disabled: the key lives as long as the page.
      }
      loadAll();
    });
    $('key-clear').addEventListener('click', () => {
      state.key = '';
      $('api-key').value = '';
      try {
        sessionStorage.removeItem(KEY_STORAGE);
      } catch (_) {
        // Nothing stored.
      }
      clearChain();
      banner('');
    });
    $('refresh').addEventListener('click', () => loadAll());
    $('newer').addEventListener('click', () => loadBlocks(state.top + PAGE_SIZE).catch(reportApiError));
    $('older').addEventListener('click', () => loadBlocks(state.top - PAGE_SIZE).catch(reportApiError));
    $('verify-block').addEventListener('click', () => {
      const view = state.view;
      if (!view) return;
      view.check = null; // a fresh run on every press
      blockVerification(view);
    });
    $('verify-all').addEventListener('click', () => verifyAll());
    window.addEventListener('hashchange', () => {
      openFromHash(true).catch(reportApiError);
    });

    publicKeys().then((keys) => setText('origin', keys.origin)).catch(() => {});
    loadAll();
  }

  // For tests and the curious: the pure parts.
  window.tracechainExplorer = Object.freeze({ canonicalize, rootFromInclusionProof, leafHash, toHex, fromHex });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
