// What a computation split over a group of processes needs from the group: the operations the
// sharded forward pass calls (all-reduce of partial sums, all-gather of slices) and the few the
// launcher needs (broadcast, barrier). An interface here, in core, so the model layer can call
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
  virtual void barrier() = 0;
  virtual CollectiveStats stats() const = 0;
  // Seconds the collective in progress has been waiting (0: none in progress). Any thread may
  // ask: a server uses it to tell a group that is stuck (a rank died) from one that is busy.
  virtual double busy_seconds() const { return 0; }
  // Called (on another thread) when the group is found broken, before this process ends, with
  // the message that will be printed: a server fails its in-flight requests there.
  virtual void set_failure_handler(std::function<void(const std::string& what)> handler) { (void)handler; }
};

}  // namespace tandem
