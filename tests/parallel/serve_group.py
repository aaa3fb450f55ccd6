#!/usr/bin/python3
"""`mpirun -n N tandem serve` with --tp 2, --pp 2 and both, against one process, over HTTP:
  - concurrent greedy requests get the same text as from one process, and so does a later one
    with an earlier one's prompt (the ranks must repeat the prefix cache's shared blocks);
  - SIGTERM to rank 0 drains, stops the follower, and the job exits 0;
  - a hung follower (SIGSTOP) and a dead one (SIGKILL) fail the requests in flight with 503 in
    the OpenAI error shape, and the job exits non-zero within seconds;
  - a follower that hangs while the server is idle is found by the heartbeat: the job ends.
Usage: serve_group.py TANDEM_BINARY MODEL "MPIRUN LINE"
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN, MODEL, MPIRUN = sys.argv[1], sys.argv[2], shlex.split(sys.argv[3])
FAILURES = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


class Server:
    """A tandem serve process (or an mpirun job of them) on a free port."""

    def __init__(self, layout=(), extra=()):
        ranks = 1
        for flag, n in zip(layout[::2], layout[1::2]):
            ranks *= int(n)
        self.dir = tempfile.mkdtemp(prefix="tandem-serve-group-")
        self.log_path = os.path.join(self.dir, "log")
        cmd = [BIN, "serve", "-m", MODEL, "--port", "0", "-t", "1", "-c", "4096", *extra]
        if ranks > 1:
            # Each rank writes its pid, so a test can signal one of them.
            wrap = 'echo $$ > %s/rank$OMPI_COMM_WORLD_RANK.pid; exec "$@"' % self.dir
            cmd = [*MPIRUN, "-n", str(ranks), "sh", "-c", wrap, "sh", *cmd, *layout]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on http://[^:]+:(\d+)", self.text())
            if m and self.port is None:
                self.port = int(m.group(1))
            if self.port:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.port, timeout=5) as r:
                        if r.status == 200:
                            return
                except (urllib.error.URLError, ConnectionError):
                    pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def rank_pid(self, r):
        with open(os.path.join(self.dir, "rank%d.pid" % r)) as f:
            return int(f.read())

    def post(self, path, body, timeout=120):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError) as e:
            return 0, str(e)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def completion(prompt, n, stream=False):
    return {"prompt": prompt, "max_tokens": n, "temperature": 0, "stream": stream}


def text_of(status, body):
    if status != 200:
        return "HTTP %d %s" % (status, body)
    return json.loads(body)["choices"][0]["text"]


def stream_text(body):
    out = []
    for line in body.splitlines():
        if line.startswith("data: {"):
            out.append(json.loads(line[6:])["choices"][0]["text"])
    return "".join(out)


def concurrently(fns):
    results = [None] * len(fns)
    threads = [threading.Thread(target=lambda i=i, f=f: results.__setitem__(i, f())) for i, f in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


LONG = "The old lighthouse keeper climbed the stairs every evening, counting the steps " * 3
REQUESTS = [completion("Once upon a time", 40), completion(LONG, 400), completion(LONG, 32),
            completion("The capital of France is", 16), completion("1, 2, 3, 4,", 20)]


def same_outputs(layouts):
    one = Server()
    try:
        want = [text_of(*one.post("/v1/completions", r)) for r in REQUESTS]
        want_stream = stream_text(one.post("/v1/completions", completion("Hello", 24, stream=True))[1])
    finally:
        one.stop()
    for layout in layouts:
        group = Server(layout, ["--parallel", "8"])
        name = " ".join(layout)
        try:
            # Request 2 (request 1's prompt) after the others: it takes request 1's cached
            # blocks, which every rank must still hold.
            got = concurrently([lambda r=r: text_of(*group.post("/v1/completions", r)) for i, r in enumerate(REQUESTS) if i != 2])
            got.insert(2, text_of(*group.post("/v1/completions", REQUESTS[2])))
            for i, (w, g) in enumerate(zip(want, got)):
                check(w == g and not w.startswith("HTTP"), "%s: request %d's text equals one process's: %r vs %r" % (name, i, g, w))
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % group.port) as m:
                shared = re.search(r"^tandem_prefix_shared_tokens_total (\d+)", m.read().decode(), re.M)
            check(shared is not None and int(shared.group(1)) > 0, "%s: the ranks repeated shared blocks: %s" % (name, shared and shared.group(0)))
            got_stream = stream_text(group.post("/v1/completions", completion("Hello", 24, stream=True))[1])
            check(got_stream == want_stream and got_stream != "", "%s: streamed text equals one process's: %r" % (name, got_stream))
            os.kill(group.rank_pid(0), signal.SIGTERM)
            rc = group.wait(60)
            log = group.text()
            check(rc == 0, "%s: SIGTERM to rank 0 ends the job with exit 0 (got %s)" % (name, rc))
            n = len(re.findall(r"rank \d+ of \d+ stopped after \d+ steps", log))
            check(n == group_size(layout) - 1, "%s: rank 0 stopped all %d followers (%d)" % (name, group_size(layout) - 1, n))
        finally:
            group.stop()


def group_size(layout):
    n = 1
    for v in layout[1::2]:
        n *= int(v)
    return n


def failing_follower(layout, sig, name):
    group = Server(layout, ["--tp-timeout", "3"])
    try:
        t0 = time.time()
        results = {}
        clients = [threading.Thread(target=lambda: results.__setitem__("plain", group.post("/v1/completions", completion("Once upon a time", 4000)))),
                   threading.Thread(target=lambda: results.__setitem__("stream", group.post("/v1/completions", completion("Once", 4000, True))))]
        for c in clients:
            c.start()
        time.sleep(1.0)
        os.kill(group.rank_pid(1), sig)
        rc = group.wait(60)
        elapsed = time.time() - t0
        for c in clients:
            c.join(30)
        if sig == signal.SIGSTOP:
            os.kill(group.rank_pid(1), signal.SIGKILL)
        check(rc is not None and rc != 0, "%s follower: the job exits non-zero (got %s) after %.1f s" % (name, rc, elapsed))
        check(elapsed < 30, "%s follower: no rank hangs (%.1f s)" % (name, elapsed))
        status, body = results.get("plain", (0, "no answer"))
        ok = status == 503 and json.loads(body)["error"]["type"] == "server_error" and "running the model failed" in body
        check(ok, "%s follower: the request gets 503 naming the failure: %d %s" % (name, status, body[:300]))
        status, body = results.get("stream", (0, "no answer"))
        err = [json.loads(l[6:]) for l in body.splitlines() if l.startswith('data: {"error"')]
        check(status == 200 and len(err) == 1 and "running the model failed" in err[0]["error"]["message"] and body.endswith("data: [DONE]\n\n"),
              "%s follower: the stream ends with an error event and [DONE]: %s" % (name, body[-300:]))
        check(len(results) == 2, "%s follower: both clients got an answer" % name)
    finally:
        group.stop()


def idle_hang():
    group = Server(["--tp", "2"], ["--tp-timeout", "2"])
    try:
        t0 = time.time()
        os.kill(group.rank_pid(1), signal.SIGSTOP)
        rc = group.wait(60)
        os.kill(group.rank_pid(1), signal.SIGKILL)
        check(rc is not None and rc != 0 and "did not complete within 2 s" in group.text(),
              "idle server, hung follower: the heartbeat ends the job (exit %s after %.1f s)" % (rc, time.time() - t0))
    finally:
        group.stop()


same_outputs([["--tp", "2"], ["--pp", "2"], ["--tp", "2", "--pp", "2"]])
idle_hang()
failing_follower(["--tp", "2"], signal.SIGSTOP, "tp 2, hung")
failing_follower(["--tp", "2"], signal.SIGKILL, "tp 2, dead")
failing_follower(["--pp", "2"], signal.SIGSTOP, "pp 2, hung")
if FAILURES:
    print("%d failed" % len(FAILURES))
    sys.exit(1)
print("all passed")
