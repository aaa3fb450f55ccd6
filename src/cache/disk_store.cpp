#include "cache/disk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cctype>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace tandem::cache {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'T', 'A', 'N', 'D', 'E', 'M', 'K', 'V'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 56;  // magic, version, n_tokens, seed, hash, payload bytes and xxhash, header xxhash
constexpr size_t kMaxQueued = size_t{256} << 20;

struct Header {
  uint32_t version = 0, n_tokens = 0;
  uint64_t seed = 0, hash = 0, payload_bytes = 0, payload_xxh = 0, header_xxh = 0;
};

void put64(std::byte* p, uint64_t v) { std::memcpy(p, &v, 8); }
void put32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
uint64_t get64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t get32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The header's bytes before its own checksum, then the tokens.
uint64_t header_digest(const std::byte* head, std::span<const int32_t> tokens) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, head, kHeaderBytes - 8);
  XXH3_64bits_update(st, tokens.data(), tokens.size_bytes());
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

bool read_all(int fd, void* out, size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// A header read from the start of a file: nullopt when it is not one of ours at all.
std::optional<Header> parse_header(const std::byte* b) {
  if (std::memcmp(b, kMagic, sizeof(kMagic)) != 0) return std::nullopt;
  Header h;
  h.version = get32(b + 8);
  h.n_tokens = get32(b + 12);
  h.seed = get64(b + 16);
  h.hash = get64(b + 24);
  h.payload_bytes = get64(b + 32);
  h.payload_xxh = get64(b + 40);
  h.header_xxh = get64(b + 48);
  return h;
}

bool our_file_name(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.size() == 19 && name.ends_with(".kv") &&
         std::all_of(name.begin(), name.begin() + 16, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// The seed of a block file, or nullopt when it cannot be read as one.
std::optional<uint64_t> seed_of(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::byte head[kHeaderBytes];
  const bool ok = read_all(fd, head, sizeof(head));
  ::close(fd);
  if (!ok) return std::nullopt;
  const auto h = parse_header(head);
  if (!h || h->version != kVersion) return std::nullopt;
  return h->seed;
}

}  // namespace

DiskStore::DiskStore(std::string dir, size_t capacity_bytes, uint64_t seed)
    : dir_(std::move(dir)), capacity_(capacity_bytes), seed_(seed) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw_input("--kv-disk {}: cannot create the directory ({})", dir_, ec.message());
  if (::access(dir_.c_str(), W_OK | X_OK) != 0)
    throw_input("--kv-disk {}: the directory is not writable ({})", dir_, std::strerror(errno));
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file(ec) || !our_file_name(e.path())) continue;
    if (seed_of(e.path()) != seed_) continue;
    ++stats_.files;
    stats_.bytes += static_cast<int64_t>(e.file_size(ec));
  }
  thread_ = std::thread([this] { writer(); });
  reader_ = std::thread([this] { reader(); });
}

DiskStore::~DiskStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  read_cv_.notify_all();
  reader_.join();
  thread_.join();
}

void DiskStore::fetch(uint64_t hash, std::vector<int32_t> tokens, size_t bytes) {
  {
    std::lock_guard lock(mu_);
    StoredBlock b;
    b.hash = hash;
    b.tokens = std::move(tokens);
    b.data.resize(bytes);
    reads_.push_back(std::move(b));
  }
  read_cv_.notify_one();
}

std::vector<StoredBlock> DiskStore::take_fetched() {
  std::lock_guard lock(mu_);
  return std::exchange(fetched_, {});
}

void DiskStore::on_fetched(std::function<void()> f) {
  std::lock_guard lock(callback_mu_);
  on_fetched_ = std::move(f);
}

void DiskStore::reader() {
  for (;;) {
    StoredBlock b;
    {
      std::unique_lock lock(mu_);
      read_cv_.wait(lock, [&] { return stop_ || !reads_.empty(); });
      if (stop_) return;  // what is still queued is not wanted any more
      b = std::move(reads_.front());
      reads_.pop_front();
    }
    if (!get(b.hash, b.tokens, b.data)) b.data.clear();
    {
      std::lock_guard lock(mu_);
      fetched_.push_back(std::move(b));
    }
    std::lock_guard lock(callback_mu_);  // on_fetched() returns only between calls
    if (on_fetched_) on_fetched_();
  }
}

std::string DiskStore::path_of(uint64_t hash) const { return fmt::format("{}/{:016x}.kv", dir_, hash); }

void DiskStore::put(StoredBlock b) {
  {
    std::lock_guard lock(mu_);
    if (queued_bytes_ + b.data.size() > kMaxQueued) {
      ++stats_.dropped;
      return;
    }
    queued_bytes_ += b.data.size();
    queue_.push_back(std::move(b));
  }
  cv_.notify_all();
}

void DiskStore::flush() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

DiskStats DiskStore::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void DiskStore::writer() {
  for (;;) {
    StoredBlock b;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, everything written
      b = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= b.data.size();
      busy_ = true;
    }
    write_file(b);
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    idle_cv_.notify_all();
  }
}

void DiskStore::write_file(const StoredBlock& b) {
  const std::string path = path_of(b.hash);
  if (::access(path.c_str(), F_OK) == 0) return;  // written before (by us or a neighbour)
  std::vector<std::byte> head(kHeaderBytes);
  std::memcpy(head.data(), kMagic, sizeof(kMagic));
  put32(head.data() + 8, kVersion);
  put32(head.data() + 12, static_cast<uint32_t>(b.tokens.size()));
  put64(head.data() + 16, seed_);
  put64(head.data() + 24, b.hash);
  put64(head.data() + 32, b.data.size());
  put64(head.data() + 40, XXH3_64bits(b.data.data(), b.data.size()));
  put64(head.data() + 48, header_digest(head.data(), b.tokens));
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = fmt::format("{}/.tmp-{}-{}", dir_, ::getpid(), counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write_all(fd, head.data(), head.size()) &&
            write_all(fd, b.tokens.data(), b.tokens.size() * sizeof(int32_t)) &&
            write_all(fd, b.data.data(), b.data.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  std::lock_guard lock(mu_);
  if (!ok) {
    ::unlink(tmp.c_str());
    ++stats_.dropped;
    TANDEM_LOG_WARN("--kv-disk {}: could not write a block ({}); it stays uncached", dir_, std::strerror(errno));
    return;
  }
  ++stats_.written;
  ++stats_.files;
  const auto size = static_cast<int64_t>(head.size() + b.tokens.size() * sizeof(int32_t) + b.data.size());
  stats_.write_bytes += size;
  stats_.bytes += size;
  if (static_cast<size_t>(stats_.bytes) > capacity_) enforce_cap();
}

// Deletes this seed's least recently used files (written or read: a hit touches the file) until
// the total is 90% of the cap (counted
// afresh from the directory: other servers may have written and deleted too). Under mu_.
void DiskStore::enforce_cap() {
  struct File {
    fs::file_time_type mtime;
    fs::path path;
    int64_t bytes;
  };
  std::vector<File> files;
  std::error_code ec;
  int64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file(ec) || !our_file_name(e.path()) || seed_of(e.path()) != seed_) continue;
    const auto bytes = static_cast<int64_t>(e.file_size(ec));
    files.push_back({e.last_write_time(ec), e.path(), bytes});
    total += bytes;
  }
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.mtime < b.mtime; });
  const auto target = static_cast<int64_t>(static_cast<double>(capacity_) * 0.9);
  size_t i = 0;
  for (; i < files.size() && total > target; ++i) {
    if (fs::remove(files[i].path, ec)) total -= files[i].bytes;
  }
  stats_.files = static_cast<int64_t>(files.size() - i);
  stats_.bytes = total;
}

BlockFileVerdict check_block_file(std::span<const std::byte> file, uint64_t seed, uint64_t hash,
                                  std::span<const int32_t> tokens, std::span<std::byte> out) {
  if (file.size() < kHeaderBytes) return BlockFileVerdict::Damaged;
  const auto h = parse_header(file.data());
  if (!h || h->version != kVersion) return BlockFileVerdict::Damaged;
  if (h->seed != seed) return BlockFileVerdict::OtherModel;
  if (h->hash != hash || h->payload_bytes != out.size()) return BlockFileVerdict::Damaged;
  if (h->n_tokens > (file.size() - kHeaderBytes) / 4 ||
      file.size() != kHeaderBytes + uint64_t{h->n_tokens} * 4 + h->payload_bytes)
    return BlockFileVerdict::Damaged;  // truncated or padded
  std::vector<int32_t> got(h->n_tokens);
  if (!got.empty()) std::memcpy(got.data(), file.data() + kHeaderBytes, got.size() * sizeof(int32_t));
  if (header_digest(file.data(), got) != h->header_xxh) return BlockFileVerdict::Damaged;
  if (!std::ranges::equal(got, tokens)) return BlockFileVerdict::OtherBlock;
  const std::byte* payload = file.data() + kHeaderBytes + got.size() * sizeof(int32_t);
  if (XXH3_64bits(payload, out.size()) != h->payload_xxh) return BlockFileVerdict::Damaged;
  std::memcpy(out.data(), payload, out.size());
  return BlockFileVerdict::Ok;
}

bool DiskStore::get(uint64_t hash, std::span<const int32_t> tokens, std::span<std::byte> out) {
  const std::string path = path_of(hash);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // a miss
  // The whole file when its size is what this block's file must have, else its header alone
  // (which check_block_file finds to be another model's, or damaged).
  const size_t want = kHeaderBytes + tokens.size() * sizeof(int32_t) + out.size();
  struct stat st {};
  BlockFileVerdict v = BlockFileVerdict::Damaged;
  if (::fstat(fd, &st) == 0) {
    std::vector<std::byte> file(static_cast<size_t>(st.st_size) == want ? want : kHeaderBytes);
    if (read_all(fd, file.data(), file.size())) v = check_block_file(file, seed_, hash, tokens, out);
  }
  if (v == BlockFileVerdict::Ok) ::futimens(fd, nullptr);  // recently used: the cap deletes it last
  ::close(fd);
  std::lock_guard lock(mu_);
  if (v == BlockFileVerdict::Ok) {
    ++stats_.read;
    stats_.read_bytes += static_cast<int64_t>(want);
    return true;
  }
  if (v == BlockFileVerdict::Damaged) {
    ++stats_.discarded;
    ::unlink(path.c_str());
    TANDEM_LOG_WARN("--kv-disk: {} failed its checks and was deleted; the block is recomputed", path);
  }
  return false;
}

}  // namespace tandem::cache
