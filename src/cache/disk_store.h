// Tier 2 of the KV cache: block contents as files in a directory (--kv-disk DIR, capped at
// --kv-disk-size BYTES), which outlive the server: a restarted server, or another server given
// the same directory, reuses the prefixes computed before.
//
// One file per block, named by its prefix-index name (<16 hex digits>.kv), holding a header
// (magic, format version, the index seed = the model file's digest, KV type and block size, the
// name, the block's tokens, the payload's size and xxhash, and the header's own xxhash) and the
// payload. A write goes to a temporary name, is synced and renamed into place, so a reader only
// ever sees whole files; writes happen on a thread of their own (put() queues a copy and
// returns), and so do the reads the serving engine asks for (fetch()), so that a prompt waiting
// for its blocks from disk never holds up the steps of the others. A read checks everything against what the caller expects: a file that is corrupt,
// truncated or for another block is deleted and reads as a miss (the block is recomputed); one
// for another model (another seed) is left alone for the server that owns it. Servers sharing
// a directory need no lock: names are unique per content, renames are atomic, and each keeps the
// total under the cap by deleting the least recently used files (by modification time: a hit
// touches its file).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "cache/host_store.h"

namespace tandem::cache {

struct DiskStats {
  int64_t files = 0;          // ours (this seed) in the directory, as last counted
  int64_t bytes = 0;
  int64_t written = 0, write_bytes = 0, dropped = 0;  // dropped: queue full or write failed
  int64_t read = 0, read_bytes = 0, discarded = 0;    // discarded: corrupt files removed
};

// What a block file's bytes are, for the block named `hash` with these tokens and a payload of
// out.size() bytes under this seed: Ok (the payload is copied to out), another model's block
// (keep the file), another block under the same name (keep it too), or damaged (delete it).
// Any bytes at all are safe to check (fuzz/fuzz_kv_block.cpp).
enum class BlockFileVerdict { Ok, OtherModel, OtherBlock, Damaged };
BlockFileVerdict check_block_file(std::span<const std::byte> file, uint64_t seed, uint64_t hash,
                                  std::span<const int32_t> tokens, std::span<std::byte> out);

class DiskStore {
 public:
  // Opens (creates) the directory and counts the files of this seed. InputError when it cannot
  // be created or written.
  DiskStore(std::string dir, size_t capacity_bytes, uint64_t seed);
  ~DiskStore();  // writes what is queued, then stops the writer
  DiskStore(const DiskStore&) = delete;
  DiskStore& operator=(const DiskStore&) = delete;

  // Queues the block for writing (nothing if its file exists or the queue holds over 256 MiB).
  void put(StoredBlock b);
  // Reads the block named `hash` holding these tokens into out (exactly out.size() payload
  // bytes); false on a miss, or when the file fails a check (it is then deleted).
  bool get(uint64_t hash, std::span<const int32_t> tokens, std::span<std::byte> out);
  // Asynchronous reads: fetch() queues a read of the block named `hash` holding these tokens and
  // `bytes` of payload; the reader thread does it as get() would, keeps the result for
  // take_fetched() (data empty on a miss) and then calls the on_fetched callback (on its own
  // thread: it should only wake the caller's). Once on_fetched() returns, the previous callback
  // is not running and is never called again.
  void fetch(uint64_t hash, std::vector<int32_t> tokens, size_t bytes);
  std::vector<StoredBlock> take_fetched();
  void on_fetched(std::function<void()> f);
  // Waits until every queued write is done (tests, shutdown).
  void flush();
  DiskStats stats() const;
  const std::string& dir() const { return dir_; }

  // The file's path for a name.
  std::string path_of(uint64_t hash) const;

 private:
  void writer();
  void reader();
  void write_file(const StoredBlock& b);
  void enforce_cap();

  std::string dir_;
  size_t capacity_;
  uint64_t seed_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<StoredBlock> queue_;
  size_t queued_bytes_ = 0;
  bool busy_ = false, stop_ = false;
  DiskStats stats_;
  std::thread thread_;
  // Reads: requests (the payload's size in data.size()) and results.
  std::condition_variable read_cv_;
  std::deque<StoredBlock> reads_;
  std::vector<StoredBlock> fetched_;
  std::mutex callback_mu_;
  std::function<void()> on_fetched_;  // under callback_mu_
  std::thread reader_;
};

}  // namespace tandem::cache
