// The OpenAI-compatible surface, driven by the official `openai` npm package with a user's JWT
// as the API key. Starts Confidant (offline provider) on a free port and stops it by pid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const bin = process.env.CONFIDANT_BIN ?? new URL('../../build/confidant', import.meta.url).pathname;
let server;
let port;
let dir;
let token;

function startServer() {
  dir = mkdtempSync(join(tmpdir(), 'confidant-openai-'));
  server = spawn(bin, ['serve'], {
    env: {
      PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', DATABASE_URL: `sqlite://${dir}/db.sqlite`,
      JWT_SECRET: 'openai-e2e-secret-0123456789abcdef', PASSWORD_HASH_PROFILE: 'fast', LOG_LEVEL: 'warn',
      LLM_PROVIDER: 'offline',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('confidant did not start')), 20000);
    server.stdout.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(/listening on [\d.]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    server.on('exit', (code) => reject(new Error(`confidant exited with ${code}`)));
  });
}

before(async () => {
  port = await startServer();
  const res = await fetch(`http://127.0.0.1:${port}/v1/auth/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: `oa_${process.pid}`, password: 'openai-password-1' }),
  });
  assert.equal(res.status, 201);
  token = (await res.json()).access_token;
});

after(async () => {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  assert.equal(await exited, 0);
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new OpenAI({ apiKey: token, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });

test('lists the confidant model', async () => {
  const models = await client().models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['confidant']);
});

test('gets a completion', async () => {
  const c = await client().chat.completions.create({
    model: 'confidant',
    messages: [{ role: 'system', content: 'ignored' }, { role: 'user', content: 'hello from the sdk' }],
  });
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.match(c.choices[0].message.content, /hello from the sdk/);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.id.startsWith('chatcmpl-'));
  assert.equal(typeof c.usage.total_tokens, 'number');
});

test('streams a completion', async () => {
  const stream = await client().chat.completions.create({
    model: 'confidant', stream: true, messages: [{ role: 'user', content: 'stream to the sdk' }],
  });
  let text = '';
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(chunks > 2);
  assert.match(text, /stream to the sdk/);
  assert.equal(finish, 'stop');
  // Stored in the companion's own history like POST /v1/chat.
  const h = await (await fetch(`http://127.0.0.1:${port}/v1/chat/history`, {
    headers: { Authorization: `Bearer ${token}` },
  })).json();
  assert.equal(h.messages.at(-1).content, text);
  assert.equal(h.messages.at(-2).content, 'stream to the sdk');
});

test('errors use the OpenAI shape', async () => {
  const bad = new OpenAI({ apiKey: 'not-a-token', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'confidant', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 401 && e.error?.type === 'authentication_error' && typeof e.error?.message === 'string');
  await assert.rejects(client().chat.completions.create({ model: 'confidant', messages: [] }),
    (e) => e.status === 400 && e.error?.type === 'invalid_request_error');
  await assert.rejects(client().chat.completions.create({ model: 'confidant', messages: [{ role: 'assistant', content: 'no user turn' }] }),
    (e) => e.status === 400);
});

test('a repeated Idempotency-Key replays the first completion', async () => {
  const historyLength = async () => (await (await fetch(`http://127.0.0.1:${port}/v1/chat/history?limit=200`, {
    headers: { Authorization: `Bearer ${token}` },
  })).json()).messages.length;
  const before = await historyLength();
  const ask = () => client().chat.completions.create(
    { model: 'confidant', messages: [{ role: 'user', content: 'say it once' }] },
    { headers: { 'Idempotency-Key': `oa-key-${process.pid}` } });
  const first = await ask();
  const second = await ask();
  assert.equal(second.choices[0].message.content, first.choices[0].message.content);
  assert.equal(await historyLength(), before + 2);
});
