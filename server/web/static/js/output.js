// Interprets Nova Sonic's output events. It keeps the little state that the events need to be
// understood (which content block is which role, stage and type; which speech was interrupted; which
// tool call is waiting) and turns each event into actions for the page. It touches neither the DOM nor
// the socket, so its decisions can be tested on their own (jstest/output.test.js).

/**
 * Actions returned by OutputTracker.handle:
 *   {type:"text", role:"USER"|"ASSISTANT", stage:"SPECULATIVE"|"FINAL", text, contentId}
 *   {type:"audio", base64}                       speech to play
 *   {type:"bargeIn"}                             the user spoke over the assistant: stop playback now
 *   {type:"turnEnd", role, interrupted:boolean}  an ASSISTANT text turn finished
 *   {type:"toolUse", toolName, toolUseId}         Nova Sonic asked for a tool (show it as running)
 *   {type:"toolCall", toolName, toolUseId, input} its TOOL block ended: answer it now, unless the gateway does
 */
export class OutputTracker {
  constructor() {
    /** contentId → {type, role, stage} of each content block that has started and not ended. */
    this.contents = new Map();
    /** Audio content blocks cut off by barge-in: their late audioOutput events are dropped. */
    this.interrupted = new Set();
    /** The toolUse waiting for its TOOL content block to end. */
    this.pendingTool = null;
  }

  /** Returns the actions for one output event (name and body of {"event":{name:body}}). */
  handle(name, body = {}) {
    switch (name) {
      case "contentStart":
        return this.#contentStart(body);
      case "textOutput":
        return this.#textOutput(body);
      case "audioOutput":
        if (this.interrupted.has(body.contentId) || typeof body.content !== "string") return [];
        return [{ type: "audio", base64: body.content }];
      case "toolUse":
        this.pendingTool = { toolName: body.toolName, toolUseId: body.toolUseId, content: body.content };
        return [{ type: "toolUse", toolName: body.toolName, toolUseId: body.toolUseId }];
      case "contentEnd":
        return this.#contentEnd(body);
      default: // completionStart, completionEnd, usageEvent and anything newer
        return [];
    }
  }

  #contentStart(body) {
    this.contents.set(body.contentId, {
      type: body.type,
      role: body.role,
      stage: generationStage(body.additionalModelFields),
    });
    return [];
  }

  #textOutput(body) {
    const block = this.contents.get(body.contentId);
    const role = body.role ?? block?.role;
    const text = body.content ?? "";
    // Barge-in, first signal: Nova Sonic writes {"interrupted": true} as assistant text.
    if (role === "ASSISTANT" && isInterruptedMarker(text)) return this.#bargeIn();
    if (role !== "USER" && role !== "ASSISTANT") return [];
    if (text.trim() === "") return [];
    return [{ type: "text", role, stage: block?.stage ?? "FINAL", text, contentId: body.contentId }];
  }

  #contentEnd(body) {
    const block = this.contents.get(body.contentId);
    this.contents.delete(body.contentId);
    const type = body.type ?? block?.type;
    const actions = [];
    // Barge-in, second signal: the speech (or its text) block ends with INTERRUPTED.
    if (body.stopReason === "INTERRUPTED") {
      this.interrupted.add(body.contentId);
      actions.push(...this.#bargeIn());
    }
    if (type === "TEXT" && block?.role === "ASSISTANT" && block.stage === "FINAL" &&
        (body.stopReason === "END_TURN" || body.stopReason === "INTERRUPTED")) {
      actions.push({ type: "turnEnd", role: "ASSISTANT", interrupted: body.stopReason === "INTERRUPTED" });
    }
    if (type === "TOOL" && this.pendingTool) {
      const call = this.pendingTool;
      this.pendingTool = null;
      actions.push({ type: "toolCall", toolName: call.toolName, toolUseId: call.toolUseId, input: parseJSON(call.content) });
    }
    return actions;
  }

  #bargeIn() {
    // Every assistant speech block open now was cut off; audio still in flight for it must not play.
    for (const [id, block] of this.contents) {
      if (block.type === "AUDIO" && block.role === "ASSISTANT") this.interrupted.add(id);
    }
    return [{ type: "bargeIn" }];
  }
}

/** additionalModelFields is a JSON string such as "{\"generationStage\":\"SPECULATIVE\"}". */
export function generationStage(additionalModelFields) {
  const fields = typeof additionalModelFields === "string" ? parseJSON(additionalModelFields) : additionalModelFields;
  return fields?.generationStage === "SPECULATIVE" ? "SPECULATIVE" : "FINAL";
}

export function isInterruptedMarker(text) {
  const t = text.trim();
  if (!t.startsWith("{")) return false;
  return parseJSON(t)?.interrupted === true;
}

function parseJSON(s) {
  if (typeof s !== "string") return s ?? null;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
