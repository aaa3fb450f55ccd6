#!/usr/bin/python3
"""Planner validation (part of `make bench`): predict, then measure, tandem bench on this machine.

  scripts/bench_plan.py BUILD_DIR MODEL.gguf [ROUNDS]

Each of ROUNDS rounds (default 7) measures --tp 1 (one process, every core), 2 and 4 (one
thread per rank, mpirun on this host) with `tandem bench`, each between two calibrations:
1. `tandem plan --calibrate` under `mpirun -n 2` (for --tp 1 and 2) or `-n 4` measures this
   machine with tandem's own kernels (weights streamed by the one-token kernels, GEMM at 128
   tokens, attention over a 512-token prompt, the per-token vector work) and the group's
   all-reduce, and writes BUILD_DIR/bench/local-N-roundR-K.json (chip and system "local").
2. `tandem plan --hardware local.json --cluster local` predicts pp512 and tg128 from the
   calibration just before the measurement and from the one just after; the prediction is their
   geometric mean (this machine's memory bandwidth drifts by 10-40% within minutes, so a
   calibration a few seconds away on both sides tracks it better than one per round).
The table prints the medians over the rounds and the median of the per-round ratios
predicted / measured. JSON: BUILD_DIR/bench/plan.json.
"""
import json
import math
import os
import statistics
import subprocess
import sys

MPI_LOCAL = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp",
             "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    build, model = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    tandem = os.path.join(build, "tandem")
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    cores = os.cpu_count()
    configs = [(1, None, ["-t", str(cores)]), (2, MPI_LOCAL + ["-n", "2"], ["-t", "1", "--tp", "2"]),
               (4, MPI_LOCAL + ["-n", "4"], ["-t", "1", "--tp", "4"])]

    def calibrate(n, r, k):
        path = os.path.join(build, "bench", f"local-{n}-round{r}-{k}.json")
        c = subprocess.run(MPI_LOCAL + ["-n", str(n), tandem, "plan", "-m", model, "--calibrate", path],
                           capture_output=True, text=True)
        if c.returncode != 0:
            sys.exit(f"bench_plan: calibration over {n} ranks failed: {c.stderr.strip()[-300:]}")
        return path

    def predict(hardware, tp, workload):
        out = subprocess.run([tandem, "plan", "-m", model, "--hardware", hardware, "--cluster", "local", "--plan", f"tp={tp}",
                              "--batch", "1", "--workload", workload, "--prefill-tokens", "1", "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)[0]["plans"][0]

    # Calibrations for --tp 1 and 2 come from 2 ranks (one process of 2 threads has no
    # all-reduce; its chip is the same), for --tp 4 from 4. Per round: c2 tp1 c2 tp2 c2 c4 tp4 c4.
    runs = {tp: {"pp": [], "tg": [], "pp_pred": [], "tg_pred": []} for tp, _, _ in configs}
    calibrations = []
    for r in range(rounds):
        before = {}
        cal = []
        for tp, prefix, extra in configs:
            n = 2 if tp <= 2 else tp
            if n not in before:
                before[n] = calibrate(n, r, len(cal))
                cal.append(before[n])
            p = subprocess.run((prefix or []) + [tandem, "bench", "-m", model, "-p", "512", "-n", "128", "-r", "1", "--json"] + extra,
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"bench_plan: tp {tp} failed: {p.stderr.strip()[-300:]}")
            after = calibrate(n, r, len(cal))
            cal.append(after)
            j = json.loads(p.stdout.strip().splitlines()[-1])
            runs[tp]["pp"].append(j["pp_tokens_per_s"])
            runs[tp]["tg"].append(j["tg_tokens_per_s"])
            both = (before[n], after)
            runs[tp]["pp_pred"].append(geomean([predict(h, tp, "in=512,out=1")["prefill_tokens_per_s_per_chip"] for h in both]))
            runs[tp]["tg_pred"].append(geomean([predict(h, tp, "in=1,out=128")["decode_tokens_per_s_per_chip"] for h in both]))
            before[n] = after
        calibrations.append([json.load(open(c)) for c in cal])
        print(f"bench_plan: round {r + 1} of {rounds} done", file=sys.stderr)

    med = statistics.median
    print(f"\nPlanner, predicted / measured on this machine: {os.path.basename(model)}, tandem bench -p 512 -n 128; "
          f"each of {rounds} rounds measures every configuration between two calibrations (tandem plan --calibrate); medians over the rounds")
    print(f"{'configuration':<34} {'pp512 pred':>10} {'meas':>7} {'ratio':>6} {'tg128 pred':>11} {'meas':>7} {'ratio':>6}")
    rows = {}
    for tp, _, extra in configs:
        x = runs[tp]
        pp_ratio = med([a / b for a, b in zip(x["pp_pred"], x["pp"])])
        tg_ratio = med([a / b for a, b in zip(x["tg_pred"], x["tg"])])
        name = f"--tp {tp}" + (f", {cores} threads" if tp == 1 else ", 1 thread per rank")
        print(f"{name:<34} {med(x['pp_pred']):>10.1f} {med(x['pp']):>7.1f} {pp_ratio:>6.2f} "
              f"{med(x['tg_pred']):>11.1f} {med(x['tg']):>7.1f} {tg_ratio:>6.2f}")
        rows[tp] = {"pp512_predicted": med(x["pp_pred"]), "pp512_measured": med(x["pp"]), "pp512_ratio": pp_ratio,
                    "tg128_predicted": med(x["tg_pred"]), "tg128_measured": med(x["tg"]), "tg128_ratio": tg_ratio,
                    "rounds": x}
    with open(os.path.join(build, "bench", "plan.json"), "w") as f:
        json.dump({"model": model, "calibrations": calibrations, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
