// The browser side of the gateway protocol (server/PROTOCOL.md): the authorization message and the
// Nova Sonic input events, built as plain objects. Sending and ordering live in conversation.js; this
// module only knows the shapes, so that they can be checked in one place (jstest/protocol.test.js).

/** Microphone audio sent to Nova Sonic: 16 kHz, 16-bit little-endian, mono, base64. */
export const INPUT_SAMPLE_RATE = 16000;
/** Samples per audioInput event: 512 samples = 1024 bytes = 32 ms at 16 kHz. */
export const INPUT_FRAME_SAMPLES = 512;
/** Speech Nova Sonic sends back: 24 kHz, 16-bit little-endian, mono, base64. */
export const OUTPUT_SAMPLE_RATE = 24000;

export const VOICES = Object.freeze(["matthew", "tiffany", "amy", "olivia", "lupe"]);

export const DEFAULT_SYSTEM_PROMPT =
  "You are a friendly assistant. Keep your answers short: two or three sentences.";

/** Nova Sonic may ask for the date and time. */
export const DATE_TIME_TOOL = "getDateAndTimeTool";
/** Nova Sonic may ask for the current weather at a latitude and longitude. */
export const WEATHER_TOOL = "getWeatherTool";

/**
 * The tools offered to Nova Sonic in promptStart, the same two the replaced sample declared. The gateway
 * runs both itself and says so in its authorization reply (serverTools); the page answers only a tool the
 * gateway does not run (conversation.js). Nova Sonic wants each JSON schema as a string, not an object.
 */
export const TOOL_SPECS = Object.freeze([
  {
    toolSpec: {
      name: DATE_TIME_TOOL,
      description: "Get the current date, time, day of the week and time zone of the user.",
      inputSchema: { json: JSON.stringify({ type: "object", properties: {}, required: [] }) },
    },
  },
  {
    toolSpec: {
      name: WEATHER_TOOL,
      description: "Get the current weather at a place, given its latitude and longitude.",
      inputSchema: {
        json: JSON.stringify({
          type: "object",
          properties: {
            latitude: { type: "number", description: "Geographical WGS84 latitude of the place, from -90 to 90." },
            longitude: { type: "number", description: "Geographical WGS84 longitude of the place, from -180 to 180." },
          },
          required: ["latitude", "longitude"],
        }),
      },
    },
  },
]);

/** A random UUID for prompt and content names. crypto.randomUUID needs a secure context (https or
 * localhost); getRandomValues does not, so a LAN address still gets far enough to explain the mic. */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The first frame on a new socket. The token is never logged. */
export function authorization(token) {
  return { type: "authorization", token: `Bearer ${token}` };
}

const event = (name, body) => ({ event: { [name]: body } });

export function sessionStart() {
  return event("sessionStart", {
    inferenceConfiguration: { maxTokens: 1024, topP: 0.9, temperature: 0.7 },
    turnDetectionConfiguration: { endpointingSensitivity: "MEDIUM" },
  });
}

export function promptStart(promptName, voiceId) {
  return event("promptStart", {
    promptName,
    textOutputConfiguration: { mediaType: "text/plain" },
    audioOutputConfiguration: {
      mediaType: "audio/lpcm",
      sampleRateHertz: OUTPUT_SAMPLE_RATE,
      sampleSizeBits: 16,
      channelCount: 1,
      voiceId,
      encoding: "base64",
      audioType: "SPEECH",
    },
    toolUseOutputConfiguration: { mediaType: "application/json" },
    toolConfiguration: { tools: TOOL_SPECS },
  });
}

/** The system prompt: one non-interactive SYSTEM text block with a single textInput. */
export function systemPrompt(promptName, contentName, content) {
  return textBlock(promptName, contentName, "SYSTEM", content, false, Infinity);
}

/**
 * A complete text block: contentStart, one textInput per piece of at most maxBytes of UTF-8
 * (Nova Sonic takes at most 1 KB per history textInput), contentEnd.
 */
export function textBlock(promptName, contentName, role, content, interactive, maxBytes = MAX_TEXT_INPUT_BYTES) {
  return [
    event("contentStart", {
      promptName,
      contentName,
      type: "TEXT",
      role,
      interactive,
      textInputConfiguration: { mediaType: "text/plain" },
    }),
    ...splitUtf8(content, maxBytes).map((piece) =>
      event("textInput", { promptName, contentName, content: piece }),
    ),
    contentEnd(promptName, contentName),
  ];
}

/** Nova Sonic takes at most 1 KB per history textInput and 40 KB of history in all. */
export const MAX_TEXT_INPUT_BYTES = 1000;
export const MAX_HISTORY_BYTES = 38 * 1024;

/**
 * Chat history carried into a new session after a reconnect, so the conversation goes on where it
 * stopped. Nova Sonic accepts it once, after the system prompt and before audio. The newest messages
 * that fit in MAX_HISTORY_BYTES are kept, and the history starts with a USER message.
 * @param {{role:"USER"|"ASSISTANT", text:string}[]} history oldest first
 * @param {() => string} newName makes a content name
 */
export function historyBlocks(promptName, history, newName = uuid) {
  const kept = [];
  let bytes = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const { role, text } = history[i];
    if ((role !== "USER" && role !== "ASSISTANT") || !text) continue;
    const size = utf8Length(text);
    if (bytes + size > MAX_HISTORY_BYTES) break;
    bytes += size;
    kept.unshift({ role, text });
  }
  while (kept.length > 0 && kept[0].role !== "USER") kept.shift();
  // interactive:false marks the lines as context: the model must not answer them on its own.
  return kept.flatMap(({ role, text }) => textBlock(promptName, newName(), role, text, false));
}

const utf8 = new TextEncoder();
const utf8Length = (s) => utf8.encode(s).length;

/** Splits s into pieces of at most maxBytes of UTF-8 each, never inside a character. */
export function splitUtf8(s, maxBytes) {
  if (maxBytes === Infinity) return [s];
  const pieces = [];
  let piece = "";
  let size = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (size + n > maxBytes && piece) {
      pieces.push(piece);
      piece = "";
      size = 0;
    }
    piece += ch;
    size += n;
  }
  if (piece || pieces.length === 0) pieces.push(piece);
  return pieces;
}

export function audioContentStart(promptName, contentName) {
  return event("contentStart", {
    promptName,
    contentName,
    type: "AUDIO",
    role: "USER",
    interactive: true,
    audioInputConfiguration: {
      mediaType: "audio/lpcm",
      sampleRateHertz: INPUT_SAMPLE_RATE,
      sampleSizeBits: 16,
      channelCount: 1,
      audioType: "SPEECH",
      encoding: "base64",
    },
  });
}

export function audioInput(promptName, contentName, base64) {
  return event("audioInput", { promptName, contentName, content: base64 });
}

/** The three events that answer a toolUse; result is any JSON value, sent as a JSON string. */
export function toolResult(promptName, contentName, toolUseId, result) {
  return [
    event("contentStart", {
      promptName,
      contentName,
      interactive: false,
      type: "TOOL",
      role: "TOOL",
      toolResultInputConfiguration: {
        toolUseId,
        type: "TEXT",
        textInputConfiguration: { mediaType: "text/plain" },
      },
    }),
    event("toolResult", { promptName, contentName, content: JSON.stringify(result) }),
    contentEnd(promptName, contentName),
  ];
}

export function contentEnd(promptName, contentName) {
  return event("contentEnd", { promptName, contentName });
}

export function promptEnd(promptName) {
  return event("promptEnd", { promptName });
}

export function sessionEnd() {
  return event("sessionEnd", {});
}

/**
 * The tools the page can run itself, for a gateway that does not run them (an older gateway, whose
 * authorization reply has no serverTools). The weather is not among them: the page may connect only to its
 * own origin (Content-Security-Policy), so it cannot reach a weather service.
 */
const BROWSER_TOOLS = {
  [DATE_TIME_TOOL]: (_input, now) => ({
    date: now.toLocaleDateString("en-US", { year: "numeric", month: "long", day: "numeric" }),
    time: now.toLocaleTimeString("en-US", { hour: "numeric", minute: "2-digit" }),
    dayOfWeek: now.toLocaleDateString("en-US", { weekday: "long" }),
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    iso: now.toISOString(),
  }),
};

/**
 * Runs a tool Nova Sonic asked for in the page. A tool the page cannot run gets an error result, which
 * Nova Sonic turns into a spoken apology rather than a stuck turn.
 * @returns {{ok:boolean, result:object}}
 */
export function runTool(toolName, input, now = new Date()) {
  const run = Object.hasOwn(BROWSER_TOOLS, toolName) ? BROWSER_TOOLS[toolName] : null;
  if (run) return { ok: true, result: run(input, now) };
  const error = toolName === WEATHER_TOOL
    ? "The weather is not available: this voice service does not run the weather tool."
    : `unknown tool ${toolName}`;
  return { ok: false, result: { error } };
}

// Base64 of 16-bit little-endian PCM. Every browser this client supports is little-endian, so the
// Int16Array's bytes are already in wire order.

/** Encodes an Int16Array (or its ArrayBuffer) as base64. */
export function pcmToBase64(samples) {
  const bytes = new Uint8Array(samples.buffer ?? samples, samples.byteOffset ?? 0, samples.byteLength);
  let bin = "";
  // String.fromCharCode on chunks: one call per byte is slow, one call for all may overflow the stack.
  for (let i = 0; i < bytes.length; i += 0x2000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x2000));
  }
  return btoa(bin);
}

/** Decodes base64 16-bit PCM into an Int16Array (an odd trailing byte is dropped). */
export function base64ToPcm(base64) {
  const bin = atob(base64);
  const n = bin.length & ~1;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}
