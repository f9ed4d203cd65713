'use strict';
// Artillery processor for the Nova Sonic gateway (scenario.yml). One virtual user is one conversation held
// the way the web client holds it: connect, authorize, open the session, then for each turn stream a
// recorded question at real-time pace followed by silence until the assistant has answered, and finally
// close with sessionEnd and wait for the gateway's normal close (1000). Every step that goes wrong throws,
// which Artillery counts as a failed virtual user with the message under errors.*.
//
// Metrics (Artillery's summary and report.json):
//   novasonic.connect_ms         WebSocket handshake, from the connect step to the open socket
//   novasonic.authorize_ms       authorization message to the gateway's reply
//   novasonic.first_audio_ms     per turn: end of the user's speech to the assistant's first audio
//   novasonic.turns_answered     turns the assistant answered with audio in time
//   novasonic.audio_frames_sent  32 ms audio frames sent
//
// Settings come from the environment (run.sh and README.md describe them); the token is a local one unless
// Cognito users are configured.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

// Audio as Nova Sonic takes it and the web client sends it: 16 kHz, 16-bit, mono, 32 ms (512 samples) a frame.
const SAMPLE_RATE = 16000;
const FRAME_MS = 32;
const FRAME_BYTES = (SAMPLE_RATE * 2 * FRAME_MS) / 1000;

// Waits, generous so that a busy machine slows the scenario down without failing it.
const TIMEOUTS = {
  authorize: 30_000, // the gateway refuses after 10 s itself
  firstAudio: num('NOVASONIC_ANSWER_TIMEOUT_MS', 30_000), // the model's endpointing pause included
  answerEnd: 60_000, // a long spoken answer
  close: 30_000,
};

// The questions, one WAV per turn, used in turn order.
const TURNS = (process.env.NOVASONIC_TURN_AUDIO || 'hello,date,weather,thanks')
  .split(',')
  .map((name) => path.join(__dirname, 'audio', `${name.trim()}.wav`));

function num(name, fallback) {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

// readWav returns the PCM of a 16 kHz, 16-bit, mono PCM WAV file and refuses anything else by name.
function readWav(file) {
  const b = fs.readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${file}: not a RIFF/WAVE file`);
  }
  let fmt;
  for (let i = 12; i + 8 <= b.length; ) {
    const id = b.toString('ascii', i, i + 4);
    const size = b.readUInt32LE(i + 4);
    const body = i + 8;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.channels !== 1 || fmt.rate !== SAMPLE_RATE || fmt.bits !== 16) {
        throw new Error(`${file}: need 16-bit mono PCM at ${SAMPLE_RATE} Hz, got ${JSON.stringify(fmt)}`);
      }
      return b.subarray(body, Math.min(body + size, b.length));
    }
    i = body + size + (size % 2); // chunks are padded to an even size
  }
  throw new Error(`${file}: no data chunk`);
}

// frames splits PCM into base64 frames of FRAME_BYTES, the last one padded with silence.
function frames(pcm) {
  const out = [];
  for (let i = 0; i < pcm.length; i += FRAME_BYTES) {
    const frame = Buffer.alloc(FRAME_BYTES);
    pcm.copy(frame, 0, i, Math.min(i + FRAME_BYTES, pcm.length));
    out.push(frame.toString('base64'));
  }
  return out;
}

const SILENCE = Buffer.alloc(FRAME_BYTES).toString('base64');
const turnFrames = new Map(); // file → frames, read once per Artillery worker

function framesOf(file) {
  if (!turnFrames.has(file)) turnFrames.set(file, frames(readWav(file)));
  return turnFrames.get(file);
}

// The events of a conversation, as the web client writes them (server/PROTOCOL.md).
const events = {
  authorization: (token) => ({ type: 'authorization', token: `Bearer ${token}` }),
  sessionStart: () => ({
    event: {
      sessionStart: {
        inferenceConfiguration: { maxTokens: 1024, topP: 0.9, temperature: 0.7 },
        turnDetectionConfiguration: { endpointingSensitivity: 'MEDIUM' },
      },
    },
  }),
  promptStart: (promptName) => ({
    event: {
      promptStart: {
        promptName,
        textOutputConfiguration: { mediaType: 'text/plain' },
        audioOutputConfiguration: { mediaType: 'audio/lpcm', sampleRateHertz: 24000, sampleSizeBits: 16, channelCount: 1, voiceId: 'tiffany', encoding: 'base64', audioType: 'SPEECH' },
        toolUseOutputConfiguration: { mediaType: 'application/json' },
        toolConfiguration: {
          tools: [
            { toolSpec: { name: 'getDateAndTimeTool', description: 'Get information about the current date and time.', inputSchema: { json: JSON.stringify({ type: 'object', properties: {}, required: [] }) } } },
            {
              toolSpec: {
                name: 'getWeatherTool',
                description: 'Get the current weather for a given location, based on its WGS84 coordinates.',
                inputSchema: { json: JSON.stringify({ type: 'object', properties: { latitude: { type: 'string' }, longitude: { type: 'string' } }, required: ['latitude', 'longitude'] }) },
              },
            },
          ],
        },
      },
    },
  }),
  textContent: (promptName, contentName, role, content) => [
    { event: { contentStart: { promptName, contentName, type: 'TEXT', role, interactive: false, textInputConfiguration: { mediaType: 'text/plain' } } } },
    { event: { textInput: { promptName, contentName, content } } },
    { event: { contentEnd: { promptName, contentName } } },
  ],
  audioStart: (promptName, contentName) => ({
    event: {
      contentStart: {
        promptName, contentName, type: 'AUDIO', role: 'USER', interactive: true,
        audioInputConfiguration: { mediaType: 'audio/lpcm', sampleRateHertz: SAMPLE_RATE, sampleSizeBits: 16, channelCount: 1, audioType: 'SPEECH', encoding: 'base64' },
      },
    },
  }),
  audioInput: (promptName, contentName, content) => ({ event: { audioInput: { promptName, contentName, content } } }),
  contentEnd: (promptName, contentName) => ({ event: { contentEnd: { promptName, contentName } } }),
  promptEnd: (promptName) => ({ event: { promptEnd: { promptName } } }),
  sessionEnd: () => ({ event: { sessionEnd: {} } }),
};

const SYSTEM_PROMPT = 'You are a friend. The user and you will engage in a spoken dialog exchanging the transcripts of a natural real-time conversation. Keep your responses short, generally two or three sentences for chatty scenarios.';

// conversation is the state one virtual user keeps in its Artillery context.
function conversation(context) {
  if (!context.novasonic) throw new Error('no conversation: the connect step did not run');
  return context.novasonic;
}

// beforeConnect is the scenario's connect function: it picks the gateway URL and starts the connection clock.
function beforeConnect(wsArgs, context, done) {
  wsArgs.target = process.env.NOVASONIC_WS_URL || wsArgs.target;
  context.novasonic = { connectStarted: process.hrtime.bigint(), inbox: [], waiters: [], closed: null };
  done();
}

// listen routes the gateway's messages to whoever waits for them and remembers the close.
function listen(c, ws) {
  ws.on('message', (data) => {
    const text = data.toString();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    c.inbox.push(msg);
    for (const w of [...c.waiters]) w();
  });
  ws.on('close', (code, reason) => {
    c.closed = { code, reason: reason.toString() };
    for (const w of [...c.waiters]) w();
  });
}

// waitFor resolves with the first message since `from` that match accepts, or rejects after ms, or when the
// gateway closes or reports an error first.
function waitFor(c, match, ms, what, from = 0) {
  return new Promise((resolve, reject) => {
    let seen = from;
    const check = () => {
      for (; seen < c.inbox.length; seen++) {
        const msg = c.inbox[seen];
        if (msg.type === 'error') return finish(new Error(`gateway error ${msg.code} (${msg.closeCode}): ${msg.message}`));
        if (match(msg)) return finish(null, { msg, index: seen });
      }
      if (c.closed) finish(new Error(`connection closed (${c.closed.code}) while waiting for ${what}`));
    };
    const timer = setTimeout(() => finish(new Error(`no ${what} within ${ms} ms`)), ms);
    const finish = (err, value) => {
      clearTimeout(timer);
      c.waiters = c.waiters.filter((w) => w !== check);
      if (err) reject(err);
      else resolve(value);
    };
    c.waiters.push(check);
    check();
  });
}

function send(context, ev) {
  context.ws.send(JSON.stringify(ev));
}

// authorize sends the token and waits for the gateway's success reply.
async function authorize(context, ee) {
  const c = conversation(context);
  ee.emit('histogram', 'novasonic.connect_ms', msSince(c.connectStarted));
  listen(c, context.ws);
  const token = await tokenFor();
  const started = process.hrtime.bigint();
  send(context, events.authorization(token));
  const { msg } = await waitFor(c, (m) => m.type === 'authorization', TIMEOUTS.authorize, 'authorization reply');
  if (msg.status !== 'success') throw new Error(`authorization refused: ${JSON.stringify(msg)}`);
  ee.emit('histogram', 'novasonic.authorize_ms', msSince(started));
  c.sessionId = msg.sessionId;
}

// openSession opens the Nova Sonic session, the system prompt and the one long-lived audio content.
async function openSession(context) {
  const c = conversation(context);
  c.promptName = crypto.randomUUID();
  c.audioName = crypto.randomUUID();
  send(context, events.sessionStart());
  send(context, events.promptStart(c.promptName));
  for (const ev of events.textContent(c.promptName, crypto.randomUUID(), 'SYSTEM', SYSTEM_PROMPT)) send(context, ev);
  send(context, events.audioStart(c.promptName, c.audioName));
}

// speakTurn streams the next question in real time, then silence (Nova Sonic needs audio all along, and the
// pause is how it knows the turn ended) until the assistant's answer has finished.
async function speakTurn(context, ee) {
  const c = conversation(context);
  const turn = c.turns = (c.turns || 0) + 1;
  const question = framesOf(TURNS[(turn - 1) % TURNS.length]);
  const stream = startStreaming(context, question, ee);
  try {
    await stream.spoken;
    const speechEnded = process.hrtime.bigint();
    const from = c.inbox.length;
    const { index } = await waitFor(c, (m) => m.event && m.event.audioOutput, TIMEOUTS.firstAudio, `assistant audio for turn ${turn}`, from);
    ee.emit('histogram', 'novasonic.first_audio_ms', msSince(speechEnded));
    ee.emit('counter', 'novasonic.turns_answered', 1);
    await waitFor(c, (m) => m.event && m.event.contentEnd && m.event.contentEnd.type === 'AUDIO' && m.event.contentEnd.role !== 'USER',
      TIMEOUTS.answerEnd, `the end of the assistant's answer in turn ${turn}`, index);
  } finally {
    stream.stop();
  }
}

// startStreaming sends frames, then silence, one every FRAME_MS on an absolute schedule (a late timer does
// not slow the stream down), until stop. spoken resolves once the last frame of speech is sent.
function startStreaming(context, speech, ee) {
  const c = conversation(context);
  const started = Date.now();
  let sent = 0;
  let timer;
  let spokenResolve;
  const spoken = new Promise((resolve) => (spokenResolve = resolve));
  const tick = () => {
    while (sent <= (Date.now() - started) / FRAME_MS) {
      if (c.closed) return;
      send(context, events.audioInput(c.promptName, c.audioName, sent < speech.length ? speech[sent] : SILENCE));
      sent++;
      if (sent === speech.length) spokenResolve();
    }
    timer = setTimeout(tick, started + sent * FRAME_MS - Date.now());
  };
  tick();
  return {
    spoken,
    stop: () => {
      clearTimeout(timer);
      ee.emit('counter', 'novasonic.audio_frames_sent', sent);
    },
  };
}

// closeSession ends the conversation as the web client does and waits for the gateway's normal close.
async function closeSession(context) {
  const c = conversation(context);
  send(context, events.contentEnd(c.promptName, c.audioName));
  send(context, events.promptEnd(c.promptName));
  send(context, events.sessionEnd());
  const closed = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), TIMEOUTS.close);
    const check = () => {
      if (c.closed) {
        clearTimeout(timer);
        resolve(c.closed);
      }
    };
    c.waiters.push(check);
    check();
  });
  if (!closed) throw new Error(`no close within ${TIMEOUTS.close} ms of sessionEnd`);
  if (closed.code !== 1000) throw new Error(`closed with ${closed.code} ${closed.reason}, not 1000`);
}

function msSince(t) {
  return Number(process.hrtime.bigint() - t) / 1e6;
}

// tokenFor returns the bearer token of a virtual user: a Cognito access token when users are configured
// (a deployed stack), NOVASONIC_TOKEN if set, or else a fresh local token, which a gateway started with
// -local accepts (each token is its own user there, so the per-user limit does not apply).
async function tokenFor() {
  const users = cognitoUsers();
  if (users.length > 0) {
    return cognitoAccessToken(users[nextUser++ % users.length]);
  }
  return process.env.NOVASONIC_TOKEN || `loadtest-${crypto.randomUUID()}`;
}

let nextUser = 0; // virtual users take the configured users in turn

// cognitoUsers reads COGNITO_USERS ("name:password,name:password"): each can hold MAX_CONVERSATIONS_PER_USER
// conversations at once per gateway task.
function cognitoUsers() {
  return (process.env.COGNITO_USERS || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.indexOf(':');
      if (i <= 0) throw new Error('COGNITO_USERS must be name:password pairs separated by commas');
      return { username: s.slice(0, i), password: s.slice(i + 1) };
    });
}

const tokens = new Map(); // username → Promise of an access token: one sign-in per user and worker

// cognitoAccessToken signs a user in to the stack's user pool with SRP, the flow its web app client allows,
// through AWS's own Cognito library, and returns the access token the gateway verifies.
function cognitoAccessToken({ username, password }) {
  if (!tokens.has(username)) {
    tokens.set(username, signIn(username, password).catch((err) => {
      tokens.delete(username);
      throw err;
    }));
  }
  return tokens.get(username);
}

function signIn(username, password) {
  // Installed with Artillery (.artillery/package.json), beside which this file is not.
  const { CognitoUserPool, CognitoUser, AuthenticationDetails } = require(path.join(__dirname, '.artillery', 'node_modules', 'amazon-cognito-identity-js'));
  const pool = new CognitoUserPool({
    UserPoolId: required('COGNITO_USER_POOL_ID'),
    ClientId: required('COGNITO_CLIENT_ID'),
    endpoint: process.env.COGNITO_ENDPOINT || undefined, // tests only
  });
  const user = new CognitoUser({ Username: username, Pool: pool });
  return new Promise((resolve, reject) => {
    user.authenticateUser(new AuthenticationDetails({ Username: username, Password: password }), {
      onSuccess: (session) => resolve(session.getAccessToken().getJwtToken()),
      onFailure: (err) => reject(new Error(`Cognito sign-in of ${username} failed: ${err.code || ''} ${err.message}`)),
      newPasswordRequired: () => reject(new Error(`Cognito user ${username} must set a permanent password first (README.md)`)),
    });
  });
}

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required with COGNITO_USERS`);
  return v;
}

module.exports = {
  beforeConnect, authorize, openSession, speakTurn, closeSession,
  // for processor.test.js
  readWav, frames, events, cognitoUsers, cognitoAccessToken, FRAME_BYTES,
};
