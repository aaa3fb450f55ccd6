// Starts `tandem serve` on a free loopback port for the load and soak scripts: resolves once
// /health says the model is loaded. extra: further flags; launcher: a command line that starts
// it, e.g. 'mpirun -n 2' for a group of processes (with --tp / --pp in extra).
import { spawn } from 'node:child_process';

export async function startServer(bin, model, extra = [], launcher = '') {
  const argv = [...launcher.split(' ').filter(Boolean), bin, 'serve', '-m', model, '--port', '0', ...extra];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise((res, rej) => {
    proc.stderr.on('data', d => { err += d; const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(err); if (m) res(Number(m[1])); });
    proc.on('exit', c => rej(new Error(`server exited ${c}: ${err}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if ((await fetch(base + '/health').catch(() => ({ status: 0 }))).status === 200) break;
    await new Promise(r => setTimeout(r, 100));
  }
  return { proc, base };
}

// Parses --name value pairs.
export function parseArgs(argv) {
  return Object.fromEntries(argv.reduce((a, x, i, all) => (x.startsWith('--') ? a.concat([[x.slice(2), all[i + 1]]]) : a), []));
}
