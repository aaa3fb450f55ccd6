#!/usr/bin/python3
"""Planner validation (part of `make bench`): predict, then measure, tandem bench on this machine.

  scripts/bench_plan.py BUILD_DIR MODEL.gguf [ROUNDS]

1. `tandem plan --calibrate` under `mpirun -n 2` and `-n 4` measures this machine with tandem's
   own kernels (weights streamed by the one-token kernels, GEMM at 128 tokens) and the group's
   all-reduce, and writes BUILD_DIR/bench/local-{2,4}.json (chip and system "local").
2. `tandem plan --hardware local.json --cluster local` predicts pp512 and tg128 for --tp 1 (one
   process, every core), 2 and 4 (one thread per rank, mpirun on this host).
3. `tandem bench` measures them (median of ROUNDS alternating rounds) and the table prints
   predicted / measured. JSON: BUILD_DIR/bench/plan.json.
"""
import json
import os
import statistics
import subprocess
import sys

MPI_LOCAL = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp",
             "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]


def main():
    build, model = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tandem = os.path.join(build, "tandem")
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    # One calibration per group size: the all-reduce of N ranks sharing this machine.
    local = {}
    for n in (2, 4):
        local[n] = os.path.join(build, "bench", f"local-{n}.json")
        subprocess.run(MPI_LOCAL + ["-n", str(n), tandem, "plan", "-m", model, "--calibrate", local[n]], check=True)
    local[1] = local[2]  # one process: no all-reduce
    cores = os.cpu_count()
    configs = [(1, None, ["-t", str(cores)]), (2, MPI_LOCAL + ["-n", "2"], ["-t", "1", "--tp", "2"]),
               (4, MPI_LOCAL + ["-n", "4"], ["-t", "1", "--tp", "4"])]

    def predict(tp, workload):
        out = subprocess.run([tandem, "plan", "-m", model, "--hardware", local[tp], "--cluster", "local", "--plan", f"tp={tp}",
                              "--batch", "1", "--workload", workload, "--prefill-tokens", "1", "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)[0]["plans"][0]

    measured = {tp: {"pp": [], "tg": []} for tp, _, _ in configs}
    for r in range(rounds):
        for tp, prefix, extra in configs:
            p = subprocess.run((prefix or []) + [tandem, "bench", "-m", model, "-p", "512", "-n", "128", "-r", "1", "--json"] + extra,
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"bench_plan: tp {tp} failed: {p.stderr.strip()[-300:]}")
            j = json.loads(p.stdout.strip().splitlines()[-1])
            measured[tp]["pp"].append(j["pp_tokens_per_s"])
            measured[tp]["tg"].append(j["tg_tokens_per_s"])
        print(f"bench_plan: round {r + 1} of {rounds} done", file=sys.stderr)

    print(f"\nPlanner, predicted / measured on this machine: {os.path.basename(model)}, tandem bench -p 512 -n 128, "
          f"medians of {rounds} rounds")
    print(f"{'configuration':<34} {'pp512 pred':>10} {'meas':>7} {'ratio':>6} {'tg128 pred':>11} {'meas':>7} {'ratio':>6}")
    rows = {}
    for tp, _, extra in configs:
        pp = predict(tp, "in=512,out=1")["prefill_tokens_per_s_per_chip"]
        tg = predict(tp, "in=1,out=128")["decode_tokens_per_s_per_chip"]
        mpp, mtg = statistics.median(measured[tp]["pp"]), statistics.median(measured[tp]["tg"])
        name = f"--tp {tp}" + (f", {cores} threads" if tp == 1 else ", 1 thread per rank")
        print(f"{name:<34} {pp:>10.1f} {mpp:>7.1f} {pp / mpp:>6.2f} {tg:>11.1f} {mtg:>7.1f} {tg / mtg:>6.2f}")
        rows[tp] = {"pp512_predicted": pp, "pp512_measured": mpp, "tg128_predicted": tg, "tg128_measured": mtg}
    with open(os.path.join(build, "bench", "plan.json"), "w") as f:
        json.dump({"model": model, "calibration": {n: json.load(open(local[n])) for n in (2, 4)}, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
