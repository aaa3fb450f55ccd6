"""Model benchmarks against the llama.cpp peer (part of `make bench`).

For every benchmark model (scripts/make-bench-models), runs `tandem bench --json` and the peer
(bench/peer/llama_bench.c on the npm package's prebuilt libllama, or `llama-bench` when one is on
PATH) alternately, ROUNDS times each, one repetition per process so that both tools meet the same
machine state; reports medians, the ratio tandem / llama.cpp for pp and tg, and how close tandem's
decode gets to the memory-bandwidth limit (weight bytes per token x tokens/s / STREAM triad).

Usage: bench_models.py BUILD_DIR MODELS_DIR PEER_CMD [ROUNDS] [THREADS] [P] [N]
PEER_CMD: `llama-bench` (a llama.cpp build on PATH), or a command prefix that takes
`MODEL P N REPS THREADS` and prints JSON with pp_tokens_per_s / tg_tokens_per_s (llama_bench.c).
The triad bandwidth is measured by BUILD_DIR/bench/tandem_bench just before and just after each of
tandem's runs: the machine's bandwidth drifts by tens of % within minutes, so each run's decode
speed is set against the mean of the two triads around it, and the roofline share reported is the
median of those per-run shares.
Environment: BENCH_MATCH=SUBSTRING runs only the files whose name contains it; BENCH_OUT=NAME
writes BUILD_DIR/bench/NAME instead of models.json."""
import json
import os
import shlex
import statistics
import subprocess
import sys


def run_json(cmd, whole=False):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return json.loads(r.stdout if whole else r.stdout.strip().splitlines()[-1])


def triad_gbs(build, threads):
    r = subprocess.run([os.path.join(build, "bench", "tandem_bench"), f"--benchmark_filter=BM_Triad/threads:{threads}",
                        "--benchmark_format=json"], capture_output=True, text=True, check=True)
    doc, _ = json.JSONDecoder().raw_decode(r.stdout.lstrip())  # tandem_bench's summary table follows
    return doc["benchmarks"][0]["GB/s"]


def run_peer(peer, path, p, n, threads):
    if os.path.basename(peer[0]) == "llama-bench":
        rows = run_json(peer + ["-m", path, "-p", str(p), "-n", str(n), "-r", "1", "-t", str(threads), "-o", "json"],
                        whole=True)
        pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == p and r["n_gen"] == 0)
        tg = next(r["avg_ts"] for r in rows if r["n_gen"] == n and r["n_prompt"] == 0)
        return {"pp_tokens_per_s": pp, "tg_tokens_per_s": tg}
    return run_json(peer + [path, str(p), str(n), "1", str(threads)])


def main():
    build, models_dir, peer = sys.argv[1], sys.argv[2], shlex.split(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    p = int(sys.argv[6]) if len(sys.argv) > 6 else 512
    n = int(sys.argv[7]) if len(sys.argv) > 7 else 128
    match = os.environ.get("BENCH_MATCH", "")
    files = sorted(f for f in os.listdir(models_dir) if f.endswith(".gguf") and "-F16" not in f and match in f)
    if not files:
        raise SystemExit(f"bench: no models in {models_dir} (scripts/make-bench-models)")
    results = []
    for f in files:
        path = os.path.join(models_dir, f)
        ours, theirs, info = {"pp": [], "tg": []}, {"pp": [], "tg": []}, None
        triads, shares = [], []
        for r in range(rounds):
            before = triad_gbs(build, threads)
            j = run_json([os.path.join(build, "tandem"), "bench", "-m", path, "-p", str(p), "-n", str(n), "-r", "1",
                          "-t", str(threads), "--json"])
            info = j
            triads.append(0.5 * (before + triad_gbs(build, threads)))
            shares.append(j["tg_tokens_per_s"] * j["model_bytes"] / 1e9 / triads[-1])
            ours["pp"].append(j["pp_tokens_per_s"])
            ours["tg"].append(j["tg_tokens_per_s"])
            k = run_peer(peer, path, p, n, threads)
            theirs["pp"].append(k["pp_tokens_per_s"])
            theirs["tg"].append(k["tg_tokens_per_s"])
            print(f"  {f} round {r + 1}/{rounds}: tandem pp {ours['pp'][-1]:.1f} tg {ours['tg'][-1]:.2f} | "
                  f"llama.cpp pp {theirs['pp'][-1]:.1f} tg {theirs['tg'][-1]:.2f}", flush=True)
        row = {"model": f, "model_bytes": info["model_bytes"], "peak_rss_bytes": info["peak_rss_bytes"],
               "file_bytes": info["file_bytes"], "kv_bytes": info["kv_bytes"],
               "triad_gb_per_s": statistics.median(triads), "triad_samples": triads,
               "roofline": statistics.median(shares), "roofline_samples": shares}
        for t in ("pp", "tg"):
            row[f"tandem_{t}"] = statistics.median(ours[t])
            row[f"llama_{t}"] = statistics.median(theirs[t])
            row[f"ratio_{t}"] = row[f"tandem_{t}"] / row[f"llama_{t}"]
            row[f"tandem_{t}_samples"], row[f"llama_{t}_samples"] = ours[t], theirs[t]
        results.append(row)
    for row in results:
        row["rss_budget_bytes"] = int((row["file_bytes"] + row["kv_bytes"]) * 1.15)

    print(f"\nmodels: {threads} threads, medians of {rounds} alternating rounds; peer: {' '.join(peer[:1])}")
    print(f"{'model':<28} {'pp' + str(p) + ' tandem':>12} {'llama.cpp':>10} {'ratio':>6}   "
          f"{'tg' + str(n) + ' tandem':>12} {'llama.cpp':>10} {'ratio':>6}  {'triad GB/s':>10} {'% of triad':>10}  "
          f"{'RSS/(file+KV)':>13}")
    for r in results:
        print(f"{r['model']:<28} {r['tandem_pp']:>12.2f} {r['llama_pp']:>10.2f} {r['ratio_pp']:>6.2f}   "
              f"{r['tandem_tg']:>12.2f} {r['llama_tg']:>10.2f} {r['ratio_tg']:>6.2f}  {r['triad_gb_per_s']:>10.1f} "
              f"{100 * r['roofline']:>9.1f}%  {r['peak_rss_bytes'] / (r['file_bytes'] + r['kv_bytes']):>13.2f}")
    out = os.path.join(build, "bench", os.environ.get("BENCH_OUT", "models.json"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"threads": threads, "rounds": rounds, "peer": peer, "n_prompt": p, "n_gen": n,
                   "results": results}, fh, indent=2)
    print(f"JSON in {out}")


if __name__ == "__main__":
    main()
