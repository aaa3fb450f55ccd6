// Load benchmark for `tandem serve`: N concurrent clients, each sending streaming chat requests
// back to back (closed loop) with a mix of prompt lengths; reports aggregate generated tokens/s
// (completion tokens / wall time), TTFT and TPOT (per request: (last - first token) / (n - 1))
// p50 / p99, and failures.
//   node bench/load.mjs --bin build/tandem --model FILE [--streams 1,4,16,32] [--requests-per-stream 3]
//                       [--max-tokens 128] [--prompt-tokens 16,48,128,256] [--rounds R] [--json OUT]
//                       [--server-args "--tp 2"] [--launch "mpirun -n 2"]
// With --rounds R the stream counts are measured R times in alternation (the machine's speed
// drifts) and each figure is the median over the rounds.
import { parseArgs, startServer } from './serve_process.mjs';
import fs from 'node:fs';
import http from 'node:http';

const args = parseArgs(process.argv.slice(2));
const BIN = args.bin ?? 'build/tandem', MODEL = args.model;
if (!MODEL) { console.error('usage: node bench/load.mjs --model FILE [--bin build/tandem] [--streams 1,4,16,32]'); process.exit(2); }
const STREAMS = (args.streams ?? '1,4,16,32').split(',').map(Number);
const PER = Number(args['requests-per-stream'] ?? 4), MAX_TOKENS = Number(args['max-tokens'] ?? 128);
const THREADS = args.threads ?? '2';

// Mixed prompt lengths in tokens (measured with the server's /tokenize, so the mix is the same
// whatever the model's tokenizer): a quarter each of ~16, ~48, ~128 and ~256 tokens.
const LENGTHS = (args['prompt-tokens'] ?? '16,48,128,256').split(',').map(Number);
const WORDS = 'the river ran past the old mill where the miller kept his accounts in a book bound with leather and every evening he counted the sacks of grain that the farmers had brought from the valley'.split(' ');
let tokensPerWord = 1, templateTokens = 0;
// Request i of a run tagged `tag`: its length class is i's; the tag (one per round and stream
// count) keeps every prompt new, so no run is served from the KV cache's reuse of an earlier one.
function prompt(i, tag = '') {
  const n = Math.max(1, Math.round((LENGTHS[i % LENGTHS.length] - templateTokens) / tokensPerWord));
  let s = '';
  for (let k = 0; k < n; k++) s += WORDS[(k * 7 + i) % WORDS.length] + ' ';
  return `(${tag}${i}) ${s}`;
}
async function calibrate(base) {
  let s = '';
  for (let k = 0; k < 200; k++) s += WORDS[k % WORDS.length] + ' ';
  const r = await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: s }) })).json();
  tokensPerWord = r.tokens.length / 200;
  // What the chat template adds around a message: counted in, so a prompt of L tokens is L in all.
  const t = await (await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: '(0)' }], max_tokens: 1 }) })).json();
  const probe = await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: '(0) ' }) })).json();
  templateTokens = Math.max(0, t.usage.prompt_tokens - probe.tokens.length);
}

async function start() {
  return startServer(BIN, MODEL, ['-t', THREADS, '--parallel', String(Math.max(...STREAMS)), '-c', args.ctx ?? '4096',
    '--max-queue', '1024', ...(args['server-args'] ? args['server-args'].split(' ') : [])], args.launch ?? '');
}

// The engine's step counters from /metrics.
async function engineCounters(base) {
  const m = await (await fetch(base + '/metrics')).text();
  const g = name => Number((new RegExp(`^${name} (\\S+)$`, 'm').exec(m) || [])[1]);
  return { steps: g('tandem_engine_steps_total'), rows: g('tandem_engine_rows_total'),
    fwd: g('tandem_engine_forward_seconds_total'), smp: g('tandem_engine_sample_seconds_total') };
}

// One streaming request through node:http on a keep-alive agent, not fetch: the client shares
// the server's cores, and fetch's web streams cost ~4x the CPU per event (~19% of a core at 16
// streams of the bundled model). Events are scanned, not parsed: a content delta is counted by
// its key, the final usage chunk and errors are parsed.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
function one(base, i, tag = '') {
  const t0 = performance.now();
  const body = JSON.stringify({ messages: [{ role: 'user', content: prompt(i, tag) }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: i,
    stream: true, stream_options: { include_usage: true } });
  const url = new URL(base + '/v1/chat/completions');
  return new Promise(resolve => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, res => {
      if (res.statusCode !== 200) { res.resume(); resolve({ ok: false, status: res.statusCode }); return; }
      res.setEncoding('utf8');
      let buf = '', first = 0, last = 0, usage = null, failed = false;
      res.on('data', chunk => {
        buf += chunk;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, k); buf = buf.slice(k + 2);
          if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
          if (ev.includes('"delta":{"content":"') && !ev.includes('"content":""')) {
            const now = performance.now(); if (!first) first = now; last = now;
          } else if (ev.includes('"usage":{')) {
            usage = JSON.parse(ev.slice(6)).usage;
          } else if (ev.startsWith('data: {"error"')) {
            failed = true;
          }
        }
      });
      res.on('end', () => {
        if (failed) { resolve({ ok: false, status: 500 }); return; }
        const n = usage ? usage.completion_tokens : 0;
        resolve({ ok: true, n, ttft: (first - t0) / 1000, tpot: n > 1 ? (last - first) / 1000 / (n - 1) : null });
      });
      res.on('error', () => resolve({ ok: false, status: 0 }));
    });
    req.on('socket', sock => sock.setNoDelay(true));  // else the body waits on a delayed ACK: +40 ms TTFT
    req.on('error', () => resolve({ ok: false, status: 0 }));
    req.end(body);
  });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] : NaN; };

const { proc, base } = await start();
const rows = [];
try {
  await calibrate(base);
  console.log(`prompts of ${LENGTHS.join('/')} tokens (${templateTokens} of chat template, ${tokensPerWord.toFixed(2)} tokens per word), ${MAX_TOKENS} generated each`);
  await one(base, 0);  // warm-up
  let prev = await engineCounters(base);
  const ROUNDS = Number(args.rounds ?? 1);
  const byN = new Map(STREAMS.map(N => [N, []]));
  for (let round = 0; round < ROUNDS; round++) for (const N of STREAMS) {
    const results = [];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, async (_, c) => {
      for (let k = 0; k < PER; k++) results.push(await one(base, c * PER + k + 1, `${round}.${N}.`));
    }));
    const wall = (performance.now() - t0) / 1000;
    const eng = await engineCounters(base);
    const d = Object.fromEntries(Object.keys(eng).map(k => [k, eng[k] - prev[k]]));
    prev = eng;
    const ok = results.filter(r => r.ok), tokens = ok.reduce((a, r) => a + r.n, 0);
    const tp = ok.map(r => r.tpot).filter(x => x !== null);
    const row = { streams: N, requests: results.length, failed: results.length - ok.length, tokens, wall_s: wall, tokens_per_s: tokens / wall,
      ttft_p50: pct(ok.map(r => r.ttft), 50), ttft_p99: pct(ok.map(r => r.ttft), 99), tpot_p50: pct(tp, 50), tpot_p99: pct(tp, 99),
      rows_per_step: d.rows / d.steps, forward_ms_per_step: d.fwd / d.steps * 1000 };
    byN.get(N).push(row);
    console.log(`streams ${String(N).padStart(2)}: ${row.tokens_per_s.toFixed(1).padStart(6)} tok/s  TTFT p50 ${row.ttft_p50.toFixed(3)} p99 ${row.ttft_p99.toFixed(3)} s  ` +
      `TPOT p50 ${(row.tpot_p50 * 1000).toFixed(1)} p99 ${(row.tpot_p99 * 1000).toFixed(1)} ms  (${row.requests} requests, ${row.failed} failed, ${tokens} tokens; ` +
      `${row.rows_per_step.toFixed(1)} rows/step, ${row.forward_ms_per_step.toFixed(1)} ms/step forward)`);
  }
  const median = xs => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
  for (const N of STREAMS) {
    const rs = byN.get(N);
    const row = Object.fromEntries(Object.keys(rs[0]).map(k => [k, median(rs.map(r => r[k]))]));
    row.failed = rs.reduce((a, r) => a + r.failed, 0);
    rows.push(row);
  }
  if (ROUNDS > 1) for (const r of rows)
    console.log(`median streams ${String(r.streams).padStart(2)}: ${r.tokens_per_s.toFixed(1).padStart(6)} tok/s  TTFT p50 ${r.ttft_p50.toFixed(3)} p99 ${r.ttft_p99.toFixed(3)} s  ` +
      `TPOT p50 ${(r.tpot_p50 * 1000).toFixed(1)} p99 ${(r.tpot_p99 * 1000).toFixed(1)} ms  (${r.failed} failed in all rounds)`);
  const one_ = rows.find(r => r.streams === 1);
  if (one_) for (const r of rows) if (r.streams > 1) {
    r.throughput_vs_1 = r.tokens_per_s / one_.tokens_per_s;
    r.tpot_p99_vs_1 = r.tpot_p99 / one_.tpot_p50;
    console.log(`  ${r.streams} streams: ${r.throughput_vs_1.toFixed(2)} x the 1-stream throughput, TPOT p99 ${r.tpot_p99_vs_1.toFixed(2)} x the 1-stream TPOT`);
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ model: MODEL, max_tokens: MAX_TOKENS, rows }, null, 1));
} finally {
  proc.kill('SIGTERM');
}
