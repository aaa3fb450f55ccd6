// What a computation split over a group of processes needs from the group: the operations the
// sharded forward pass calls (all-reduce of partial sums, all-gather of slices) and the few the
// launcher needs (broadcast, barrier), and point-to-point transfers between pipeline stages. An
// interface here, in core, so the model layer can call
// it without knowing MPI; parallel/ implements it (MpiComm). No group at all (a null pointer)
// means one process holding the whole model.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace tandem {

// Traffic and waiting of one rank so far (benchmarks: communication against computation).
struct CollectiveStats {
  double bytes_sent = 0;  // this rank's share of the algorithm's traffic
  double seconds = 0;     // wall time inside collective calls (transfer plus waiting for others)
  long long calls = 0;
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[i] = the sum over ranks of data[i], the same bits on every rank. Throws RuntimeError
  // when a rank fails or the operation does not finish in time.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  // Every rank gives `bytes` at mine; all receives size() * bytes, rank r's at r * bytes.
  virtual void all_gather(const void* mine, size_t bytes, void* all) = 0;
  // root's `bytes` at data to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // The same, for ranks that wait seconds while root works alone (times its kernels, say): they
  // look every few milliseconds from the start, not thousands of times a second, which takes
  // root's cores from it (~12% of its weight stream with two ranks on two cores).
  virtual void broadcast_patiently(void* data, size_t bytes, int root) { broadcast(data, bytes, root); }
  // Point to point (pipeline stages, a server's orders): `bytes` to rank dest / from rank src,
  // matched in order per (source, tag). send waits until the data is on its way;
  // send_async copies it and returns at once (progress() and later calls move it along; the
  // destructor waits for whatever is still going). recv waits without holding a core.
  virtual void send(const void* data, size_t bytes, int dest, int tag = 0) = 0;
  virtual void send_async(const void* data, size_t bytes, int dest, int tag = 0) = 0;
  virtual void recv(void* data, size_t bytes, int src, int tag = 0) = 0;
  virtual void progress() {}
  virtual void barrier() = 0;
  virtual CollectiveStats stats() const = 0;
  // Seconds the collective in progress has been waiting (0: none in progress). Any thread may
  // ask: a server uses it to tell a group that is stuck (a rank died) from one that is busy.
  virtual double busy_seconds() const { return 0; }
  // Called (on another thread) when the group is found broken, before this process ends, with
  // the message that will be printed: a server fails its in-flight requests there.
  virtual void set_failure_handler(std::function<void(const std::string& what)> handler) { (void)handler; }
};

// Tags of tandem's point-to-point messages, one per kind, so that kinds never match each other.
enum MessageTag : int { kTagOrder = 1, kTagActivations = 2, kTagLogits = 3 };

// How a model is spread over the processes of a job: pp pipeline stages of tp ranks each,
// world rank = stage x tp + tensor rank. Null groups mean one process.
struct Groups {
  Collective* world = nullptr;   // every rank of the job
  Collective* tensor = nullptr;  // the ranks of this stage, which split its layers' tensors
  int pp = 1;                    // pipeline stages
  Groups() = default;
  // Tensor parallel over the whole group (one stage).
  Groups(Collective* group) : world(group), tensor(group) {}  // NOLINT: implicit on purpose
  Groups(Collective* w, Collective* t, int stages) : world(w), tensor(t), pp(stages) {}
  int tp() const { return tensor ? tensor->size() : 1; }
  int stage() const { return world ? world->rank() / tp() : 0; }
};

}  // namespace tandem
