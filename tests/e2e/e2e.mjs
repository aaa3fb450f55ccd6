// End-to-end: the real `tandem serve` on a loopback port with the bundled model, driven by the
// official OpenAI client (and plain fetch where a client would refuse to send bad input), plus
// the chat page in headless Chromium.
//   node e2e.mjs TANDEM_BINARY MODEL OUT_DIR
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';

const [, , BIN, MODEL, OUT] = process.argv;
if (!BIN || !MODEL || !OUT) { console.error('usage: node e2e.mjs TANDEM_BINARY MODEL OUT_DIR'); process.exit(2); }
fs.mkdirSync(OUT, { recursive: true });
const KEY = 'test-key-123';

// Starts a server on a free port; resolves once /health says ok.
async function startServer(extra = []) {
  const proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '-t', '2', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on('data', d => {
      stderr += d;
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', code => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const seen = [];
  for (let i = 0; i < 300; i++) {
    const r = await fetch(base + '/health');
    seen.push(r.status);
    if (r.status === 200) break;
    await new Promise(r => setTimeout(r, 50));
  }
  assert.equal(seen.at(-1), 200, `health never became ok: ${seen}`);
  return { proc, base, port, health: seen, stderr: () => stderr };
}

function exited(proc, ms) {
  return new Promise(resolve => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const t = setTimeout(() => resolve('timeout'), ms);
    proc.on('exit', code => { clearTimeout(t); resolve(code); });
  });
}

async function metric(base, name) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

let S, client;
before(async () => {
  S = await startServer(['--api-key', KEY, '--parallel', '8', '--body-limit', '65536']);
  client = new OpenAI({ apiKey: KEY, baseURL: S.base + '/v1', maxRetries: 0 });
});
after(async () => { if (S && S.proc.exitCode === null) S.proc.kill('SIGKILL'); });

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map(m => m.id), ['tandem-demo']);
});

test('chat completion: text, usage, finish reason', async () => {
  const r = await client.chat.completions.create({ model: 'tandem-demo', messages: [{ role: 'user', content: 'Tell me about the river.' }], max_tokens: 20, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 20);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  if (r.choices[0].finish_reason === 'length') assert.equal(r.usage.completion_tokens, 20);
});

test('streaming equals non-streaming (greedy), with usage at the end', async () => {
  const req = { model: 'tandem-demo', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 25, temperature: 0 };
  const whole = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? '';
      if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
  }
  assert.ok(chunks > 3);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  // The same counts; the streamed request, second, may find part of its prompt cached.
  const { prompt_tokens_details: d1, ...u1 } = usage, { prompt_tokens_details: d2, ...u2 } = whole.usage;
  assert.deepEqual(u1, u2);
  assert.ok(d1.cached_tokens >= d2.cached_tokens);
});

test('a repeated long prompt reuses its cached prefix: same text, usage.prompt_tokens_details.cached_tokens', async () => {
  const doc = 'The river ran past the old mill where the miller kept his accounts in a leather book. '.repeat(8);
  const req = { model: 'tandem-demo', messages: [{ role: 'user', content: doc + 'What did the miller keep?' }], max_tokens: 16, temperature: 0 };
  const first = await client.chat.completions.create(req);
  const again = await client.chat.completions.create(req);
  assert.ok(first.usage.prompt_tokens > 100, `prompt of ${first.usage.prompt_tokens} tokens`);
  // The first may share the chat template's opening with earlier requests; the second shares
  // all of the first's prompt but its last token.
  assert.ok(first.usage.prompt_tokens_details.cached_tokens < 32);
  const cached = again.usage.prompt_tokens_details.cached_tokens;
  assert.equal(cached, again.usage.prompt_tokens - 1, `cached_tokens ${cached} of ${again.usage.prompt_tokens}`);
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
});

test('stop strings end the text before the stop', async () => {
  const base = { model: 'tandem-demo', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 40, temperature: 0 };
  const free = (await client.chat.completions.create(base)).choices[0].message.content;
  const word = free.trim().split(/\s+/)[2];
  assert.ok(word, `need a few words of output, got ${JSON.stringify(free)}`);
  const r = await client.chat.completions.create({ ...base, stop: [word] });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].message.content, free.slice(0, free.indexOf(word)));
});

test('seeded sampling repeats; max_completion_tokens limits', async () => {
  const req = { model: 'tandem-demo', messages: [{ role: 'user', content: 'Hello' }], max_completion_tokens: 12, temperature: 1.0, top_p: 0.9, seed: 42 };
  const a = await client.chat.completions.create(req), b = await client.chat.completions.create(req);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.ok(a.usage.completion_tokens <= 12);
});

test('completions endpoint with logprobs', async () => {
  const r = await client.completions.create({ model: 'tandem-demo', prompt: 'The old man said', max_tokens: 8, temperature: 0, logprobs: 3 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.length > 0);
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, lp.token_logprobs.length);
  assert.ok(lp.tokens.length >= 1);
  for (let i = 0; i < lp.tokens.length; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    const tops = Object.values(lp.top_logprobs[i]);
    assert.ok(tops.length >= 1 && tops.length <= 3);
    // Greedy: the chosen token is the most likely one.
    assert.ok(Math.abs(Math.max(...tops) - lp.token_logprobs[i]) < 1e-4);
  }
});

test('chat logprobs and top_logprobs', async () => {
  const r = await client.chat.completions.create({ model: 'tandem-demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 4 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.map(c => c.token).join(''), r.choices[0].message.content);
  for (const c of content) {
    assert.equal(c.top_logprobs.length, 4);
    assert.ok(c.logprob <= 0 && Array.isArray(c.bytes));
    let sum = 0;
    for (const t of c.top_logprobs) sum += Math.exp(t.logprob);
    assert.ok(sum <= 1.0001);
  }
});

test('JSON schema output parses and matches', async () => {
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, count: { type: 'integer' }, color: { enum: ['red', 'green', 'blue'] } }, required: ['ok', 'count', 'color'] };
  for (const seed of [1, 2, 3, 4]) {
    const r = await client.chat.completions.create({ model: 'tandem-demo', messages: [{ role: 'user', content: 'Answer in JSON.' }], max_tokens: 100, seed,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } });
    const text = r.choices[0].message.content;
    assert.equal(r.choices[0].finish_reason, 'stop', text);
    const v = JSON.parse(text);
    assert.deepEqual(Object.keys(v).sort(), ['color', 'count', 'ok']);
    assert.equal(typeof v.ok, 'boolean');
    assert.ok(Number.isInteger(v.count));
    assert.ok(['red', 'green', 'blue'].includes(v.color));
  }
});

test('JSON object mode: every output parses as an object, even when max_tokens is tight', async () => {
  for (const [seed, max_tokens] of [[1, 150], [2, 40], [3, 25], [4, 12], [5, 80], [6, 8]]) {
    const r = await client.chat.completions.create({ model: 'tandem-demo', messages: [{ role: 'user', content: 'Reply with a JSON object.' }], max_tokens, seed, temperature: 0.7,
      response_format: { type: 'json_object' } });
    const text = r.choices[0].message.content;
    assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seed}: ${text}`);
    assert.ok(r.usage.completion_tokens <= max_tokens);
    const v = JSON.parse(text);
    assert.equal(typeof v, 'object');
    assert.ok(!Array.isArray(v) && v !== null);
  }
});

// ---- errors ------------------------------------------------------------------------------
async function post(pathName, body, headers = {}) {
  const r = await fetch(S.base + pathName, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}`, ...headers }, body });
  let j = null;
  try { j = await r.json(); } catch { /* checked below */ }
  return { status: r.status, body: j, headers: r.headers };
}
function assertError(res, status, re) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.ok(res.body && res.body.error, `no OpenAI error body: ${JSON.stringify(res.body)}`);
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in res.body.error, `error lacks ${k}`);
  if (re) assert.match(res.body.error.message, re);
}

test('malformed JSON, wrong types, missing messages, unknown model, n > 1 -> 400', async () => {
  assertError(await post('/v1/chat/completions', '{"messages": ['), 400, /not valid JSON/);
  assertError(await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], temperature: 'hot' })), 400, /temperature/);
  assertError(await post('/v1/chat/completions', JSON.stringify({ messages: 'hello' })), 400, /messages/);
  assertError(await post('/v1/chat/completions', JSON.stringify({ model: 'tandem-demo' })), 400, /messages/);
  assertError(await post('/v1/completions', JSON.stringify({ model: 'tandem-demo' })), 400, /prompt/);
  assertError(await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: -3 })), 400, /max_tokens/);
  const r = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], n: 2 }));
  assertError(r, 400, /'n' must be 1/);
  assert.equal(r.body.error.param, 'n');
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    e => e.status === 400 && /gpt-4o/.test(e.message) && e.code === 'model_not_found');
});

test('prompt + max_tokens beyond the context -> 400 naming the numbers', async () => {
  const long = 'word '.repeat(300);
  const r = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: long }], max_tokens: 400 }));
  assertError(r, 400, /400/);
  assert.match(r.body.error.message, /512/);
  assert.equal(r.body.error.code, 'context_length_exceeded');
});

test('missing or wrong bearer token -> 401', async () => {
  assertError(await post('/v1/chat/completions', '{}', { Authorization: '' }), 401, /API key/);
  await assert.rejects(new OpenAI({ apiKey: 'wrong', baseURL: S.base + '/v1', maxRetries: 0 }).models.list(), e => e.status === 401);
});

test('body over the limit -> 413; unknown path -> 404', async () => {
  const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
  assertError(await post('/v1/chat/completions', big), 413, /limit/);
  // A form-encoded body (curl -d without a Content-Type) is capped at 8 KiB by the HTTP library.
  const form = JSON.stringify({ messages: [{ role: 'user', content: 'y'.repeat(9000) }] });
  assertError(await post('/v1/chat/completions', form, { 'Content-Type': 'application/x-www-form-urlencoded' }), 413,
    /application\/json/);
  assertError(await post('/v1/nothing', '{}'), 404);
});

test('32 concurrent greedy requests equal their sequential outputs', async () => {
  const prompts = Array.from({ length: 32 }, (_, i) => `Story number ${i}: the ${['cat', 'dog', 'ship', 'king'][i % 4]} went`);
  const req = p => ({ model: 'tandem-demo', messages: [{ role: 'user', content: p }], max_tokens: 16, temperature: 0 });
  const seq = [];
  for (const p of prompts.slice(0, 32)) seq.push((await client.chat.completions.create(req(p))).choices[0].message.content);
  const par = await Promise.all(prompts.map(p => client.chat.completions.create(req(p))));
  par.forEach((r, i) => assert.equal(r.choices[0].message.content, seq[i], `request ${i}`));
});

test('the listening socket queues a burst of connections (backlog well above 64)', async () => {
  // cpp-httplib's own backlog is 5: a burst of clients connecting at once lost SYNs and each
  // waited a 1 s retransmit. `ss` shows a listener's backlog in its Send-Q column.
  const out = execFileSync('ss', ['-ltnH', `sport = :${S.port}`], { encoding: 'utf8' }).trim();
  const cols = out.split(/\s+/);
  assert.ok(cols.length >= 4, `ss printed no listener for port ${S.port}: '${out}'`);
  assert.ok(Number(cols[2]) >= 64, `listen backlog ${cols[2]} (ss: '${out}')`);
});

test('a client that disconnects mid-stream frees its sequence', async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ model: 'tandem-demo', messages: [{ role: 'user', content: 'Go on and on' }], max_tokens: 400, stream: true }, { signal: ac.signal });
  let n = 0;
  try {
    for await (const c of stream) { if (++n === 3) ac.abort(); }
  } catch (e) { /* aborted */ }
  let used = NaN, running = NaN;
  for (let i = 0; i < 100; i++) {
    used = await metric(S.base, 'tandem_kv_blocks_used');
    running = await metric(S.base, 'tandem_running_sequences');
    if (used === 0 && running === 0) break;
    await new Promise(r => setTimeout(r, 50));
  }
  assert.equal(running, 0);
  assert.equal(used, 0, 'KV blocks still held after the client left');
});

test('metrics in Prometheus format', async () => {
  const text = await (await fetch(S.base + '/metrics')).text();
  for (const name of ['tandem_requests_total{endpoint="chat_completions",status="200"}', 'tandem_requests_total{endpoint="chat_completions",status="400"}',
    'tandem_prompt_tokens_total', 'tandem_generation_tokens_total', 'tandem_time_to_first_token_seconds_bucket',
    'tandem_time_per_output_token_seconds_count', 'tandem_queue_length', 'tandem_running_sequences', 'tandem_kv_blocks_used', 'tandem_kv_blocks_free',
    'tandem_kv_blocks_cached', 'tandem_prefix_shared_tokens_total', 'tandem_prefix_lookup_tokens_total'])
    assert.ok(text.includes(name), `metrics lack ${name}`);
  assert.ok(await metric(S.base, 'tandem_generation_tokens_total') > 100);
  fs.writeFileSync(path.join(OUT, 'metrics.txt'), text);
});

test('the chat page streams a reply in headless Chromium', async () => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    await page.goto(S.base + '/');
    await page.fill('#key', KEY);
    await page.dispatchEvent('#key', 'change');
    await page.fill('#input', 'Tell me a short story about a river.');
    await page.click('#send');
    await page.waitForSelector('.stats', { timeout: 60000 });
    const reply = await page.textContent('.msg.assistant');
    assert.ok(reply && reply.length > 0, 'empty reply on the page');
    assert.equal(await page.$('.error'), null, 'the page shows an error');
    const shot = path.join(OUT, 'chat.png');
    await page.screenshot({ path: shot });
    console.log(`# screenshot: ${shot}`);
  } finally {
    await browser.close();
  }
});

// ---- a second server: queue limit and shutdown ----------------------------------------------
test('queue full -> 429 with Retry-After; SIGTERM finishes in flight and exits 0', async () => {
  const T = await startServer(['--parallel', '1', '--max-queue', '1', '--grace', '20']);
  const c = new OpenAI({ apiKey: 'none', baseURL: T.base + '/v1', maxRetries: 0 });
  const req = { model: 'tandem-demo', messages: [{ role: 'user', content: 'Go on' }], max_tokens: 60, temperature: 0 };
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => c.chat.completions.create(req)));
  const refused = results.filter(r => r.status === 'rejected');
  assert.ok(refused.length >= 1, 'nothing was refused with a queue of 1');
  for (const r of refused) {
    assert.equal(r.reason.status, 429);
    assert.equal(r.reason.headers['retry-after'], '1');
  }
  assert.ok(results.some(r => r.status === 'fulfilled'));
  // Shutdown: a stream in flight completes, the process exits 0.
  const stream = await c.chat.completions.create({ ...req, max_tokens: 80, stream: true });
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  T.proc.kill('SIGTERM');
  let text = '', done = false;
  for (;;) { const { value, done: d } = await it.next(); if (d) { done = true; break; } text += value.choices[0]?.delta?.content ?? ''; }
  assert.ok(done);
  assert.equal(await exited(T.proc, 30000), 0, T.stderr());
});
