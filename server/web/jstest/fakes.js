// Stand-ins for what the browser provides, shared by the unit tests: a WebSocket the test plays the
// gateway's part on, a small DOM (enough for transcript.js), and the audio engine's surface. The real
// browser runs in server/web/e2e.

/** A WebSocket whose server side the test drives: open(), receive(), serverClose(). */
export class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  /** Every socket made, oldest first. */
  static all = [];
  static get last() {
    return FakeWebSocket.all.at(-1);
  }

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.bufferedAmount = 0;
    this.closedWith = undefined;
    FakeWebSocket.all.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
  }
  // Server side.
  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }
  receive(obj) {
    this.onmessage?.({ data: JSON.stringify(obj) });
  }
  serverClose(code, reason = "") {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason });
  }
  /** The names of the messages sent: "authorization" or the Nova Sonic event name. */
  names() {
    return this.sent.map((m) => m.type ?? Object.keys(m.event)[0]);
  }
}

/** Nova Sonic's {"event":{name:body}} envelope. */
export const ev = (name, body) => ({ event: { [name]: body } });

/** The gateway's authorization reply; serverTools only if given (an older gateway sends none). */
export function authorized(sessionId = "s1", serverTools) {
  const reply = { type: "authorization", status: "success", sessionId };
  if (serverTools) reply.serverTools = serverTools;
  return reply;
}

// ---- A small DOM ---------------------------------------------------------------------------------------

/** Each line of a list is this many pixels tall, for the scrolling arithmetic. */
export const LINE_HEIGHT = 30;

class FakeClassList {
  constructor(el) {
    this.el = el;
  }
  #names() {
    return this.el.className.split(/\s+/).filter(Boolean);
  }
  add(...names) {
    this.el.className = [...new Set([...this.#names(), ...names])].join(" ");
  }
  remove(...names) {
    this.el.className = this.#names().filter((n) => !names.includes(n)).join(" ");
  }
  contains(name) {
    return this.#names().includes(name);
  }
  toggle(name, force = !this.contains(name)) {
    if (force) this.add(name);
    else this.remove(name);
    return force;
  }
}

/** An element with what transcript.js uses: children, classes, data-*, attributes, text and scrolling. */
export class FakeElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.className = "";
    this.children = [];
    this.parentElement = null;
    this.dataset = {};
    this.attributes = new Map();
    this.text = "";
    this.clientHeight = 0;
    this.top = 0;
  }
  get classList() {
    return new FakeClassList(this);
  }
  append(...nodes) {
    for (const n of nodes) {
      n.parentElement = this;
      this.children.push(n);
    }
  }
  replaceChildren(...nodes) {
    this.children = [];
    this.append(...nodes);
  }
  get textContent() {
    return this.children.length > 0 ? this.children.map((c) => c.textContent).join("") : this.text;
  }
  set textContent(value) {
    this.children = [];
    this.text = String(value);
  }
  get childElementCount() {
    return this.children.length;
  }
  get lastElementChild() {
    return this.children.at(-1) ?? null;
  }
  get previousElementSibling() {
    const siblings = this.parentElement?.children ?? [];
    return siblings[siblings.indexOf(this) - 1] ?? null;
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name) {
    return this.attributes.get(name) ?? null;
  }
  removeAttribute(name) {
    this.attributes.delete(name);
  }
  addEventListener(type, fn) {
    (this.listeners ??= []).push([type, fn]);
  }
  /** Calls the listeners of an event type: the tests dispatch "scroll" where the reader scrolls. */
  dispatch(type) {
    for (const [t, fn] of this.listeners ?? []) if (t === type) fn({ type });
  }
  // Scrolling: every child is LINE_HEIGHT tall; scrollTop is clamped like a browser's.
  get scrollHeight() {
    return Math.max(this.clientHeight, this.children.length * LINE_HEIGHT);
  }
  get scrollTop() {
    return this.top;
  }
  set scrollTop(v) {
    this.top = Math.max(0, Math.min(v, this.scrollHeight - this.clientHeight));
  }
}

/** A ResizeObserver the test triggers with resizeAll(), after changing an element's clientHeight. */
export class FakeResizeObserver {
  static all = [];
  constructor(callback) {
    this.callback = callback;
    FakeResizeObserver.all.push(this);
  }
  observe(el) {
    this.el = el;
  }
  static resizeAll() {
    for (const o of FakeResizeObserver.all) o.callback([{ target: o.el }]);
  }
}

/** Puts a document with createElement and event listeners on globalThis; returns an empty list. */
export function installDOM({ listHeight = 300 } = {}) {
  const listeners = new Map();
  FakeResizeObserver.all.length = 0;
  globalThis.ResizeObserver = FakeResizeObserver;
  globalThis.document = {
    createElement: (tag) => new FakeElement(tag),
    addEventListener: (type, fn) => listeners.set(fn, type),
    removeEventListener: (_type, fn) => listeners.delete(fn),
    listeners,
  };
  const list = new FakeElement("ol");
  list.clientHeight = listHeight;
  return list;
}

/** The lines of a transcript list as a reader sees them: "class: text". */
export function lines(list) {
  return list.children.map((li) => `${li.className}: ${li.textContent}`);
}

// ---- Audio ---------------------------------------------------------------------------------------------

/** The AudioEngine's surface, recording what the page asked of it. */
export class FakeAudio {
  constructor() {
    this.capturing = false;
    this.captureStarts = 0;
    this.played = [];
    this.flushes = [];
    this.stats = { chunks: 0, receivedSeconds: 0, playedSeconds: 0, peak: 0, flushes: [], outputLatencyMs: 0 };
    this.failCapture = null; // an Error to throw from the next startCapture
  }
  init() {
    return Promise.resolve();
  }
  async startCapture(onFrame, onLevel) {
    if (this.failCapture) {
      const e = this.failCapture;
      this.failCapture = null;
      throw e;
    }
    this.capturing = true;
    this.captureStarts++;
    this.onFrame = onFrame;
    this.onLevel = onLevel;
  }
  stopCapture() {
    this.capturing = false;
  }
  play(base64) {
    this.played.push(base64);
  }
  flush(reason = "stop") {
    this.flushes.push(reason);
  }
}
