// A model spread over a group of processes, run under mpirun (ctest: parallel_group2 with 2
// ranks, parallel_group4 with 4): every rank loads the same model twice, whole (the reference, no
// group) and as its slice for a layout (tensor parallel, pipeline stages, both), and the sliced
// forward pass must give the whole model's logits (within a float-summation tolerance: the
// all-reduce adds the ranks' partial sums in another order) and the same greedy tokens. Models:
// the bundled one (f16, and requantized to q4_0 and q8_0) and the small generated models of the
// reference tests (tests/reference/make_models.py: GQA, MHA, tied output, biases, QK-norm, rope
// variants), whose directory is $TANDEM_PARALLEL_MODELS.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
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

std::string generated(const std::string& name) {
  const char* dir = std::getenv("TANDEM_PARALLEL_MODELS");
  if (dir == nullptr) {
    ADD_FAILURE() << "TANDEM_PARALLEL_MODELS is not set (ctest sets it: the parallel_models fixture)";
    return {};
  }
  return std::string(dir) + "/" + name + ".gguf";
}

struct Layout {
  int tp = 1, pp = 1;
};

// The groups of a layout over the world; the stage's tensor group is split off once per layout
// (a collective call: every rank reaches it in the same order).
Groups groups_for(Layout l) {
  static std::map<int, std::unique_ptr<parallel::MpiComm>> tensor;  // by tp
  EXPECT_EQ(l.tp * l.pp, g_world->size());
  if (l.pp == 1) return Groups(g_world);
  Collective* t = nullptr;
  if (l.tp > 1) {
    auto& c = tensor[l.tp];
    if (!c) c = g_world->split(g_world->rank() / l.tp, g_world->rank());
    t = c.get();
  }
  return Groups(g_world, t, l.pp);
}

// Prompt logits and 8 greedy steps, whole and sliced, compared row by row.
void expect_same_as_whole(const std::string& path, Layout layout, double tol = 1e-4) {
  ASSERT_NE(g_world, nullptr);
  const std::string where = fmt::format("{} tp {} pp {}", path, layout.tp, layout.pp);
  auto whole = model::Model::load(path);
  auto part = model::Model::load(path, {}, groups_for(layout));
  ASSERT_EQ(part->shard().size, layout.tp) << where;
  ASSERT_EQ(part->shard().n_stages, layout.pp) << where;
  if (layout.tp > 1) {
    ASSERT_LT(part->local_hparams().n_head, whole->hparams().n_head) << where;
  }
  if (layout.pp > 1) {
    ASSERT_LT(part->local_hparams().n_layer, whole->hparams().n_layer) << where;
  }
  const int64_t n_vocab = whole->hparams().n_vocab;
  model::Context cw(*whole, {.n_ctx = 128, .n_batch = 16});
  model::Context cp(*part, {.n_ctx = 128, .n_batch = 16});
  EXPECT_LT(cp.kv_bytes(), cw.kv_bytes()) << where << ": a rank keeps only its own KV heads and layers";
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
    EXPECT_LE(max_diff, tol * std::max(1.0, max_abs)) << where << " step " << step;
    const int a = argmax(lw);
    EXPECT_EQ(a, argmax(lp)) << where << " step " << step;
    const model::TokenId next = a;
    lw = cw.eval({&next, 1});
    lp = cp.eval({&next, 1});
  }
}

// Every layout of the world's size this test covers.
std::vector<Layout> layouts() {
  if (g_world->size() == 2) return {{2, 1}, {1, 2}};
  if (g_world->size() == 4) return {{4, 1}, {2, 2}, {1, 4}};
  ADD_FAILURE() << "run under mpirun -n 2 or -n 4";
  return {};
}

const char* const kVariants[] = {"llama-gqa", "llama-mha", "llama-tied", "llama-rope-linear",
                                 "llama3-freqs", "qwen2-bias", "qwen2-yarn", "qwen3-qknorm"};

TEST(Group, BundledModelF16) {
  for (Layout l : layouts()) expect_same_as_whole(kModel, l);
}

TEST(Group, BundledModelQ4_0) {
  for (Layout l : layouts()) expect_same_as_whole(quantized("q4_0"), l);
}

TEST(Group, BundledModelQ8_0) {
  for (Layout l : layouts()) expect_same_as_whole(quantized("q8_0"), l);
}

// The generated models have 2 layers, 4 query heads and 2 KV heads: with 4 ranks, tensor
// parallel replicates each KV head on 2 ranks, and 4 stages are refused. Their tolerance is the
// reference tests' for f16 (5e-4 of the largest logit): a key or value that the reordered sums
// moved by one float step can round to the neighbouring f16 in the KV cache (steps of 2^-11).
TEST(Group, GeneratedModels) {
  for (const char* v : kVariants)
    for (Layout l : layouts()) {
      if (l.pp > 2) continue;
      expect_same_as_whole(generated(std::string(v) + "-f16"), l, 5e-4);
      if (l.tp <= 2) expect_same_as_whole(generated(std::string(v) + "-q4_0"), l, 5e-4);
    }
}

TEST(Group, MoreStagesThanLayersIsRefused) {
  if (g_world->size() != 4) GTEST_SKIP() << "needs 4 ranks (parallel_group4 runs it)";
  try {
    model::Model::load(generated("llama-gqa-f16"), {}, groups_for({1, 4}));
    FAIL() << "loaded 4 stages of a 2-layer model";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("only 2 layers"), std::string::npos) << e.what();
  }
}

TEST(Group, TensorSplitAcrossAQuantBlockIsRefused) {
  const std::string path = quantized("q4_k");
  try {
    model::Model::load(path, {}, g_world);
    FAIL() << "loaded a split that cuts quant blocks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("block boundaries"), std::string::npos) << e.what();
  }
}

TEST(Group, CollectivesAgree) {
  std::vector<float> v = {1.0f + static_cast<float>(g_world->rank()), 2.0f};
  g_world->all_reduce_sum(v.data(), v.size());
  const int n = g_world->size(), me = g_world->rank();
  EXPECT_EQ(v[0], static_cast<float>(n + n * (n - 1) / 2));
  EXPECT_EQ(v[1], 2.0f * static_cast<float>(n));
  int mine = 10 + me;
  std::vector<int> all(static_cast<size_t>(n));
  g_world->all_gather(&mine, sizeof(mine), all.data());
  for (int r = 0; r < n; ++r) EXPECT_EQ(all[static_cast<size_t>(r)], 10 + r);
  uint64_t x = me == 0 ? 77 : 0;
  g_world->broadcast(&x, sizeof(x), 0);
  EXPECT_EQ(x, 77u);
  // A ring of point-to-point transfers: each rank sends its number to the next.
  int from = -1;
  if (me % 2 == 0) {
    g_world->send(&me, sizeof(me), (me + 1) % n);
    g_world->recv(&from, sizeof(from), (me + n - 1) % n);
  } else {
    g_world->recv(&from, sizeof(from), (me + n - 1) % n);
    g_world->send(&me, sizeof(me), (me + 1) % n);
  }
  EXPECT_EQ(from, (me + n - 1) % n);
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
