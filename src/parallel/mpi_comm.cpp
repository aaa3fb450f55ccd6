#include "parallel/mpi_comm.h"

#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "core/error.h"

namespace tandem::parallel {
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw_runtime("MPI {} failed: {}", what, std::string(msg, static_cast<size_t>(len)));
}

int count_of(size_t n) {
  TANDEM_CHECK(n <= static_cast<size_t>(INT_MAX), "MPI message of {} elements", n);
  return static_cast<int>(n);
}

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

std::unique_ptr<MpiComm> MpiComm::world() {
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
  // Errors come back as return codes (turned into exceptions here), not as an abort.
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "set_errhandler");
  int rank = 0, size = 1;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size), "comm_size");
  return std::unique_ptr<MpiComm>(new MpiComm(rank, size));
}

MpiComm::~MpiComm() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiComm::all_reduce_sum(float* data, size_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  bytes_sent_ += 2.0 * (size_ - 1) / size_ * static_cast<double>(n * sizeof(float));
}

void MpiComm::all_gather(const void* mine, size_t bytes, void* all) {
  check(MPI_Allgather(mine, count_of(bytes), MPI_BYTE, all, count_of(bytes), MPI_BYTE, MPI_COMM_WORLD), "allgather");
  bytes_sent_ += static_cast<double>(bytes) * (size_ - 1);
}

void MpiComm::broadcast(void* data, size_t bytes, int root) {
  check(MPI_Bcast(data, count_of(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
  if (rank_ == root) bytes_sent_ += static_cast<double>(bytes);
}

void MpiComm::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

}  // namespace tandem::parallel
