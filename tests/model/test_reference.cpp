// The forward pass against an independent PyTorch implementation (tests/reference/): tiny
// random-weight models of every supported variant, in F32, F16, Q8_0 and Q4_0, written by the
// reference's own GGUF writer; logits at every prompt position and 32 greedy tokens must agree.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "model/context.h"
#include "model/model.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;

// Max |tandem - reference| over all logits, relative to the largest |reference logit| (the
// random weights make logits of magnitude ~10-30). F32 models run with an f32 KV cache, so only
// summation order differs; F16 models run as users do, with the f16 KV cache; Q8_0 weights meet
// activations quantized to Q8_0 as in llama.cpp (the reference multiplies the same dequantized
// weights in float64 without quantizing activations), which costs about two decimal digits.
double tolerance(const std::string& dtype) {
  if (dtype == "f32") return 1e-5;
  if (dtype == "f16") return 5e-4;
  return 5e-2;  // q8_0, q4_0
}

class Reference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("tandem-ref-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string cmd = "/usr/bin/python3 " TANDEM_SOURCE_DIR "/tests/reference/make_models.py " +
                            dir_->string() + " > " + (*dir_ / "log.txt").string() + " 2>&1";
    const int rc = std::system(cmd.c_str());
    ASSERT_EQ(rc, 0) << "make_models.py failed; see " << (*dir_ / "log.txt");
    std::ifstream in(*dir_ / "manifest.json");
    manifest_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    delete manifest_;
    dir_ = nullptr;
    manifest_ = nullptr;
  }
  static fs::path* dir_;
  static nlohmann::json* manifest_;
};
fs::path* Reference::dir_ = nullptr;
nlohmann::json* Reference::manifest_ = nullptr;

// max |ours - ref| / max |ref| over one row of logits.
double max_diff(std::span<const float> ours, const nlohmann::json& ref) {
  double d = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    d = std::max(d, std::abs(double(ours[i]) - ref[i].get<double>()));
    scale = std::max(scale, std::abs(ref[i].get<double>()));
  }
  return d / scale;
}

TEST_F(Reference, EveryVariantMatchesPyTorch) {
  ASSERT_NE(manifest_, nullptr);
  const auto& models = (*manifest_)["models"];
  ASSERT_EQ(models.size(), 32u);  // 8 variants x 4 types
  std::map<std::string, double> worst;
  std::map<std::string, int> greedy_steps;
  for (const auto& m : models) {
    const std::string file = m["file"], dtype = m["dtype"];
    const bool quantized = dtype == "q8_0" || dtype == "q4_0";  // activations quantized too
    SCOPED_TRACE(file);
    auto model = Model::load((*dir_ / file).string());
    // Quantized matrices run repacked wherever this ISA level has the packed kernel.
    const WeightMatrix& wq = model->weights().layers[0].wq;
    EXPECT_EQ(wq.packed, matmul_packable(wq.type)) << isa_name(active_isa());
    // A tied embedding table is looked up through the repacked output matrix.
    const auto& w = model->weights();
    if (file.find("tied") != std::string::npos) {
      EXPECT_EQ(w.tok_embd.packed, matmul_packable(w.output.type)) << isa_name(active_isa());
    }
    const int64_t V = model->hparams().n_vocab;
    const std::vector<TokenId> prompt = m["prompt"].get<std::vector<TokenId>>();
    const auto& ref_logits = m["logits"];
    ASSERT_EQ(ref_logits.size(), prompt.size());

    // Prefill: logits at every prompt position in one batched pass.
    Context ctx(*model, {.n_ctx = 128, .kv_type = dtype == "f32" ? DType::F32 : DType::F16});
    const auto all = ctx.eval(prompt, /*all_logits=*/true);
    double d = 0;
    for (size_t t = 0; t < prompt.size(); ++t)
      d = std::max(d, max_diff(all.subspan(t * static_cast<size_t>(V), static_cast<size_t>(V)), ref_logits[t]));
    EXPECT_LE(d, tolerance(dtype)) << "prefill logits";
    worst[dtype] = std::max(worst[dtype], d);

    // Greedy decode, one token at a time through the KV cache: same 32 tokens, same logits.
    const auto greedy = m["greedy"].get<std::vector<TokenId>>();
    const auto& greedy_logits = m["greedy_logits"];
    std::span<const float> logits = all.subspan((prompt.size() - 1) * static_cast<size_t>(V), static_cast<size_t>(V));
    double dg = 0;
    int decided = 0;
    for (size_t i = 0; i < greedy.size(); ++i) {
      dg = std::max(dg, max_diff(logits, greedy_logits[i]));
      const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
      // F32 and F16: every greedy token must agree. Q8_0: wherever the reference's top two are
      // further apart than the tolerance allows our logits to move.
      std::vector<double> r = greedy_logits[i].get<std::vector<double>>();
      std::partial_sort(r.begin(), r.begin() + 2, r.end(), std::greater<>());
      if (!quantized || r[0] - r[1] > 2 * tolerance(dtype) * std::abs(r[0])) {
        EXPECT_EQ(best, greedy[i]) << "greedy step " << i;
        ++decided;
      }
      const TokenId next[1] = {greedy[i]};  // follow the reference so one miss does not cascade
      logits = ctx.eval(next);
    }
    EXPECT_GE(decided, quantized ? 10 : 32) << "too few clear greedy steps";
    greedy_steps[dtype] += decided;
    EXPECT_LE(dg, tolerance(dtype)) << "decode logits";
    worst[dtype] = std::max(worst[dtype], dg);
  }
  for (const auto& [dtype, d] : worst)
    std::printf("[reference] %s: max |logit difference| / max |logit| %.2e (tolerance %.0e), %d greedy steps compared\n",
                dtype.c_str(), d, tolerance(dtype), greedy_steps[dtype]);
}

// Prefill in small chunks, and decode token by token, give the logits of one batched pass.
TEST_F(Reference, ChunkedPrefillAndDecodeEqualOnePass) {
  ASSERT_NE(manifest_, nullptr);
  for (const auto& m : (*manifest_)["models"]) {
    if (m["dtype"] != "f32") continue;
    SCOPED_TRACE(m["file"].get<std::string>());
    auto model = Model::load((*dir_ / m["file"].get<std::string>()).string());
    const size_t V = static_cast<size_t>(model->hparams().n_vocab);
    const std::vector<TokenId> prompt = m["prompt"].get<std::vector<TokenId>>();
    Context one(*model, {.n_ctx = 64, .kv_type = DType::F32});
    const auto ref = one.eval(prompt, true);
    const std::vector<float> expect(ref.begin(), ref.end());
    Context chunked(*model, {.n_ctx = 64, .n_batch = 5, .kv_type = DType::F32});
    const auto got = chunked.eval(prompt, true);
    ASSERT_EQ(got.size(), expect.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expect[i], 1e-4) << "chunked, element " << i;
    Context step(*model, {.n_ctx = 64, .kv_type = DType::F32});
    for (size_t t = 0; t < prompt.size(); ++t) {
      const auto l = step.eval(std::span<const TokenId>(&prompt[t], 1));
      for (size_t i = 0; i < V; ++i) ASSERT_NEAR(l[i], expect[t * V + i], 1e-4) << "token " << t;
    }
  }
}

// The reference itself against llama.cpp's forward pass on files llama.cpp wrote.
TEST(ReferenceSelfCheck, AgreesWithLlamaCpp) {
  const std::string cmd = "/usr/bin/python3 " TANDEM_SOURCE_DIR "/tests/reference/check_reference.py";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace tandem::model
