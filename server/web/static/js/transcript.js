// The chat transcript: the user's recognised speech and the assistant's answers, plus short notes
// ("Reconnecting…") and one line per tool call that follows the call from running to done. The list is an
// ARIA log, so screen readers announce new lines.
//
// Nova Sonic sends the assistant's text twice: SPECULATIVE text as soon as it is generated (before it is
// spoken), then FINAL text for what was actually spoken. Speculative text is shown greyed and hidden from
// screen readers; each FINAL block replaces the oldest speculative block of the same turn, so the line
// settles into what the user heard. Speculative text that barge-in cut off stays struck through.

const ROLE_LABEL = { USER: "You", ASSISTANT: "Assistant" };

/** What a tool call's line says in each state, for the tools the page declares (protocol.js). */
const TOOL_TEXT = {
  getDateAndTimeTool: {
    running: "Looking up the date and time…",
    done: "Looked up the date and time.",
    failed: "Could not look up the date and time.",
    unfinished: "The date and time lookup did not finish: the conversation ended.",
  },
  getWeatherTool: {
    running: "Looking up the weather…",
    done: "Looked up the weather.",
    failed: "Could not look up the weather.",
    unfinished: "The weather lookup did not finish: the conversation ended.",
  },
};

/** The line for a tool call in a state. */
export function toolText(toolName, state) {
  const known = Object.hasOwn(TOOL_TEXT, toolName) ? TOOL_TEXT[toolName] : null;
  if (known?.[state]) return known[state];
  const name = String(toolName);
  switch (state) {
    case "running":
      return `Running the tool ${name}…`;
    case "done":
      return `The tool ${name} finished.`;
    case "failed":
      return `The tool ${name} failed.`;
    default:
      return `The tool ${name} did not finish: the conversation ended.`;
  }
}

export class Transcript {
  /** @param {HTMLOListElement} list */
  constructor(list) {
    this.list = list;
    this.current = null; // {role, li, body, pending: HTMLElement[]} of the last message, if open
    this.tools = new Map(); // toolUseId → its line
    // The reader is at the newest line, so it stays in view: updated whenever the list scrolls (by the
    // reader or by us). When the list's box shrinks (a notice or the settings open above it, a phone's
    // keyboard) a pinned list is scrolled back to its end, or the newest line would slide out of view.
    this.pinned = true;
    list.addEventListener?.("scroll", () => (this.pinned = this.#atBottom()), { passive: true });
    if (globalThis.ResizeObserver) {
      new ResizeObserver(() => {
        if (this.pinned) this.#scrollToEnd();
      }).observe(list);
    }
  }

  /** Adds recognised or generated text. */
  addText(role, stage, text) {
    const follow = this.#atBottom();
    const msg = this.#message(role);
    if (role === "ASSISTANT" && stage === "SPECULATIVE") {
      const span = this.#segment(msg, text);
      span.classList.add("speculative");
      span.setAttribute("aria-hidden", "true");
      msg.pending.push(span);
    } else if (role === "ASSISTANT" && msg.pending.length > 0) {
      const span = msg.pending.shift();
      span.textContent = text;
      span.classList.remove("speculative", "unspoken");
      span.removeAttribute("aria-hidden");
    } else {
      this.#segment(msg, text);
    }
    if (follow) this.#scrollToEnd();
  }

  /** Barge-in: what the assistant had not said yet is marked as never spoken. */
  interrupted() {
    const msg = this.current;
    if (!msg || msg.role !== "ASSISTANT" || msg.li.classList.contains("interrupted")) return;
    msg.li.classList.add("interrupted");
    for (const span of msg.pending) span.classList.add("unspoken");
    const mark = document.createElement("span");
    mark.className = "interrupted-mark";
    mark.textContent = " (interrupted)";
    msg.body.append(mark);
  }

  /** The assistant finished its turn; the next assistant text starts a new message. */
  endTurn() {
    if (this.current?.role === "ASSISTANT") this.current = null;
  }

  /** A line that is not speech: connection events ("info", "error", or "divider" between conversations). */
  addNote(text, kind = "info") {
    return this.#addLine(`note ${kind}`, text);
  }

  /**
   * A tool call: one line per toolUseId, added when the call starts and updated in place as it finishes.
   * @param {import("./conversation.js").ToolActivity} activity
   */
  tool({ toolUseId, toolName, state }) {
    const className = `note tool ${state}`;
    const text = toolText(toolName, state);
    const li = this.tools.get(toolUseId);
    if (li) {
      li.className = className;
      li.textContent = text;
      return;
    }
    const added = this.#addLine(className, text);
    added.dataset.toolUseId = toolUseId;
    this.tools.set(toolUseId, added);
  }

  clear() {
    this.list.replaceChildren();
    this.current = null;
    this.tools.clear();
  }

  /**
   * The final text of the current conversation (since the last "divider" note), oldest first, for
   * carrying it over to a new session after a reconnect: [{role:"USER"|"ASSISTANT", text}].
   * Speculative text is left out: it may never have been spoken.
   */
  history() {
    const out = [];
    for (let li = this.list.lastElementChild; li && !li.classList.contains("divider"); li = li.previousElementSibling) {
      if (!li.classList.contains("message")) continue;
      const body = li.lastElementChild; // the .body span: who, then body
      const text = Array.from(body.children)
        .filter((s) => s.classList.contains("segment") && !s.classList.contains("speculative"))
        .map((s) => s.textContent.trim())
        .filter(Boolean)
        .join(" ");
      if (!text) continue;
      // Consecutive lines of one speaker (split by a note) become one message.
      if (out[0]?.role === li.dataset.role) out[0].text = `${text} ${out[0].text}`;
      else out.unshift({ role: li.dataset.role, text });
    }
    return out;
  }

  /** Appends a line after which the next text starts a new message, keeping the newest line in view. */
  #addLine(className, text) {
    const follow = this.#atBottom();
    const li = document.createElement("li");
    li.className = className;
    li.textContent = text;
    this.list.append(li);
    this.current = null;
    if (follow) this.#scrollToEnd();
    return li;
  }

  #message(role) {
    if (this.current?.role === role) return this.current;
    if (this.current) this.current.pending.length = 0; // a new speaker: leftovers stay as they are
    const li = document.createElement("li");
    li.className = `message ${role.toLowerCase()}`;
    li.dataset.role = role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = `${ROLE_LABEL[role]}: `;
    const body = document.createElement("span");
    body.className = "body";
    li.append(who, body);
    this.list.append(li);
    this.current = { role, li, body, pending: [] };
    return this.current;
  }

  #segment(msg, text) {
    const span = document.createElement("span");
    span.className = "segment";
    // Blocks arrive as separate sentences; a space keeps them readable when joined.
    span.textContent = msg.body.childElementCount > 0 ? ` ${text.trim()}` : text.trim();
    msg.body.append(span);
    return span;
  }

  // New lines are followed only while the reader is at (or near) the bottom, so scrolling back to
  // read is not undone by every word that arrives.
  #atBottom() {
    const el = this.list;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  }

  #scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
