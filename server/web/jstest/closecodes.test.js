// Close codes: the page's reaction must match the gateway's verdict (server/gateway/closecodes.go).
import test from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, describeClose } from "../static/js/closecodes.js";

// CloseCode.Retryable() in the gateway.
const GATEWAY_RETRYABLE = [1011, 1012, 4408, 4429, 4500, 4503, 4504];
const GATEWAY_FINAL = [1000, 1003, 1009, 4400, 4401, 4502];

test("retryable codes offer a reconnect, the others do not", () => {
  for (const code of GATEWAY_RETRYABLE) assert.equal(describeClose(code).retryable, true, `code ${code}`);
  for (const code of GATEWAY_FINAL) assert.equal(describeClose(code).retryable, false, `code ${code}`);
});

test("only a restart reconnects by itself", () => {
  for (const code of [...GATEWAY_RETRYABLE, ...GATEWAY_FINAL, 1006]) {
    assert.equal(describeClose(code).auto, code === 1012, `code ${code}`);
  }
});

test("special cases", () => {
  assert.equal(describeClose(1000).normal, true);
  assert.equal(describeClose(4401).signIn, true);
  assert.equal(describeClose(4429).backoff, true);
  assert.equal(describeClose(1006).retryable, true, "a dropped connection may be retried");
  assert.match(describeClose(4502).text, /operator/);
});

test("every message is plain words", () => {
  for (const code of [...GATEWAY_RETRYABLE, ...GATEWAY_FINAL, 1006]) {
    const { text } = describeClose(code);
    assert.ok(text.length > 10 && !/_/.test(text), `code ${code}: ${text}`);
  }
});

test("a deployed user is never told about the gateway, make or Bedrock; a developer is", () => {
  for (const code of [...GATEWAY_RETRYABLE, ...GATEWAY_FINAL, 1001, 1005, 1006, 4999]) {
    assert.doesNotMatch(describeClose(code).text, /gateway|make |Bedrock|bug/i, `code ${code}`);
  }
  assert.equal(describeClose(1006).text, "The connection to the voice service was lost. Check your internet connection, then reconnect.");
  assert.equal(describeClose(1006, null, { local: true }).text,
    "The connection to the voice service was lost. Is the gateway still running? Start it again with make run (or make gateway).");
  assert.equal(describeClose(4502).text, "The voice service is not set up correctly, so reconnecting will not help. Please tell the site's operator.");
  assert.match(describeClose(4502, null, { local: true }).text, /^The voice service is not set up correctly, so reconnecting will not help\. Bedrock refused the gateway: check model access/);
  assert.equal(describeClose(1009, null, { local: true }).text, describeClose(1009).text, "no developer hint: the same advice for both");
});

test("the gateway's message becomes the detail", () => {
  const info = describeClose(4400, { type: "error", code: "bad_request", closeCode: 4400, message: "promptStart before sessionStart", retryable: false });
  assert.equal(info.detail, "promptStart before sessionStart");
  assert.equal(describeClose(1000, { message: "x" }).detail, "");
});

test("unknown codes follow the gateway's retryable flag", () => {
  assert.equal(describeClose(4999, { retryable: true }).retryable, true);
  assert.equal(describeClose(4999, { retryable: false }).retryable, false);
  assert.equal(describeClose(4999).retryable, true, "4500-4999 without a message: a server fault");
  assert.equal(describeClose(4100).retryable, false);
});

test("backoff grows, is jittered, and is capped", () => {
  const lo = (a, o) => backoffDelay(a, { ...o, random: () => 0 });
  const hi = (a, o) => backoffDelay(a, { ...o, random: () => 1 });
  assert.equal(hi(0), 500);
  assert.equal(lo(0), 250);
  assert.equal(hi(3), 4000);
  assert.equal(hi(20), 15000);
  assert.equal(hi(0, { slow: true }), 2000);
});
