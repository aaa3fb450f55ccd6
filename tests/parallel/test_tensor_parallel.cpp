// Tensor parallelism, run under `mpirun -n 2` (ctest: parallel_tp2): every rank loads the same
// model twice, whole (the reference, no group) and as its tensor-parallel slice, and the sliced
// forward pass must give the whole model's logits (within a float-summation tolerance: the
// all-reduce adds the ranks' partial sums in another order) and the same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/context.h"
#include "model/model.h"
#include "model/quantize.h"
#include "parallel/mpi_comm.h"

namespace tandem {
namespace {

parallel::MpiComm* g_world = nullptr;
const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";

int argmax(std::span<const float> x) { return static_cast<int>(std::max_element(x.begin(), x.end()) - x.begin()); }

// The bundled model requantized by this rank into its own temporary file.
std::string quantized(const char* type) {
  const auto path = std::filesystem::temp_directory_path() /
                    fmt::format("tandem-tp-{}-{}-{}.gguf", type, ::getpid(), g_world->rank());
  if (!std::filesystem::exists(path)) model::quantize_model(kModel, path, type);
  return path.string();
}

// Prompt logits and 8 greedy steps, whole and sliced, compared row by row.
void expect_same_as_whole(const std::string& path, double tol) {
  ASSERT_NE(g_world, nullptr);
  ASSERT_EQ(g_world->size(), 2) << "run under mpirun -n 2";
  auto whole = model::Model::load(path);
  auto part = model::Model::load(path, {}, g_world);
  ASSERT_EQ(part->shard().size, 2);
  ASSERT_LT(part->local_hparams().n_head, whole->hparams().n_head);
  const int64_t n_vocab = whole->hparams().n_vocab;
  model::Context cw(*whole, {.n_ctx = 128, .n_batch = 16});
  model::Context cp(*part, {.n_ctx = 128, .n_batch = 16});
  EXPECT_LT(cp.kv_bytes(), cw.kv_bytes()) << "a rank keeps only its own KV heads";
  std::mt19937 rng(42);
  std::vector<model::TokenId> prompt(37);
  for (auto& t : prompt) t = static_cast<model::TokenId>(rng() % static_cast<uint32_t>(n_vocab));
  auto lw = cw.eval(prompt);
  auto lp = cp.eval(prompt);
  for (int step = 0; step <= 8; ++step) {
    double max_diff = 0, max_abs = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
      max_diff = std::max(max_diff, std::abs(static_cast<double>(lw[static_cast<size_t>(i)]) - lp[static_cast<size_t>(i)]));
      max_abs = std::max(max_abs, std::abs(static_cast<double>(lw[static_cast<size_t>(i)])));
    }
    EXPECT_LE(max_diff, tol * std::max(1.0, max_abs)) << path << " step " << step;
    const int a = argmax(lw);
    EXPECT_EQ(a, argmax(lp)) << path << " step " << step;
    const model::TokenId next = a;
    lw = cw.eval({&next, 1});
    lp = cp.eval({&next, 1});
  }
}

TEST(TensorParallel, TwoRanksMatchTheWholeModelF16) { expect_same_as_whole(kModel, 1e-4); }

TEST(TensorParallel, TwoRanksMatchTheWholeModelQ4_0) { expect_same_as_whole(quantized("q4_0"), 1e-4); }

TEST(TensorParallel, TwoRanksMatchTheWholeModelQ8_0) { expect_same_as_whole(quantized("q8_0"), 1e-4); }

// Q4_K blocks hold 256 elements; a rank's 128 attention-output columns of the bundled model do
// not fall on a block boundary: a clear error on every rank, not a wrong answer.
TEST(TensorParallel, SplitAcrossAQuantBlockIsRefused) {
  const std::string path = quantized("q4_k");
  try {
    model::Model::load(path, {}, g_world);
    FAIL() << "loaded a split that cuts quant blocks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("block boundaries"), std::string::npos) << e.what();
  }
}

TEST(TensorParallel, CollectivesAgree) {
  std::vector<float> v = {1.0f + static_cast<float>(g_world->rank()), 2.0f};
  g_world->all_reduce_sum(v.data(), v.size());
  EXPECT_EQ(v[0], 3.0f);
  EXPECT_EQ(v[1], 4.0f);
  int mine = 10 + g_world->rank(), all[2] = {0, 0};
  g_world->all_gather(&mine, sizeof(mine), all);
  EXPECT_EQ(all[0], 10);
  EXPECT_EQ(all[1], 11);
  uint64_t x = g_world->rank() == 0 ? 77 : 0;
  g_world->broadcast(&x, sizeof(x), 0);
  EXPECT_EQ(x, 77u);
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto world = tandem::parallel::MpiComm::world();
  tandem::g_world = world.get();
  // Only rank 0 reports, unless a rank fails (its failures print anyway).
  if (world->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  // A rank that failed must fail the job even if the other passed.
  int worst = rc;
  std::vector<int> all(static_cast<size_t>(world->size()));
  world->all_gather(&rc, sizeof(rc), all.data());
  for (int r : all) worst = std::max(worst, r);
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    if (f.path().filename().string().find(fmt::format("tandem-tp-")) == 0 &&
        f.path().filename().string().find(fmt::format("-{}-{}.gguf", ::getpid(), world->rank())) != std::string::npos)
      std::filesystem::remove(f.path());
  return worst;
}
