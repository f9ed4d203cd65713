// config.js → settings, for the local defaults and for what the CDK stack writes.
import test from "node:test";
import assert from "node:assert/strict";
import { loadSettings } from "../static/js/settings.js";

const local = { href: "http://localhost:8080/", protocol: "http:", host: "localhost:8080" };
const cloud = { href: "https://d111.cloudfront.net/index.html?x=1", protocol: "https:", host: "d111.cloudfront.net" };

test("local defaults: same-origin socket, local token", () => {
  const s = loadSettings({ websocketUrl: null, auth: "local", voiceId: "matthew" }, local);
  assert.equal(s.websocketUrl, "ws://localhost:8080/interact-s2s");
  assert.equal(s.auth, "local");
  assert.equal(s.cognito, null);
  assert.equal(s.voiceId, "matthew");
  assert.match(s.systemPrompt, /friendly assistant/);
  assert.deepEqual(s.problems, []);
});

test("https pages use wss", () => {
  assert.equal(loadSettings({}, cloud).websocketUrl, "wss://d111.cloudfront.net/interact-s2s");
});

test("a deployed config (strings only, no auth key) means Cognito", () => {
  const s = loadSettings({
    websocketUrl: "wss://d111.cloudfront.net/interact-s2s",
    region: "us-east-1",
    userPoolId: "us-east-1_Abc",
    userPoolClientId: "client123",
    cognitoDomain: "nova-sonic-1234.auth.us-east-1.amazoncognito.com",
    voiceId: "tiffany",
  }, cloud);
  assert.equal(s.auth, "cognito");
  assert.deepEqual(s.cognito, {
    clientId: "client123",
    domain: "https://nova-sonic-1234.auth.us-east-1.amazoncognito.com",
    redirectUri: "https://d111.cloudfront.net/",
    scopes: "openid email profile",
    region: "us-east-1",
    userPoolId: "us-east-1_Abc",
  });
  assert.equal(s.voiceId, "tiffany");
  assert.deepEqual(s.problems, []);
});

test("cognitoDomain may be a URL; redirectUri may be set", () => {
  const s = loadSettings({ auth: "cognito", userPoolClientId: "c", cognitoDomain: "https://login.example.com/", redirectUri: "https://app.example.com/" }, cloud);
  assert.equal(s.cognito.domain, "https://login.example.com");
  assert.equal(s.cognito.redirectUri, "https://app.example.com/");
});

test("mistakes are reported, not fatal", () => {
  const s = loadSettings({ auth: "cognito", voiceId: "hal", websocketUrl: "http://x/" }, local);
  assert.equal(s.voiceId, "matthew");
  assert.equal(s.problems.length, 3);
  assert.match(loadSettings(undefined, local).problems[0], /config\.js did not load/);
  assert.match(loadSettings({ auth: "magic" }, local).problems[0], /neither/);
});
