#!/usr/bin/python3
"""KV cache benchmark (part of `make bench`): time to first token with and without reuse.

  scripts/bench_kv.py BUILD_DIR MODEL.gguf

Runs `tandem serve` (2 threads) on MODEL (a random-weight ~300 M-parameter Llama shape with a
16K context: scripts/make_random_model.py llama-300m) and measures TTFT over streaming
completions (the time to the first streamed token) in the scenarios of issue 7:
  - shared document: a ~4,000-token document, then 20 different questions, sequential;
  - more documents than fast memory: 6 documents of ~2,000 tokens, 3 interleaved rounds, the
    pool (tier 0) and host memory (tier 1) each sized for one document, the disk (tier 2) for all;
  - restart: the first request after a restart with a warm disk tier;
  - two servers, one store: server B's first request on a document server A computed;
  - multi-turn chat: 8 conversations of 10 turns, interleaved, the pool holding 2 of them: no
    prefix cache, the pool alone, pool + host memory.
Prints each scenario's cold and warm TTFT and their ratio, hit counts and bytes per tier (from
/metrics) and the disk's read bandwidth. JSON: BUILD_DIR/bench/kv.json.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

WORDS = ("the river ran past the old mill where the miller kept his accounts in a book bound with leather and "
         "every evening he counted the sacks of grain that the farmers had brought from the valley").split()


class Server:
    def __init__(self, bin_, model, args):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="tandem-bench-kv-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([bin_, "serve", "-m", model, "--port", "0", "-t", "2", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 300
        self.base = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited: " + open(self.log.name).read())
            m = re.search(r"listening on (http://[\d.]+:\d+)", open(self.log.name).read())
            if m:
                self.base = m.group(1)
                try:
                    with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def ttft(self, prompt, max_tokens=2):
        """Seconds to the first streamed token, and the usage of the request."""
        body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                           "stream_options": {"include_usage": True}}).encode()
        req = urllib.request.Request(self.base + "/v1/completions", body, {"Content-Type": "application/json"})
        t0 = time.perf_counter()
        first, usage, text = None, None, ""
        with urllib.request.urlopen(req, timeout=600) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if first is None and chunk.get("choices"):
                    first = time.perf_counter() - t0
                if chunk.get("choices"):
                    text += chunk["choices"][0].get("text", "")
                if chunk.get("usage"):
                    usage = chunk["usage"]
        return first, usage, text

    def metrics(self):
        with urllib.request.urlopen(self.base + "/metrics") as r:
            out = {}
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, v = line.rsplit(" ", 1)
                    out[k] = float(v)
            return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)


def text_of(n_words, seed):
    return " ".join(WORDS[(i * 7 + seed * 13 + i // 5) % len(WORDS)] for i in range(n_words))


def n_tokens(server, text):
    req = urllib.request.Request(server.base + "/tokenize", json.dumps({"content": text}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return len(json.loads(r.read())["tokens"])


def tokens_per_word(server):
    return n_tokens(server, text_of(400, 0)) / 400


def doc(server, want, seed):
    """A document of `want` tokens (within 2%), counted by the server's tokenizer."""
    words = want // 2
    for _ in range(6):
        text = f"Document {seed}. " + text_of(words, seed) + "\n"
        got = n_tokens(server, text)
        if abs(got - want) <= want * 0.02:
            break
        words = max(1, int(words * want / got))
    return text


def tier_line(m):
    def g(name, label=None):
        key = name if label is None else '%s{%s="%s"}' % (name, label[0], label[1])
        return m.get(key, 0.0)
    looked = g("tandem_prefix_lookup_tokens_total")
    return ("hits: %.0f%% of prompt tokens (%.0f of %.0f looked up); blocks from host %.0f, from disk %.0f; moved to host %.0f, "
            "to disk %.0f; held: host %.1f MiB, disk %.1f MiB" % (
                100 * g("tandem_prefix_shared_tokens_total") / max(looked, 1), g("tandem_prefix_shared_tokens_total"), looked,
                g("tandem_kv_tier_hits_total", ("tier", "host")), g("tandem_kv_tier_hits_total", ("tier", "disk")),
                g("tandem_kv_tier_blocks_moved_total", ("to", "host")), g("tandem_kv_tier_blocks_moved_total", ("to", "disk")),
                g("tandem_kv_tier_bytes", ("tier", "host")) / 2**20, g("tandem_kv_tier_bytes", ("tier", "disk")) / 2**20))


def main():
    build, model = sys.argv[1], sys.argv[2]
    tandem = os.path.join(build, "tandem")
    results = {}
    work = tempfile.mkdtemp(prefix="tandem-bench-kv-")
    kv_per_token = None
    try:
        # 1. Shared document.
        s = Server(tandem, model, ["-c", "8192", "--parallel", "1"])
        tpw = tokens_per_word(s)
        d = doc(s, 4000, 1)
        cold, u, _ = s.ttft(d + "Question 0: what did the miller count?")
        warm = [s.ttft(d + f"Question {q}: what came from the valley on day {q}?")[0] for q in range(1, 21)]
        m = s.metrics()
        s.stop()
        results["shared_document"] = {"prompt_tokens": u["prompt_tokens"], "cold_s": cold, "warm_median_s": statistics.median(warm),
                                      "ratio": cold / statistics.median(warm)}
        print(f"shared document ({u['prompt_tokens']} tokens), 20 questions: cold TTFT {cold:.2f} s, warm median "
              f"{statistics.median(warm):.3f} s: {cold / statistics.median(warm):.1f} x (target >= 20 x)")
        print("  " + tier_line(m))

        # KV bytes per token of this model (f16): from the pool size the server reports.
        s = Server(tandem, model, ["-c", "2048", "--parallel", "1"])
        mib = float(re.search(r"KV pool \d+ blocks of \d+ positions \(([\d.]+) MiB\)", open(s.log.name).read()).group(1))
        s.stop()
        kv_per_token = mib * 2**20 / 2048
        doc_bytes = int(2000 * kv_per_token)

        # 2. More documents than fast memory: the pool holds one context of 2,600 positions, host
        # memory 2,000 positions' KV, the disk all of them.
        disk = os.path.join(work, "disk-docs")
        s = Server(tandem, model, ["-c", "2600", "--parallel", "1", "--kv-dram", str(doc_bytes), "--kv-disk", disk])
        docs = [doc(s, 2000, 10 + i) for i in range(6)]
        rounds = [[s.ttft(docs[i] + f"Round {r}: summarize.")[0] for i in range(6)] for r in range(3)]
        m = s.metrics()
        s.stop()
        cold2, warm2 = statistics.mean(rounds[0]), statistics.mean(rounds[1] + rounds[2])
        results["more_documents_than_memory"] = {"cold_mean_s": cold2, "warm_mean_s": warm2, "ratio": cold2 / warm2,
                                                 "disk_read_bytes": m.get("tandem_kv_disk_read_bytes_total", 0)}
        print(f"6 documents of ~2000 tokens, pool + host memory for 2: round 1 mean TTFT {cold2:.2f} s, rounds 2-3 "
              f"{warm2:.3f} s: {cold2 / warm2:.1f} x (target >= 10 x)")
        print("  " + tier_line(m))

        # 3. Restart with a warm disk.
        disk = os.path.join(work, "disk-restart")
        s = Server(tandem, model, ["-c", "8192", "--parallel", "1", "--kv-disk", disk])
        d = doc(s, 4000, 2)
        cold3 = s.ttft(d + "Before the restart?")[0]
        s.stop()
        s = Server(tandem, model, ["-c", "8192", "--parallel", "1", "--kv-disk", disk])
        warm3 = s.ttft(d + "After the restart?")[0]
        m = s.metrics()
        s.stop()
        read = m.get("tandem_kv_disk_read_bytes_total", 0)
        results["restart"] = {"cold_s": cold3, "warm_s": warm3, "ratio": cold3 / warm3, "disk_read_bytes": read,
                              "disk_read_mb_per_s": read / warm3 / 1e6}
        print(f"restart: cold TTFT {cold3:.2f} s, first request after the restart {warm3:.3f} s: {cold3 / warm3:.1f} x "
              f"(target >= 10 x); {read / 2**20:.0f} MiB read from disk ({read / warm3 / 1e6:.0f} MB/s within the TTFT)")

        # 4. Two servers, one store.
        disk = os.path.join(work, "disk-shared")
        a = Server(tandem, model, ["-c", "8192", "--parallel", "1", "--kv-disk", disk])
        b = Server(tandem, model, ["-c", "8192", "--parallel", "1", "--kv-disk", disk])
        d = doc(a, 4000, 3)
        cold4 = a.ttft(d + "Asked of A.")[0]
        time.sleep(1.0)  # A's writes land (they are asynchronous)
        warm4 = b.ttft(d + "Asked of B.")[0]
        a.stop()
        b.stop()
        results["two_servers"] = {"cold_s": cold4, "warm_s": warm4, "ratio": cold4 / warm4}
        print(f"two servers, one --kv-disk: A cold {cold4:.2f} s, B's first request on A's document {warm4:.3f} s: "
              f"{cold4 / warm4:.1f} x (target >= 10 x)")

        # 5. Multi-turn chat: 8 conversations of 10 turns (a ~40-token question, a 32-token reply
        # that the client sends back as text), interleaved; the pool holds 2 of them.
        ctx = 1280
        def chat(args):
            srv = Server(tandem, model, ["-c", str(ctx), "--parallel", "1", "--kv-mem", str(int(2 * ctx * kv_per_token)), *args])
            convs = [f"Conversation {c}. " + text_of(int(60 / tpw), 100 + c) for c in range(8)]
            ttfts = []
            for turn in range(10):
                for c in range(8):
                    convs[c] += f"\nUser: " + text_of(int(40 / tpw), 200 + 8 * turn + c) + "\nAssistant:"
                    t, _, reply = srv.ttft(convs[c], max_tokens=32)
                    ttfts.append(t)
                    convs[c] += reply
            m = srv.metrics()
            srv.stop()
            return statistics.mean(ttfts), m
        none, _ = chat(["--no-prefix-cache"])
        pool, _ = chat([])
        tiers, m = chat(["--kv-dram", str(int(8 * ctx * kv_per_token))])
        results["multi_turn"] = {"no_cache_mean_s": none, "pool_mean_s": pool, "pool_host_mean_s": tiers,
                                 "vs_no_cache": none / tiers, "vs_pool": pool / tiers}
        print(f"multi-turn chat, 8 conversations x 10 turns, pool for 2: mean TTFT no cache {none:.3f} s, pool alone "
              f"{pool:.3f} s, pool + host memory {tiers:.3f} s: {none / tiers:.1f} x / {pool / tiers:.1f} x "
              f"(targets >= 5 x / >= 2 x)")
        print("  " + tier_line(m))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = os.path.join(build, "bench", "kv.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"model": model, "kv_bytes_per_token": kv_per_token, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
