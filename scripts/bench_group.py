#!/usr/bin/python3
"""Group-computing benchmark (part of `make bench`): one model split over MPI ranks.

  scripts/bench_group.py BUILD_DIR MODEL.gguf [REPS]

Runs `tandem bench --json` (pp512, tg128) on
  - one process with 1 thread and with 2 threads (the baselines),
  - --tp 2 on this host (mpirun over loopback, 1 thread per rank),
  - --tp 2 across two "hosts": network namespaces joined by a veth pair (scripts/netns-group,
    1 thread per rank; skipped without root),
  - --tp 4 on this host (4 ranks on 2 cores: memory per rank, speed only indicative),
  - --pp 2 on this host and across the two namespaces, --tp 2 --pp 2 on this host (4 ranks),
alternating the configurations REPS times (default 3) and printing medians, each rank's peak RSS
against the file size, and the bytes communicated per token (counted from the collectives the
forward pass makes) next to the formula's prediction, with the share of time spent inside
collectives. Then `tandem serve` under load (bench/load.mjs, 1 and 16 concurrent streams) as one
process with 2 threads, --tp 2 and --pp 2 (1 thread per rank). JSON: BUILD_DIR/bench/group.json.

With LLAMA_BENCH and LLAMA_RPC_SERVER set (llama-bench and ggml-rpc-server of a llama.cpp built
natively outside this repository with GGML_RPC=ON), the peer's own way of pooling machines runs on
the same two namespaces, one thread per host: its RPC backend with two servers splitting by layers
(-sm layer) and by tensors (-sm tensor), and its client's CPU with one remote server (-ngl, half
the layers and either side of it); the best of each test is compared with tandem's --tp 2 there.
"""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPI_LOCAL = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp",
             "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]


def configs(tandem):
    bench = [tandem, "bench", "--json", "-p", "512", "-n", "128", "-r", "1"]
    return [
        ("1 process, 1 thread", None, bench + ["-t", "1"]),
        ("1 process, 2 threads", None, bench + ["-t", "2"]),
        ("--tp 2, this host", MPI_LOCAL + ["-n", "2"], bench + ["-t", "1", "--tp", "2"]),
        ("--tp 2, two hosts (netns)", [os.path.join(ROOT, "scripts", "netns-group"), "--"], bench + ["-t", "1", "--tp", "2"]),
        ("--tp 4, this host", MPI_LOCAL + ["-n", "4"], bench + ["-t", "1", "--tp", "4"]),
        ("--pp 2, this host", MPI_LOCAL + ["-n", "2"], bench + ["-t", "1", "--pp", "2"]),
        ("--pp 2, two hosts (netns)", [os.path.join(ROOT, "scripts", "netns-group"), "--"], bench + ["-t", "1", "--pp", "2"]),
        ("--tp 2 --pp 2, this host", MPI_LOCAL + ["-n", "4"], bench + ["-t", "1", "--tp", "2", "--pp", "2"]),
    ]


# Serving under load (bench/load.mjs): 1 and 16 concurrent streaming clients.
SERVE = [
    ("serve, 1 process, 2 threads", "", ["--threads", "2"]),
    ("serve --tp 2, this host", " ".join(MPI_LOCAL + ["-n", "2"]), ["--threads", "1", "--server-args", "--tp 2"]),
    ("serve --pp 2, this host", " ".join(MPI_LOCAL + ["-n", "2"]), ["--threads", "1", "--server-args", "--pp 2"]),
]


def serve_loads(build, model):
    tandem = os.path.join(build, "tandem")
    print(f"\nServing {os.path.basename(model)}: bench/load.mjs, 2 requests per stream of 64 tokens, mixed prompts")
    print(f"{'configuration':<30} {'1 stream tok/s':>15} {'16 streams tok/s':>17} {'x 1':>6} {'TPOT p50 1 / 16 (ms)':>22}")
    summary = {}
    for name, launch, extra in SERVE:
        out = os.path.join(build, "bench", "load-" + "".join(c if c.isalnum() else "_" for c in name) + ".json")
        cmd = ["node", os.path.join(ROOT, "bench", "load.mjs"), "--bin", tandem, "--model", model, "--streams", "1,16",
               "--requests-per-stream", "2", "--max-tokens", "64", "--json", out] + extra
        if launch:
            cmd += ["--launch", launch]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{name:<30} failed: {(p.stderr.strip().splitlines() or ['exit %d' % p.returncode])[-1]}")
            continue
        with open(out) as f:
            rows = {r["streams"]: r for r in json.load(f)["rows"]}
        one, many = rows[1], rows[16]
        print(f"{name:<30} {one['tokens_per_s']:>15.1f} {many['tokens_per_s']:>17.1f} {many['tokens_per_s'] / one['tokens_per_s']:>6.2f} "
              f"{1000 * one['tpot_p50']:>10.1f} / {1000 * many['tpot_p50']:<10.1f}")
        summary[name] = {"tokens_per_s_1": one["tokens_per_s"], "tokens_per_s_16": many["tokens_per_s"],
                         "tpot_p50_1": one["tpot_p50"], "tpot_p50_16": many["tpot_p50"], "failed": one["failed"] + many["failed"]}
    return summary


def run(prefix, cmd, model):
    full = (prefix or []) + cmd + ["-m", model]
    p = subprocess.run(full, capture_output=True, text=True)
    if p.returncode == 77:
        return "skipped: " + p.stderr.strip().splitlines()[-1]
    if p.returncode != 0:
        return "failed: " + (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return json.loads(p.stdout.strip().splitlines()[-1])


def n_layer_of(build, model):
    """The file's block count, from tandem inspect."""
    out = subprocess.run([os.path.join(build, "tandem"), "inspect", model], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if ".block_count" in line:
            return int(line.split()[-1])
    return 2


def peer_rpc(model, n_layer, reps):
    """llama.cpp's RPC pooling over two network namespaces, one thread per host: {config: row}.
    scripts/netns-group makes the namespaces and runs this script's --peer part between them."""
    bench, server = os.environ.get("LLAMA_BENCH"), os.environ.get("LLAMA_RPC_SERVER")
    if not bench or not server:
        return None
    p = subprocess.run([os.path.join(ROOT, "scripts", "netns-group"), "--no-mpi", "--", sys.executable,
                        os.path.abspath(__file__), "--peer", model, str(n_layer), str(reps)], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"\npeer RPC: skipped ({p.stderr.strip()[-300:]})")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def peer_rpc_in_namespaces(model, n_layer, reps):
    """Inside netns-group --no-mpi: a server of one thread on each host, llama-bench on the first."""
    bench, server = os.environ["LLAMA_BENCH"], os.environ["LLAMA_RPC_SERVER"]
    a, b, ip_b = os.environ["NETNS_A"], os.environ["NETNS_B"], os.environ["NETNS_IP_B"]
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(bench)))
    servers, rows = [], {}
    try:
        for ns, host in ((b, ip_b), (a, "127.0.0.1")):
            servers.append(subprocess.Popen(["ip", "netns", "exec", ns, server, "-H", host, "-p", "50052", "-t", "1"],
                                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(2)
        both = f"127.0.0.1:50052,{ip_b}:50052"
        half = n_layer // 2
        configs = [("RPC, 2 servers, -sm layer", ["-ngl", "99", "-sm", "layer", "--rpc", both]),
                   ("RPC, 2 servers, -sm tensor", ["-ngl", "99", "-sm", "tensor", "--rpc", both])]
        configs += [(f"client CPU + 1 server, -ngl {n}", ["-ngl", str(n), "--rpc", f"{ip_b}:50052"])
                    for n in (half - 1, half, half + 1)]
        for name, extra in configs:
            p = subprocess.run(["ip", "netns", "exec", a, bench, "-m", model, "-p", "512", "-n", "128", "-t", "1",
                                "-r", str(reps), "-o", "json"] + extra, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                rows[name] = {"error": p.stderr.strip()[-200:]}
                continue
            rows[name] = {("pp512" if r["n_prompt"] else "tg128"): r["avg_ts"] for r in json.loads(p.stdout)}
    finally:
        for srv in servers:
            srv.kill()
            srv.wait()
    print(json.dumps(rows))


def main():
    build, model = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tandem = os.path.join(build, "tandem")
    results = {name: [] for name, _, _ in configs(tandem)}
    notes = {}
    for r in range(reps):
        for name, prefix, cmd in configs(tandem):
            if name in notes:
                continue
            out = run(prefix, cmd, model)
            if isinstance(out, str):
                notes[name] = out
                continue
            results[name].append(out)
        print(f"bench_group: round {r + 1} of {reps} done", file=sys.stderr)

    file_mib = None
    print(f"\n{os.path.basename(model)}: medians of {reps} alternating rounds")
    print(f"{'configuration':<28} {'pp512 tok/s':>12} {'tg128 tok/s':>12} {'peak RSS/rank':>14} {'of file':>8}")
    summary = {}
    for name, _, _ in configs(tandem):
        runs = results[name]
        if not runs:
            print(f"{name:<28} {notes.get(name, 'no result')}")
            continue
        pp = statistics.median(x["pp_tokens_per_s"] for x in runs)
        tg = statistics.median(x["tg_tokens_per_s"] for x in runs)
        rss = max(x["peak_rss_bytes"] for x in runs)
        file_mib = runs[0]["file_bytes"] / 2**20
        print(f"{name:<28} {pp:>12.1f} {tg:>12.2f} {rss / 2**20:>10.1f} MiB {100 * rss / runs[0]['file_bytes']:>7.1f}%")
        summary[name] = {"pp512": pp, "tg128": tg, "peak_rss_bytes": rss, "file_bytes": runs[0]["file_bytes"]}
        if "pp_comm_bytes_per_token" in runs[0]:
            for test in ("pp", "tg"):
                meas = statistics.median(x[f"{test}_comm_bytes_per_token"] for x in runs)
                formula = runs[0][f"{test}_comm_bytes_per_token_formula"]
                frac = statistics.median(x[f"{test}_comm_time_fraction"] for x in runs)
                print(f"{'':<28} {test}: {meas / 1024:.1f} KiB/token sent by rank 0 (formula {formula / 1024:.1f}), "
                      f"{100 * frac:.0f}% of its time inside exchanges")
                summary[name][f"{test}_comm_bytes_per_token"] = meas
                summary[name][f"{test}_comm_time_fraction"] = frac
    one = summary.get("1 process, 2 threads")
    two = summary.get("--tp 2, two hosts (netns)")
    if one and two:
        print(f"\n--tp 2 across two hosts, 1 thread each: tg128 {two['tg128']:.2f} tok/s = "
              f"{100 * two['tg128'] / one['tg128']:.0f}% of one process with 2 threads; pp512 "
              f"{100 * two['pp512'] / one['pp512']:.0f}%; peak RSS per rank {100 * two['peak_rss_bytes'] / two['file_bytes']:.1f}% "
              f"of the {file_mib:.0f} MiB file")
    peer = peer_rpc(model, n_layer_of(build, model), reps)
    if peer is not None:
        print(f"\nThe peer's RPC pooling ({os.environ['LLAMA_BENCH']}), same two namespaces, one thread per host")
        print(f"{'configuration':<34} {'pp512 tok/s':>12} {'tg128 tok/s':>12}")
        for name, r in peer.items():
            if "error" in r:
                print(f"{name:<34} failed: {r['error']}")
            else:
                print(f"{name:<34} {r.get('pp512', float('nan')):>12.1f} {r.get('tg128', float('nan')):>12.2f}")
        ok = [r for r in peer.values() if "error" not in r]
        if two and ok:
            best_pp = max(r.get("pp512", 0) for r in ok)
            best_tg = max(r.get("tg128", 0) for r in ok)
            print(f"tandem --tp 2 over the two namespaces against the peer's best: pp512 {two['pp512'] / best_pp:.2f} x "
                  f"({best_pp:.1f}), tg128 {two['tg128'] / best_tg:.2f} x ({best_tg:.2f})")
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    serving = serve_loads(build, model)
    out = os.path.join(build, "bench", "group.json")
    with open(out, "w") as f:
        json.dump({"model": model, "reps": reps, "results": summary, "peer_rpc": peer, "serving": serving, "notes": notes},
                  f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer_rpc_in_namespaces(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
