// Soak (`make soak`): `tandem serve` on loopback under mixed load for a bounded time — streaming
// and non-streaming chat, completions, JSON mode, clients that disconnect mid-stream, bad
// requests — then checks that no valid request failed, that the KV pool is back to empty and
// that the server's RSS stayed flat (after a warm-up, the last quarter's peak is within 10% +
// 16 MiB of the first quarter's).
//   node bench/soak.mjs --bin build/tandem --model FILE [--seconds 1800] [--streams 12]
import { parseArgs, startServer } from './serve_process.mjs';
import fs from 'node:fs';

const args = parseArgs(process.argv.slice(2));
const BIN = args.bin ?? 'build/tandem', MODEL = args.model ?? 'models/tandem-demo.gguf';
const SECONDS = Number(args.seconds ?? 1800), STREAMS = Number(args.streams ?? 12);

const { proc, base } = await startServer(BIN, MODEL, ['--parallel', '8', '--max-queue', '64', '-t', '2']);

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]) * 1024;
const metric = async name => Number((new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(base + '/metrics')).text()) || [])[1]);
const counts = { ok: 0, failed: 0, refused: 0, bad_ok: 0, bad_wrong: 0, disconnected: 0 };
const failures = [];
const WORDS = 'the river ran past the old mill where the miller kept his accounts in a book'.split(' ');
const text = (i, n) => Array.from({ length: n }, (_, k) => WORDS[(i + k * 3) % WORDS.length]).join(' ');

// Every request has a deadline: a hang is a failure, not a stuck soak.
const deadline = () => AbortSignal.timeout(120000);
async function post(path, body, signal) {
  return fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    signal: signal ? AbortSignal.any([signal, deadline()]) : deadline() });
}
async function job(i) {
  const kind = i % 10;
  const messages = [{ role: 'user', content: text(i, 5 + (i * 37) % 200) }];
  if (kind <= 3) {  // streaming chat, read to the end
    const r = await post('/v1/chat/completions', { messages, max_tokens: 16 + i % 100, stream: true, temperature: 0.8, seed: i });
    if (r.status === 429) return counts.refused++;
    const body = await r.text();
    if (r.status !== 200 || !body.trimEnd().endsWith('data: [DONE]')) throw new Error(`stream ${r.status}: ${body.slice(-200)}`);
  } else if (kind <= 5) {  // non-streaming chat / completion
    const r = kind === 4 ? await post('/v1/chat/completions', { messages, max_tokens: 32, temperature: 0 })
                         : await post('/v1/completions', { prompt: text(i, 30), max_tokens: 24, logprobs: 2 });
    if (r.status === 429) return counts.refused++;
    const j = await r.json();
    if (r.status !== 200 || !j.usage) throw new Error(`${r.status}: ${JSON.stringify(j).slice(0, 200)}`);
  } else if (kind === 6) {  // JSON mode: must parse
    const r = await post('/v1/chat/completions', { messages, max_tokens: 40, response_format: { type: 'json_object' }, seed: i });
    if (r.status === 429) return counts.refused++;
    const j = await r.json();
    if (r.status !== 200) throw new Error(`json ${r.status}`);
    JSON.parse(j.choices[0].message.content);
  } else if (kind <= 8) {  // a client that leaves mid-stream
    const ac = new AbortController();
    const r = await post('/v1/chat/completions', { messages, max_tokens: 300, stream: true }, ac.signal);
    if (r.status === 429) return counts.refused++;
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();  // (reading on after an abort can hang in undici: nothing more is awaited)
    counts.disconnected++;
    return;
  } else {  // bad input must get a 4xx with an error body
    const r = await fetch(base + '/v1/chat/completions', { method: 'POST', body: ['{', '{"messages": 3}', '{"messages": [], "n": 2}'][i % 3], signal: deadline() });
    const j = await r.json().catch(() => null);
    if (r.status === 400 && j && j.error) counts.bad_ok++; else counts.bad_wrong++;
    return;
  }
  counts.ok++;
}

const t0 = Date.now();
const samples = [];
const sampler = setInterval(() => {
  try { samples.push({ t: (Date.now() - t0) / 1000, rss: rss() }); } catch { /* exited */ }
  if (samples.length % 12 === 0) console.log(`soak: ${Math.round((Date.now() - t0) / 1000)} s ${JSON.stringify(counts)} rss ${(samples.at(-1).rss / 1048576).toFixed(1)} MiB`);
}, 5000);
let next = 0;
await Promise.all(Array.from({ length: STREAMS }, async () => {
  while (Date.now() - t0 < SECONDS * 1000) {
    const i = next++;
    try { await job(i); } catch (e) { counts.failed++; if (failures.length < 10) failures.push(`job ${i} (kind ${i % 10}): ${e.message}`); }
  }
}));
clearInterval(sampler);
let used = NaN, running = NaN;
for (let k = 0; k < 100; k++) {
  used = await metric('tandem_kv_blocks_used'); running = await metric('tandem_running_sequences');
  if (used === 0 && running === 0) break;
  await new Promise(r => setTimeout(r, 100));
}
const warm = samples.filter(s => s.t >= Math.min(60, SECONDS / 4));
const q = Math.max(1, Math.floor(warm.length / 4));
const first = Math.max(...warm.slice(0, q).map(s => s.rss)), last = Math.max(...warm.slice(-q).map(s => s.rss));
proc.kill('SIGTERM');
const code = await new Promise(r => proc.on('exit', r));
const mib = b => (b / 1048576).toFixed(1);
console.log(`soak: ${SECONDS} s, ${STREAMS} clients: ${JSON.stringify(counts)}`);
console.log(`soak: KV blocks used at the end ${used}, running ${running}; RSS first quarter peak ${mib(first)} MiB, last quarter peak ${mib(last)} MiB; server exit ${code}`);
for (const f of failures) console.log(`soak: failure: ${f}`);
if (warm.length < 4) console.log(`soak: only ${warm.length} RSS samples after the warm-up: run longer (--seconds >= 60)`);
const flat = warm.length >= 4 && last <= first * 1.10 + 16 * 1048576;  // too few samples is no evidence
const ok = counts.failed === 0 && counts.bad_wrong === 0 && used === 0 && running === 0 && flat && code === 0 && counts.ok > 0;
console.log(ok ? 'soak: PASS' : 'soak: FAIL');
process.exit(ok ? 0 : 1);
