// The chat page at GET /: one self-contained HTML file (no external assets), compiled in.
// It streams replies from /v1/chat/completions and keeps the conversation in the page.
#include "server/server.h"

namespace tandem::server {

const char* chat_page_html() {
  return R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tandem chat</title>
<style>
  :root { --bg:#f6f7f9; --fg:#1d2330; --muted:#6b7385; --me:#2f6fed; --card:#fff; --line:#dfe3ea; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg);
         display:flex; flex-direction:column; height:100vh; }
  header { padding:10px 16px; border-bottom:1px solid var(--line); background:var(--card); display:flex; gap:12px; align-items:center; }
  header h1 { font-size:16px; margin:0; }
  header .model { color:var(--muted); font-size:13px; }
  header input { margin-left:auto; width:180px; padding:4px 8px; border:1px solid var(--line); border-radius:6px; }
  #log { flex:1; overflow-y:auto; padding:16px; display:flex; flex-direction:column; gap:10px; }
  .msg { max-width:75%; padding:8px 12px; border-radius:10px; white-space:pre-wrap; word-wrap:break-word; }
  .user { align-self:flex-end; background:var(--me); color:#fff; }
  .assistant { align-self:flex-start; background:var(--card); border:1px solid var(--line); }
  .error { align-self:center; color:#b3261e; font-size:13px; }
  .stats { color:var(--muted); font-size:12px; align-self:flex-start; }
  form { display:flex; gap:8px; padding:12px 16px; border-top:1px solid var(--line); background:var(--card); }
  textarea { flex:1; resize:none; height:44px; padding:10px; border:1px solid var(--line); border-radius:8px; font:inherit; }
  button { padding:0 18px; border:0; border-radius:8px; background:var(--me); color:#fff; font:inherit; cursor:pointer; }
  button:disabled { opacity:.5; cursor:default; }
</style>
</head>
<body>
<header><h1>tandem</h1><span class="model" id="model"></span>
  <input id="key" type="password" placeholder="API key (if set)" autocomplete="off"></header>
<div id="log"></div>
<form id="form"><textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button></form>
<script>
const log = document.getElementById('log'), input = document.getElementById('input');
const send = document.getElementById('send'), keyBox = document.getElementById('key');
keyBox.value = localStorage.getItem('tandem-key') || '';
keyBox.onchange = () => { localStorage.setItem('tandem-key', keyBox.value); loadModel(); };
const messages = [];
let model = '';
function headers() {
  const h = { 'Content-Type': 'application/json' };
  if (keyBox.value) h['Authorization'] = 'Bearer ' + keyBox.value;
  return h;
}
function add(cls, text) {
  const d = document.createElement('div'); d.className = 'msg ' + cls; d.textContent = text;
  log.appendChild(d); log.scrollTop = log.scrollHeight; return d;
}
function loadModel() {
  fetch('/v1/models', { headers: headers() }).then(r => r.json()).then(j => {
    if (j.data && j.data.length) { model = j.data[0].id; document.getElementById('model').textContent = model; }
  }).catch(() => {});
}
loadModel();
input.addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('form').requestSubmit(); }
});
document.getElementById('form').addEventListener('submit', async e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = ''; send.disabled = true;
  messages.push({ role: 'user', content: text });
  add('user', text);
  const out = add('assistant', '');
  const t0 = performance.now(); let n = 0, reply = '';
  try {
    const r = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(),
      body: JSON.stringify({ model: model || undefined, messages, stream: true, stream_options: { include_usage: true } }) });
    if (!r.ok) { const j = await r.json().catch(() => ({})); throw new Error((j.error && j.error.message) || r.statusText); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = '', usage = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!ev.startsWith('data: ')) continue;
        const data = ev.slice(6);
        if (data === '[DONE]') continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        if (j.usage) usage = j.usage;
        const c = j.choices && j.choices[0];
        if (c && c.delta && c.delta.content) { reply += c.delta.content; out.textContent = reply; n++;
          log.scrollTop = log.scrollHeight; }
      }
    }
    messages.push({ role: 'assistant', content: reply });
    const s = (performance.now() - t0) / 1000;
    const toks = usage ? usage.completion_tokens : n;
    const st = document.createElement('div'); st.className = 'stats';
    st.textContent = toks + ' tokens in ' + s.toFixed(2) + ' s (' + (toks / s).toFixed(1) + ' tokens/s)';
    log.appendChild(st);
  } catch (err) {
    messages.pop(); out.remove(); add('error', 'Error: ' + err.message);
  } finally { send.disabled = false; input.focus(); }
});
</script>
</body>
</html>
)HTML";
}

}  // namespace tandem::server
