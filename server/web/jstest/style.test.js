// Colour contrast of style.css in both colour schemes, computed as WCAG 2.2 defines it: text needs 4.5:1
// against its background (1.4.3, AA), and the status dots, the focus ring and the level meter 3:1 against
// the panel they sit on (1.4.11, AA). The ratios are printed with the test output.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const css = readFileSync(new URL("../static/style.css", import.meta.url), "utf8");

/** The custom properties of the first `:root { … }` block in text. */
function rootVars(text) {
  const block = /:root\s*\{([^}]*)\}/.exec(text)?.[1] ?? "";
  return Object.fromEntries(Array.from(block.matchAll(/--([\w-]+):\s*([^;]+);/g), (m) => [m[1], m[2].trim()]));
}

const light = rootVars(css);
const darkBlock = /@media \(prefers-color-scheme: dark\)\s*\{([\s\S]*?\})\s*\}/.exec(css)?.[1] ?? "";
const schemes = { light, dark: { ...light, ...rootVars(darkBlock) } };

/** A colour of the scheme: "var(--x)" or "#rrggbb". */
function color(vars, value) {
  const v = value.trim();
  const ref = /^var\(--([\w-]+)\)$/.exec(v);
  const hex = ref ? vars[ref[1]] : v;
  assert.match(hex ?? "", /^#[0-9a-f]{6}$/i, `${value} is not a #rrggbb colour`);
  return hex;
}

/** Relative luminance (WCAG 2.2). */
function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function ratio(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The declarations of the rule for exactly this selector. */
function rule(selector) {
  const escaped = selector.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const body = new RegExp(`(?:^|\\n)${escaped}\\s*\\{([^}]*)\\}`).exec(css)?.[1];
  assert.ok(body, `style.css has no rule for ${selector}`);
  return body;
}

const declared = (selector, property) => new RegExp(`(?:^|[;\\s])${property}:\\s*([^;]+);`).exec(rule(selector))?.[1];

// [what, foreground, background, minimum]
const TEXT = 4.5;
const GRAPHIC = 3;
const pairs = [
  ["body text on the page", "var(--text)", "var(--bg)", TEXT],
  ["body text on a panel", "var(--text)", "var(--panel)", TEXT],
  ["secondary text on a panel", "var(--muted)", "var(--panel)", TEXT],
  ["secondary text on the page", "var(--muted)", "var(--bg)", TEXT],
  ["speculative text in an assistant line", "var(--muted)", "var(--assistant-bg)", TEXT],
  ["a user line", "var(--text)", "var(--user-bg)", TEXT],
  ["an assistant line", "var(--text)", "var(--assistant-bg)", TEXT],
  ["an error note", "var(--danger)", "var(--panel)", TEXT],
  ["the notice's text", "var(--text)", "var(--danger-bg)", TEXT],
  ["the notice's detail", "var(--muted)", "var(--danger-bg)", TEXT],
  ["a primary button", declared("button.primary", "color"), declared("button.primary", "background"), TEXT],
  ["the Stop button", declared("#start.stop", "color"), declared("#start.stop", "background"), TEXT],
  ["the focus ring on a panel", "var(--focus)", "var(--panel)", GRAPHIC],
  ["the focus ring on the page", "var(--focus)", "var(--bg)", GRAPHIC],
  ["the level meter's fill", "var(--ok)", "var(--bg)", GRAPHIC],
];
// Every status dot, as style.css colours it, against the panel it sits on.
for (const state of ["", "busy", "live", "speaking", "error"]) {
  const selector = state ? `.dot.${state}` : ".dot";
  pairs.push([`the ${state || "idle"} status dot`, declared(selector, "background"), "var(--panel)", GRAPHIC]);
}

test("every colour pair meets WCAG AA in both colour schemes", (t) => {
  const report = [];
  for (const [name, vars] of Object.entries(schemes)) {
    for (const [what, fg, bg, min] of pairs) {
      const r = ratio(color(vars, fg), color(vars, bg));
      report.push(`${name.padEnd(5)} ${r.toFixed(2).padStart(5)}:1 (≥ ${min}) ${what}`);
      assert.ok(r >= min, `${name}: ${what}: ${r.toFixed(2)}:1 is below ${min}:1`);
    }
  }
  t.diagnostic(`contrast ratios:\n${report.join("\n")}`);
});

test("the busy and speaking dots pulse without fading: a ring grows around a dot of full colour", () => {
  const keyframes = /@keyframes pulse\s*\{([\s\S]*?)\n\}/.exec(css)?.[1];
  assert.ok(keyframes, "style.css has no @keyframes pulse");
  assert.doesNotMatch(keyframes, /opacity|background|filter/, "the pulse must not change the dot's own colour");
  assert.match(keyframes, /box-shadow/);
  assert.match(css, /\.dot\.busy, \.dot\.speaking \{ animation: pulse/);
});
