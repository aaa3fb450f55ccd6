// The group of processes an MPI launcher started (mpirun, srun, ...), as a Collective. One per
// process: world() initializes MPI (thread level FUNNELED: only the thread that calls the
// collectives talks to MPI) and the destructor finalizes it.
#pragma once

#include <memory>

#include "core/collective.h"

namespace tandem::parallel {

// Was this process started by an MPI launcher (OpenMPI, MPICH, Slurm's PMI)?
bool launched_by_mpi();

class MpiComm final : public Collective {
 public:
  // Initializes MPI and returns MPI_COMM_WORLD. RuntimeError when MPI cannot start.
  static std::unique_ptr<MpiComm> world();
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* data, size_t n) override;
  void all_gather(const void* mine, size_t bytes, void* all) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  // Bytes this rank sent through collectives so far (an all-reduce of n floats counts the ring
  // algorithm's 2 (size - 1) / size * 4n), for the benchmarks.
  double bytes_sent() const { return bytes_sent_; }

 private:
  MpiComm(int rank, int size) : rank_(rank), size_(size) {}
  int rank_, size_;
  double bytes_sent_ = 0;
};

}  // namespace tandem::parallel
