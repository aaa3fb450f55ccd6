#include "parallel/mpi_comm.h"

#include <mpi.h>

#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

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

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

MPI_Comm& comm_of(void* c) { return *static_cast<MPI_Comm*>(c); }
MPI_Request* request_of(unsigned char* r) { return reinterpret_cast<MPI_Request*>(r); }

int count_of(size_t n) {
  TANDEM_CHECK(n <= static_cast<size_t>(INT_MAX), "MPI message of {} elements", n);
  return static_cast<int>(n);
}

}  // namespace

static_assert(sizeof(MPI_Request) <= 16 && alignof(MPI_Request) <= 8, "MpiComm::Pending::request holds an MPI_Request");

// One collective call: adds its wall time and traffic to the stats and shows the watchdog what
// is in progress.
class Timed {
 public:
  Timed(MpiComm& c, const char* what, double bytes) : c_(c), t0_(MPI_Wtime()) {
    c_.stats_.bytes_sent += bytes;
    c_.busy_since_.store(now_ns(), std::memory_order_relaxed);
    c_.busy_.store(what, std::memory_order_release);
  }
  ~Timed() {
    c_.busy_.store(nullptr, std::memory_order_release);
    c_.stats_.seconds += MPI_Wtime() - t0_;
    ++c_.stats_.calls;
  }

 private:
  MpiComm& c_;
  double t0_;
};

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

std::unique_ptr<MpiComm> MpiComm::world(double timeout_s) {
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
  if (provided < MPI_THREAD_SERIALIZED)
    throw_runtime("this MPI library does not allow calls from more than one thread (thread level {})", provided);
  return wrap(new MPI_Comm(MPI_COMM_WORLD), timeout_s, true);
}

// An MpiComm over a communicator (a heap MPI_Comm it then owns), with the watchdog when asked.
std::unique_ptr<MpiComm> MpiComm::wrap(void* comm, double timeout_s, bool world) {
  MPI_Comm& mc = comm_of(comm);
  // Errors come back as return codes (turned into exceptions here), not as an abort.
  check(MPI_Comm_set_errhandler(mc, MPI_ERRORS_RETURN), "set_errhandler");
  int rank = 0, size = 1;
  check(MPI_Comm_rank(mc, &rank), "comm_rank");
  check(MPI_Comm_size(mc, &size), "comm_size");
  std::unique_ptr<MpiComm> c(new MpiComm(comm, rank, size));
  c->world_ = world;
  c->timeout_s_ = timeout_s;
  if (timeout_s > 0 && size > 1) c->watch(timeout_s);
  return c;
}

std::unique_ptr<MpiComm> MpiComm::split(int color, int key) {
  MPI_Comm sub = MPI_COMM_NULL;
  {
    const Timed t(*this, "split", 0.0);
    check(MPI_Comm_split(comm_of(comm_), color, key, &sub), "comm_split");
  }
  auto c = wrap(new MPI_Comm(sub), timeout_s_, false);
  std::lock_guard<std::mutex> lock(mu_);
  c->on_failure_ = on_failure_;
  return c;
}

void MpiComm::watch(double timeout_s) {
  const auto limit = static_cast<int64_t>(timeout_s * 1e9);
  watchdog_ = std::thread([this, limit, timeout_s] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; })) {
      const char* what = busy_.load(std::memory_order_acquire);
      if (what == nullptr || now_ns() - busy_since_.load(std::memory_order_relaxed) < limit) continue;
      char host[256] = "?";
      ::gethostname(host, sizeof(host) - 1);
      const std::string msg = fmt::format(
          "rank {} of {} (host {}): {} did not complete within {:.0f} s: another rank is dead, hung or unreachable",
          rank_, size_, host, what, timeout_s);
      std::fprintf(stderr, "tandem: error: %s; aborting the group\n", msg.c_str());
      std::fflush(stderr);
      const auto handler = on_failure_;
      lock.unlock();
      if (handler) handler(msg);
      MPI_Abort(MPI_COMM_WORLD, 1);
      std::_Exit(1);  // if the abort could not reach the launcher
    }
  });
}

double MpiComm::busy_seconds() const {
  if (busy_.load(std::memory_order_acquire) == nullptr) return 0;
  return static_cast<double>(now_ns() - busy_since_.load(std::memory_order_relaxed)) * 1e-9;
}

void MpiComm::set_failure_handler(std::function<void(const std::string& what)> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  on_failure_ = std::move(handler);
}

MpiComm::~MpiComm() {
  try {
    const Timed t(*this, "send", 0.0);
    for (auto& p : pending_) wait(request_of(p->request), "isend");
  } catch (const std::exception&) {
    // A broken group: nothing more to deliver.
  }
  pending_.clear();
  if (watchdog_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    watchdog_.join();
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  auto* comm = static_cast<MPI_Comm*>(comm_);
  if (!world_ && !finalized) MPI_Comm_free(comm);
  delete comm;
  if (world_ && !finalized) MPI_Finalize();
}

void MpiComm::all_reduce_sum(float* data, size_t n) {
  const Timed t(*this, "all-reduce", 2.0 * (size_ - 1) / size_ * static_cast<double>(n * sizeof(float)));
  check(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_FLOAT, MPI_SUM, comm_of(comm_)), "allreduce");
}

void MpiComm::all_gather(const void* mine, size_t bytes, void* all) {
  const Timed t(*this, "all-gather", static_cast<double>(bytes) * (size_ - 1));
  check(MPI_Allgather(mine, count_of(bytes), MPI_BYTE, all, count_of(bytes), MPI_BYTE, comm_of(comm_)), "allgather");
}

void MpiComm::broadcast(void* data, size_t bytes, int root) { broadcast(data, bytes, root, false); }

void MpiComm::broadcast_patiently(void* data, size_t bytes, int root) { broadcast(data, bytes, root, true); }

void MpiComm::broadcast(void* data, size_t bytes, int root, bool patient) {
  const Timed t(*this, "broadcast", rank_ == root ? static_cast<double>(bytes) : 0.0);
  MPI_Request req = MPI_REQUEST_NULL;
  check(MPI_Ibcast(data, count_of(bytes), MPI_BYTE, root, comm_of(comm_), &req), "bcast");
  wait(&req, "bcast", patient && rank_ != root);
}

// A few thousand tries back to back (what is about to arrive), then with sleeps of 0.2 ms, so
// that a rank waiting for its next order costs no core; after ~2 s of waiting (an idle group,
// or ranks waiting while one works alone) sleeps of 2 ms, so that the waiting ranks do not
// interrupt the working ones thousands of times a second. Patient: 2 ms sleeps from the start.
void MpiComm::wait(void* request, const char* what, bool patient) {
  auto* req = static_cast<MPI_Request*>(request);
  constexpr int kSpin = 2000, kShortSleeps = 10000;
  for (int tries = 0;; ++tries) {
    int done = 0;
    check(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (patient || tries > kSpin + kShortSleeps) std::this_thread::sleep_for(std::chrono::microseconds(2000));
    else if (tries > kSpin) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void MpiComm::send(const void* data, size_t bytes, int dest, int tag) {
  const Timed t(*this, "send", static_cast<double>(bytes));
  check(MPI_Send(data, count_of(bytes), MPI_BYTE, dest, tag, comm_of(comm_)), "send");
}

void MpiComm::send_async(const void* data, size_t bytes, int dest, int tag) {
  progress();
  stats_.bytes_sent += static_cast<double>(bytes);
  auto p = std::make_unique<Pending>();
  p->data.assign(static_cast<const std::byte*>(data), static_cast<const std::byte*>(data) + bytes);
  check(MPI_Isend(p->data.data(), count_of(bytes), MPI_BYTE, dest, tag, comm_of(comm_), request_of(p->request)), "isend");
  pending_.push_back(std::move(p));
}

void MpiComm::progress() {
  std::erase_if(pending_, [](const std::unique_ptr<Pending>& p) {
    int done = 0;
    check(MPI_Test(request_of(p->request), &done, MPI_STATUS_IGNORE), "isend");
    return done != 0;
  });
}

void MpiComm::recv(void* data, size_t bytes, int src, int tag) {
  const Timed t(*this, "receive", 0.0);
  MPI_Request req = MPI_REQUEST_NULL;
  check(MPI_Irecv(data, count_of(bytes), MPI_BYTE, src, tag, comm_of(comm_), &req), "irecv");
  wait(&req, "recv");
  progress();
}

void MpiComm::barrier() {
  const Timed t(*this, "barrier", 0.0);
  check(MPI_Barrier(comm_of(comm_)), "barrier");
}

}  // namespace tandem::parallel
