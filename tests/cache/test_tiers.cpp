// The lower tiers of the KV cache on their own: host memory keeps the most recently used blocks
// within its capacity; the disk store round-trips blocks through files that survive the store,
// and every damaged file (flipped byte, truncation, wrong name, other model) reads as a miss,
// never as data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "cache/disk_store.h"
#include "cache/host_store.h"

namespace tandem::cache {
namespace {
namespace fs = std::filesystem;

StoredBlock block(uint64_t hash, int32_t first, size_t bytes) {
  StoredBlock b;
  b.hash = hash;
  b.tokens = {first, first + 1, first + 2, first + 3};
  b.data.resize(bytes);
  for (size_t i = 0; i < bytes; ++i) b.data[i] = static_cast<std::byte>((i * 7 + hash) & 0xff);
  return b;
}

TEST(HostStore, KeepsTheMostRecentlyUsedWithinItsCapacity) {
  HostStore h(3000);
  EXPECT_TRUE(h.put(block(1, 10, 1000)).empty());
  EXPECT_TRUE(h.put(block(2, 20, 1000)).empty());
  EXPECT_TRUE(h.put(block(3, 30, 1000)).empty());
  std::vector<std::byte> out(1000);
  EXPECT_TRUE(h.get(1, block(1, 10, 0).tokens, out));  // 1 is now the most recent
  EXPECT_EQ(out, block(1, 10, 1000).data);
  const auto pushed = h.put(block(4, 40, 1000));
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].hash, 2u) << "the least recently used goes";
  EXPECT_FALSE(h.get(2, block(2, 20, 0).tokens, out));
  EXPECT_FALSE(h.get(3, block(1, 10, 0).tokens, out)) << "other tokens under the name: a miss";
  EXPECT_EQ(h.bytes(), 3000u);
  EXPECT_EQ(h.put(block(5, 50, 4000)).size(), 1u) << "larger than the whole store: passed on";
}

class DiskStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-disk-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(DiskStoreTest, BlocksSurviveTheStoreAndAnotherStoreReadsThem) {
  const StoredBlock b = block(0xabc, 5, 4096);
  {
    DiskStore d(dir_.string(), 1 << 20, 77);
    d.put(b);
    d.flush();
    EXPECT_EQ(d.stats().written, 1);
    EXPECT_TRUE(fs::exists(d.path_of(0xabc)));
  }
  DiskStore again(dir_.string(), 1 << 20, 77);  // a restart, or a second server on the directory
  EXPECT_EQ(again.stats().files, 1);
  std::vector<std::byte> out(4096);
  ASSERT_TRUE(again.get(0xabc, b.tokens, out));
  EXPECT_EQ(out, b.data);
  EXPECT_FALSE(again.get(0xabd, b.tokens, out)) << "no such file";
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().extension(), ".kv") << "no temporary file is left: " << e.path();
}

TEST_F(DiskStoreTest, DamagedFilesAreMissesAndDeletedForeignOnesAreLeftAlone) {
  DiskStore d(dir_.string(), 1 << 20, 77);
  std::vector<std::byte> out(4096);
  auto write = [&](uint64_t hash) {
    d.put(block(hash, 5, 4096));
    d.flush();
    return d.path_of(hash);
  };
  auto patch = [](const std::string& path, std::streamoff at, char byte) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(at);
    f.put(byte);
  };
  // A flipped payload byte: the checksum catches it.
  std::string p = write(1);
  patch(p, 56 + 16 + 100, 0x55);
  EXPECT_FALSE(d.get(1, block(1, 5, 0).tokens, out));
  EXPECT_FALSE(fs::exists(p)) << "deleted, so it is recomputed and written again";
  // Truncated.
  p = write(2);
  fs::resize_file(p, 56 + 16 + 1000);
  EXPECT_FALSE(d.get(2, block(2, 5, 0).tokens, out));
  EXPECT_FALSE(fs::exists(p));
  // A flipped header byte (a token).
  p = write(3);
  patch(p, 56 + 1, 0x7f);
  EXPECT_FALSE(d.get(3, block(3, 5, 0).tokens, out));
  EXPECT_FALSE(fs::exists(p));
  // A file under another block's name.
  p = write(4);
  fs::copy_file(p, d.path_of(5));
  EXPECT_FALSE(d.get(5, block(4, 5, 0).tokens, out));
  EXPECT_FALSE(fs::exists(d.path_of(5)));
  EXPECT_TRUE(d.get(4, block(4, 5, 0).tokens, out)) << "the original is fine";
  // Not a block file at all, with a block's name.
  { std::ofstream(d.path_of(6)) << "hello"; }
  EXPECT_FALSE(d.get(6, block(6, 5, 0).tokens, out));
  EXPECT_EQ(d.stats().discarded, 5);
  // Another model's block (another seed) and other files: left alone.
  DiskStore other(dir_.string(), 1 << 20, 78);
  other.put(block(7, 5, 4096));
  other.flush();
  EXPECT_FALSE(d.get(7, block(7, 5, 0).tokens, out));
  EXPECT_TRUE(fs::exists(d.path_of(7)));
  { std::ofstream(dir_ / "notes.txt") << "someone else's"; }
  DiskStore reopened(dir_.string(), 1 << 20, 77);
  EXPECT_EQ(reopened.stats().files, 1) << "only block 4 is ours";
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
}

// Reads on the store's own thread: each asked block comes back once, with its contents or
// empty (a miss, or a damaged file), and the callback runs after each.
TEST_F(DiskStoreTest, FetchedBlocksComeBackOnTheReaderThread) {
  DiskStore d(dir_.string(), 1 << 20, 77);
  d.put(block(1, 5, 4096));
  d.put(block(2, 9, 4096));
  d.flush();
  { std::ofstream(d.path_of(3)) << "damaged"; }
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  d.on_fetched([&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  });
  d.fetch(1, block(1, 5, 0).tokens, 4096);
  d.fetch(2, block(2, 99, 0).tokens, 4096);  // other tokens under the name
  d.fetch(3, block(3, 5, 0).tokens, 4096);
  d.fetch(4, block(4, 5, 0).tokens, 4096);  // no file
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return calls == 4; }));
  }
  d.on_fetched(nullptr);
  auto got = d.take_fetched();
  ASSERT_EQ(got.size(), 4u);
  std::sort(got.begin(), got.end(), [](const StoredBlock& a, const StoredBlock& b) { return a.hash < b.hash; });
  EXPECT_EQ(got[0].data, block(1, 5, 4096).data);
  EXPECT_TRUE(got[1].data.empty());
  EXPECT_TRUE(got[2].data.empty());
  EXPECT_TRUE(got[3].data.empty());
  EXPECT_FALSE(fs::exists(d.path_of(3))) << "the damaged file is deleted";
  EXPECT_TRUE(d.take_fetched().empty()) << "each result once";
}

TEST_F(DiskStoreTest, TheCapDeletesTheOldestFiles) {
  const size_t file = 56 + 16 + 4096;
  DiskStore d(dir_.string(), 5 * file, 77);
  std::vector<std::byte> out(4096);
  for (uint64_t h = 1; h <= 8; ++h) {
    d.put(block(h, 5, 4096));
    d.flush();
    if (h == 5) {
      EXPECT_TRUE(d.get(1, block(1, 5, 0).tokens, out));  // a hit makes the oldest the most recent
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // file times are as coarse as the kernel tick
  }
  const DiskStats st = d.stats();
  EXPECT_LE(st.bytes, static_cast<int64_t>(5 * file));
  EXPECT_GE(st.files, 3);
  EXPECT_TRUE(d.get(8, block(8, 5, 0).tokens, out)) << "the newest stays";
  // Over the cap at the 6th and the 8th file, two files go each time: 2 and 3, then 4 and 5.
  for (uint64_t h = 2; h <= 5; ++h) EXPECT_FALSE(d.get(h, block(h, 5, 0).tokens, out)) << h << " went";
  EXPECT_TRUE(d.get(1, block(1, 5, 0).tokens, out)) << "1, read after 5 was written, stayed";
}

}  // namespace
}  // namespace tandem::cache
