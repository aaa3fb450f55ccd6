// The group of processes an MPI launcher started (mpirun, srun, ...), as a Collective. One per
// process: world() initializes MPI (thread level SERIALIZED: one thread at a time talks to MPI,
// e.g. the main thread while loading, then a server's engine thread) and the destructor
// finalizes it. broadcast() waits by polling with short sleeps, not by spinning: a follower of a
// server waits in it between requests and must not hold a core.
//
// No rank waits forever: a dead rank makes the launcher end the job (MPI's own behaviour), and
// a watchdog thread ends a collective that does not complete within the timeout (a hung rank,
// a cut link): it prints one line naming this rank, its host and the operation, and aborts the
// whole group (MPI_Abort), so a supervisor sees the job fail and can restart it.
#pragma once

#include <atomic>
#include <cstddef>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/collective.h"

namespace tandem::parallel {

// Was this process started by an MPI launcher (OpenMPI, MPICH, Slurm's PMI)?
bool launched_by_mpi();

class MpiComm final : public Collective {
 public:
  // Initializes MPI and returns MPI_COMM_WORLD; timeout_s > 0 starts the watchdog.
  // RuntimeError when MPI cannot start.
  static std::unique_ptr<MpiComm> world(double timeout_s = 0);
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* data, size_t n) override;
  void all_gather(const void* mine, size_t bytes, void* all) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void broadcast_patiently(void* data, size_t bytes, int root) override;
  void send(const void* data, size_t bytes, int dest, int tag = 0) override;
  void send_async(const void* data, size_t bytes, int dest, int tag = 0) override;
  void recv(void* data, size_t bytes, int src, int tag = 0) override;
  void progress() override;
  // The ranks with the same color, ordered by key (MPI_Comm_split; collective over this group),
  // with the same timeout.
  std::unique_ptr<MpiComm> split(int color, int key);
  void barrier() override;
  // bytes_sent counts what the usual algorithms send per rank: an all-reduce of n floats
  // 2 (size - 1) / size * 4n (ring), an all-gather (size - 1) * bytes.
  CollectiveStats stats() const override { return stats_; }
  double busy_seconds() const override;
  void set_failure_handler(std::function<void(const std::string& what)> handler) override;

 private:
  friend class Timed;
  MpiComm(void* comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  static std::unique_ptr<MpiComm> wrap(void* comm, double timeout_s, bool world);
  void watch(double timeout_s);
  // broadcast and broadcast_patiently: the waiting ranks patient or not.
  void broadcast(void* data, size_t bytes, int root, bool patient);
  // Polls a request to completion: back to back at first, then with short sleeps; patient:
  // with long sleeps from the start.
  void wait(void* request, const char* what, bool patient = false);
  struct Pending {
    std::vector<std::byte> data;
    alignas(8) unsigned char request[16];  // an MPI_Request (opaque here)
  };
  std::vector<std::unique_ptr<Pending>> pending_;  // send_async's transfers in flight
  void* comm_;  // a heap MPI_Comm (opaque, so that users of this header need no mpi.h)
  bool world_ = false;
  int rank_, size_;
  double timeout_s_ = 0;
  CollectiveStats stats_;
  // The watchdog: the collective in progress (null: none) and since when (steady clock, ns).
  std::atomic<const char*> busy_{nullptr};
  std::atomic<int64_t> busy_since_{0};
  std::mutex mu_;
  std::function<void(const std::string&)> on_failure_;  // under mu_
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace tandem::parallel
