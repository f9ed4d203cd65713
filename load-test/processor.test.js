'use strict';
// Unit tests of the Artillery processor (node --test; make test-load runs them). The scenario itself runs
// against the real gateway in run.sh's smoke run.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const processor = require('./processor.js');

function wavHeader({ format = 1, channels = 1, rate = 16000, bits = 16, dataBytes }) {
  const b = Buffer.alloc(44);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(format, 20);
  b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE((rate * channels * bits) / 8, 28);
  b.writeUInt16LE((channels * bits) / 8, 32);
  b.writeUInt16LE(bits, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

function tempWav(t, opts, pcm) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wav-')), 'a.wav');
  fs.writeFileSync(file, Buffer.concat([wavHeader({ ...opts, dataBytes: pcm.length }), pcm]));
  t.after(() => fs.rmSync(path.dirname(file), { recursive: true }));
  return file;
}

test('the recorded questions are 16 kHz 16-bit mono speech of a few seconds', () => {
  for (const name of ['hello', 'date', 'weather', 'thanks']) {
    const pcm = processor.readWav(path.join(__dirname, 'audio', `${name}.wav`));
    const seconds = pcm.length / 32000;
    assert.ok(seconds > 1 && seconds < 4, `${name}.wav lasts ${seconds} s`);
  }
});

test('a WAV of another format is refused with its name and format', (t) => {
  const file = tempWav(t, { rate: 44100 }, Buffer.alloc(100));
  assert.throws(() => processor.readWav(file), (err) => err.message.includes(file) && err.message.includes('"rate":44100'));
  const stereo = tempWav(t, { channels: 2 }, Buffer.alloc(100));
  assert.throws(() => processor.readWav(stereo), /"channels":2/);
});

test('PCM is cut into 32 ms frames, the last one padded with silence', (t) => {
  const pcm = Buffer.alloc(2 * processor.FRAME_BYTES + 10, 7);
  const file = tempWav(t, {}, pcm);
  const frames = processor.frames(processor.readWav(file));
  assert.equal(frames.length, 3);
  const last = Buffer.from(frames[2], 'base64');
  assert.equal(last.length, processor.FRAME_BYTES);
  assert.deepEqual([...last.subarray(0, 11)], [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0]);
});

test('audio events are the exact frames the gateway relays', () => {
  assert.equal(JSON.stringify(processor.events.audioInput('p', 'c', 'AAAA')), '{"event":{"audioInput":{"promptName":"p","contentName":"c","content":"AAAA"}}}');
  assert.equal(JSON.stringify(processor.events.sessionEnd()), '{"event":{"sessionEnd":{}}}');
  assert.equal(JSON.stringify(processor.events.authorization('t')), '{"type":"authorization","token":"Bearer t"}');
});

test('COGNITO_USERS lists name:password pairs; a password may hold colons', (t) => {
  t.after(() => delete process.env.COGNITO_USERS);
  process.env.COGNITO_USERS = 'alice:pa:ss, bob:x';
  assert.deepEqual(processor.cognitoUsers(), [{ username: 'alice', password: 'pa:ss' }, { username: 'bob', password: 'x' }]);
  process.env.COGNITO_USERS = 'nopassword';
  assert.throws(() => processor.cognitoUsers(), /name:password/);
});

// The sign-in goes to the user pool's Cognito endpoint with SRP, the flow the stack's web app client allows.
// A stand-in endpoint refuses the password as Cognito does; the processor reports which user failed, and
// tries again on the next conversation rather than caching the failure.
test('a Cognito sign-in starts SRP for the pool and app client, and a refusal names the user', async (t) => {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ target: req.headers['x-amz-target'], type: req.headers['content-type'], body: JSON.parse(body) });
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'NotAuthorizedException', message: 'Incorrect username or password.' }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  Object.assign(process.env, { COGNITO_USER_POOL_ID: 'us-east-1_Pool1', COGNITO_CLIENT_ID: 'client-1', COGNITO_ENDPOINT: `http://127.0.0.1:${server.address().port}/` });
  t.after(() => ['COGNITO_USER_POOL_ID', 'COGNITO_CLIENT_ID', 'COGNITO_ENDPOINT'].forEach((k) => delete process.env[k]));

  for (let attempt = 1; attempt <= 2; attempt++) {
    await assert.rejects(processor.cognitoAccessToken({ username: 'alice', password: 'wrong' }),
      { message: 'Cognito sign-in of alice failed: NotAuthorizedException Incorrect username or password.' });
    assert.equal(requests.length, attempt);
  }
  const { target, type, body } = requests[0];
  assert.equal(target, 'AWSCognitoIdentityProviderService.InitiateAuth');
  assert.equal(type, 'application/x-amz-json-1.1');
  assert.equal(body.AuthFlow, 'USER_SRP_AUTH');
  assert.equal(body.ClientId, 'client-1');
  assert.equal(body.AuthParameters.USERNAME, 'alice');
  assert.match(body.AuthParameters.SRP_A, /^[0-9a-f]{256,}$/);
});

test('a report passes only when every conversation completed with every turn answered and no error', () => {
  const { check } = require('./check-report.js');
  const report = (counters) => ({ aggregate: { counters, summaries: {} } });
  const ok = { 'vusers.created': 2, 'vusers.completed': 2, 'vusers.failed': 0, 'novasonic.turns_answered': 4 };
  assert.deepEqual(check(report(ok), 2).problems, []);
  assert.deepEqual(check(report({ ...ok, 'vusers.completed': 1, 'vusers.failed': 1, 'novasonic.turns_answered': 2, 'errors.no assistant audio for turn 1 within 30000 ms': 1 }), 2).problems,
    ['1 of 2 conversations completed, 1 failed', '1 × no assistant audio for turn 1 within 30000 ms']);
  assert.deepEqual(check(report({ ...ok, 'novasonic.turns_answered': 3 }), 2).problems, ['3 turns answered, want 4 (2 per conversation)']);
  assert.deepEqual(check(report({}), 1).problems, ['no conversation was started']);
});
