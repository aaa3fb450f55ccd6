// The planner's arithmetic on hand-computed cases: parameter counts of known models, FLOPs,
// bytes and memory of a small made-up model, a roofline step by hand on a made-up chip, the
// alpha-beta cost of a tensor-parallel all-reduce; the catalog's checks; the CLI's plan search.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <unistd.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "plan/frontier.h"
#include "plan/search.h"

namespace tandem::plan {
namespace {

ModelDesc tiny() {
  ModelDesc m;
  m.name = "tiny";
  m.n_layer = 2;
  m.d_model = 8;
  m.n_head = 2;
  m.n_kv_head = 1;
  m.head_dim = 4;
  m.n_ff = 16;
  m.vocab = 10;
  return m;
}

TEST(ModelDesc, CountsOfASmallModelByHand) {
  const ModelDesc m = tiny();
  m.validate();
  EXPECT_EQ(m.attn_params(), 8 * 8 + 8 * 4 + 8 * 4 + 8 * 8) << "q, k, v, o";
  EXPECT_EQ(m.dense_ffn_params(), 3 * 8 * 16);
  EXPECT_EQ(m.total_params(), 10 * 8 + 10 * 8 + 2 * (192 + 384)) << "embeddings, output, two layers";
  EXPECT_EQ(m.active_params(), 10 * 8 + 2 * (192 + 384)) << "the embedding is a lookup";
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(2), 2.0 * 2 * 1 * 4 * 2) << "layers x (K, V) x KV heads x width x bytes";
  EXPECT_DOUBLE_EQ(m.attn_flops_per_token(10, false), 2.0 * 2 * 2 * (2 * 4) * 10) << "2 x layers x heads x (QK + PV) x context";
  EXPECT_DOUBLE_EQ(m.linear_flops_per_token(), 2.0 * 1232);
}

TEST(ModelDesc, BuiltInModelsHaveTheirPublishedSizes) {
  auto billions = [](const std::string& n, bool active) {
    const ModelDesc m = *builtin_model(n);
    m.validate();
    return static_cast<double>(active ? m.active_params() : m.total_params()) / 1e9;
  };
  EXPECT_NEAR(billions("deepseek-v3", false), 671, 2);  // "671B total, 37B activated" (arXiv 2412.19437)
  EXPECT_NEAR(billions("deepseek-v3", true), 37, 1);
  EXPECT_NEAR(billions("qwen3-235b-a22b", false), 235, 1.5);
  EXPECT_NEAR(billions("qwen3-235b-a22b", true), 22, 0.8);
  EXPECT_NEAR(billions("llama-3-8b", false), 8.03, 0.05);
  EXPECT_NEAR(billions("llama-3-70b", false), 70.6, 0.3);
  EXPECT_NEAR(billions("llama-3-405b", false), 405.8, 1.5);
  const ModelDesc ds = *builtin_model("deepseek-r1");
  EXPECT_DOUBLE_EQ(ds.kv_bytes_per_token(2), 61.0 * (512 + 64) * 2) << "MLA keeps the latent and the rotary key";
  EXPECT_FALSE(builtin_model("gpt-5"));
  EXPECT_THROW(load_model_desc("no-such-model"), InputError);
}

// A made-up chip (100 TFLOPS, 1 TB/s, 100 GB, every efficiency 1, no overlap) of family `family`
// in a system of `chips` with a scale-up domain of `domain`.
// extra: more chip fields, {name: value} (numbers with a source, or plain values as they are).
Catalog made_up(const nlohmann::json& extra = nlohmann::json::object(), const std::string& family = "f", double chips = 8,
                double domain = 4) {
  auto num = [](double v) { return nlohmann::json{{"value", v}, {"source", "made up for the test"}}; };
  nlohmann::json chip = {{"kind", "chip"}, {"name", "c"}, {"title", "C"}, {"family", family}, {"bf16_tflops", num(100)},
                               {"memory_gb", num(100)}, {"memory_tbps", num(1)}, {"scale_up_gbps", num(100)},
                               {"scale_up_latency_us", num(2)}, {"scale_out_gbps", num(10)}, {"scale_out_latency_us", num(5)},
                               {"power_w", num(500)}};
  for (const auto& [k, v] : extra.items()) chip[k] = v.is_number_float() ? num(v.get<double>()) : v;
  const nlohmann::json sys = {{"kind", "system"}, {"name", "s"}, {"title", "S"}, {"chip", "c"}, {"topology", "switched"},
                              {"chips", num(chips)}, {"scale_up_domain", num(domain)}, {"power_kw", num(5)}};
  const nlohmann::json fam = {{"kind", "family"}, {"name", family}, {"title", "F"}, {"gemm", num(1)}, {"attention", num(1)},
                              {"memory", num(1)}, {"comm", num(1)}, {"a2a_latency_us", num(0)}, {"overlap", num(0)},
                              {"step_overhead", num(1)}};
  return Catalog::parse({{"c.json", chip.dump()}, {"s.json", sys.dump()}, {"f.json", fam.dump()}});
}

TEST(Perf, AMemoryBoundDecodeStepReadsEveryWeightAndTheKVOnce) {
  const Catalog cat = made_up();
  const auto hw = cat.resolve("s");
  const ModelDesc m = *builtin_model("llama-3-8b");
  Workload w;
  w.in = 1000;
  w.out = 2;
  w.batch = 1;
  const Estimate e = estimate(m, hw, 1, Plan{}, w);
  ASSERT_TRUE(e.fits) << e.reject;
  // Batch 1 on this chip: every operator is memory-bound, so a step reads the weights a token
  // passes through (2 bytes each) and the KV of 1001 positions, at 1 TB/s.
  const double kv = 1001 * m.kv_bytes_per_token(2);
  EXPECT_NEAR(e.tpot_s, (static_cast<double>(m.active_params()) * 2 + kv) / 1e12, 1e-9);
  EXPECT_NEAR(e.decode_tokens_per_s_per_chip, 1 / e.tpot_s, 1e-6);
  EXPECT_NEAR(e.memory_per_chip_bytes, static_cast<double>(m.total_params()) * 2 + 1002 * m.kv_bytes_per_token(2), 1);
  // Prefill of 16,384 tokens (whole 1,000-token prompts) is compute-bound: GEMMs of every weight
  // but the embeddings for each token, attention over half a prompt, logits for 16.384 tokens.
  const double sp = 16384;
  const double layers = static_cast<double>(m.active_params() - m.output_params());
  const double flops = 2 * sp * layers + sp * m.attn_flops_per_token(500, false) + 2 * (sp / 1000) * m.output_params();
  EXPECT_NEAR(e.ttft_s, flops / 100e12 + sp * m.kv_bytes_per_token(2) / 1e12, e.ttft_s * 1e-3);
  // Sequences fit until weights and KV reach 90% of the 100 GB.
  const double room = 90e9 - static_cast<double>(m.total_params()) * 2;
  Workload big = w;
  big.batch = std::floor(room / (1002 * m.kv_bytes_per_token(2)));
  EXPECT_TRUE(estimate(m, hw, 1, Plan{}, big).fits) << big.batch;
  big.batch += 1;
  const Estimate over = estimate(m, hw, 1, Plan{}, big);
  EXPECT_FALSE(over.fits);
  EXPECT_NE(over.reject.find("memory"), std::string::npos) << over.reject;
}

// A measured CPU (family cpu: ranks may outnumber it) with a group stream and GEMM rate measured
// over group_ranks ranks: a plan of that many ranks streams its weights and multiplies at those
// rates, any other count at its share of memory_tbps and bf16_tflops.
TEST(Perf, RanksSharingACpuRunAtTheGroupRatesMeasuredWithThatManyRanks) {
  // One chip of family cpu (ranks may outnumber it).
  auto catalog = [](int group_ranks) {
    nlohmann::json extra = nlohmann::json::object();
    if (group_ranks > 0) extra = {{"group_memory_tbps", 1.5}, {"group_tflops", 50.0}, {"group_ranks", group_ranks}};
    return made_up(extra, "cpu", 1, 1);
  };
  const ModelDesc m = *builtin_model("llama-3-8b");
  Workload w;
  w.in = 1000;
  w.out = 2;
  w.batch = 1;
  auto memory_seconds = [](const Estimate& e) {
    double s = 0;
    for (const Cost& c : e.decode_costs)
      if (!c.comm) s += c.seconds;
    return s;
  };
  const Catalog none = catalog(0), two = catalog(2), four = catalog(4);
  const Plan tp2{2, 1, 1, 1};
  const Estimate base = estimate(m, none.resolve("s"), 1, tp2, w), with = estimate(m, two.resolve("s"), 1, tp2, w),
                 other = estimate(m, four.resolve("s"), 1, tp2, w);
  ASSERT_TRUE(base.fits && with.fits && other.fits) << base.reject << with.reject << other.reject;
  // Batch 1 is memory-bound: each of the 2 ranks at 1.5 / 2 TB/s instead of 1 / 2.
  EXPECT_NEAR(memory_seconds(with), memory_seconds(base) / 1.5, memory_seconds(base) * 1e-9);
  EXPECT_NEAR(memory_seconds(other), memory_seconds(base), memory_seconds(base) * 1e-9) << "measured with 4 ranks, not 2";
  EXPECT_NEAR(with.tpot_s - memory_seconds(with), base.tpot_s - memory_seconds(base), base.tpot_s * 1e-9)
      << "the all-reduces are the same";
  // Prefill of 16,384 tokens a rank is compute-bound: the GEMMs at 50 / 2 TFLOP/s instead of
  // 100 / 2; attention stays at its share of bf16_tflops.
  auto gemm_seconds = [](const Estimate& e) {
    double s = 0;
    for (const Cost& c : e.prefill_costs)
      if (c.name == "attention projections" || c.name == "dense FFN") s += c.seconds;
    return s;
  };
  EXPECT_NEAR(gemm_seconds(with), 2 * gemm_seconds(base), gemm_seconds(base) * 1e-9);
  EXPECT_NEAR(gemm_seconds(other), gemm_seconds(base), gemm_seconds(base) * 1e-9);
  // The group's attention and vector work, measured with 2 ranks: each of 2 ranks at half the
  // group's rates (attention 4 / 2 TFLOP/s, vector work 60 / 2 GB/s) instead of its share of
  // one process's (8 / 2 TFLOP/s, 30 / 2 GB/s); 4 ranks keep their share of one process's.
  const Catalog alone = made_up({{"attention_tflops", 8.0}, {"vector_gbps", 30.0}}, "cpu", 1, 1),
                grouped = made_up({{"attention_tflops", 8.0}, {"vector_gbps", 30.0}, {"group_attention_tflops", 4.0},
                                   {"group_vector_gbps", 60.0}, {"group_ranks", 2}},
                                  "cpu", 1, 1);
  auto seconds_of = [](const std::vector<Cost>& costs, const std::string& name) {
    for (const Cost& c : costs)
      if (c.name == name) return c.seconds;
    return -1.0;
  };
  for (const Plan& p : {tp2, Plan{4, 1, 1, 1}}) {
    const Estimate a = estimate(m, alone.resolve("s"), 1, p, w), g = estimate(m, grouped.resolve("s"), 1, p, w);
    const double attention = seconds_of(a.prefill_costs, "attention"), vector = seconds_of(a.prefill_costs, "vector work");
    ASSERT_GT(attention, 0);
    ASSERT_GT(vector, 0);
    const bool measured = p.tp == 2;
    EXPECT_NEAR(seconds_of(g.prefill_costs, "attention"), measured ? 2 * attention : attention, attention * 1e-9) << p.tp;
    EXPECT_NEAR(seconds_of(g.prefill_costs, "vector work"), measured ? vector / 2 : vector, vector * 1e-9) << p.tp;
  }
  // A group figure needs the rank count it was measured with.
  auto num = [](double v) { return nlohmann::json{{"value", v}, {"source", "made up for the test"}}; };
  nlohmann::json bad = {{"kind", "chip"}, {"name", "c"}, {"title", "C"}, {"family", "cpu"}, {"group_memory_tbps", num(1)}};
  for (const char* key : {"bf16_tflops", "memory_gb", "memory_tbps", "scale_up_gbps", "scale_up_latency_us", "scale_out_gbps",
                          "scale_out_latency_us", "power_w"})
    bad[key] = num(1);
  try {
    Catalog::parse({{"bad.json", bad.dump()}});
    ADD_FAILURE() << "no error without group_ranks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: \"group_memory_tbps\" needs \"group_ranks\""), std::string::npos) << e.what();
  }
  bad["group_ranks"] = "two";
  try {
    Catalog::parse({{"bad.json", bad.dump()}});
    ADD_FAILURE() << "no error for a group_ranks that is not a number";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("\"group_ranks\" must be a whole number"), std::string::npos) << e.what();
  }
}

TEST(Perf, MeasuredAttentionAndVectorRatesAddTheirOwnTerms) {
  const ModelDesc m = *builtin_model("llama-3-8b");
  // Per token and layer: 2 norms and 2 adds over 4096; rotary q (32 heads) and k (8) and the KV
  // store (2 x 8) of 128 (conversions and SwiGLU are inside the GEMMs' time).
  const ModelDesc::VectorWork v = m.vector_elements_per_layer();
  EXPECT_EQ(v.replicated, 4 * 4096);
  EXPECT_EQ(v.split, 128 * (32 + 3 * 8));
  Workload w;
  w.in = 1000;
  w.out = 2;
  w.batch = 1;
  const Catalog base_cat = made_up(), cat = made_up({{"attention_tflops", 1.0}, {"vector_gbps", 10.0}});
  for (int tp : {1, 2}) {
    const Plan p{tp, 1, 1, 1};
    const Estimate base = estimate(m, base_cat.resolve("s"), tp, p, w), e = estimate(m, cat.resolve("s"), tp, p, w);
    // Prefill of 16,384 tokens per chip (a group of tp shares tp x that): attention at 1 TFLOP/s
    // instead of the 100 of bf16, and the vector work at 10 GB/s (d_model-wide work on every
    // rank, the rest split).
    const double sp = 16384 * tp;
    const double attention = sp * m.attn_flops_per_token(500, false) / tp;
    const double vector = 4 * sp * 32 * (v.replicated + v.split / tp);
    EXPECT_NEAR(e.ttft_s - base.ttft_s, attention / 1e12 - attention / 100e12 + vector / 10e9, 1e-9) << "tp " << tp;
    double named = 0;
    for (const Cost& c : e.prefill_costs)
      if (c.name == "vector work") named = c.seconds;
    EXPECT_NEAR(named, vector / 10e9, 1e-12) << "tp " << tp;
    for (const Cost& c : base.prefill_costs) EXPECT_NE(c.name, "vector work") << "not modelled without a measured rate";
  }
}

TEST(Perf, TensorParallelAllReducesFollowTheAlphaBetaModel) {
  const Catalog cat = made_up();
  const auto hw = cat.resolve("s");
  const ModelDesc m = *builtin_model("llama-3-8b");
  Workload w;
  w.in = 100;
  w.out = 2;
  w.batch = 4;
  for (int tp : {2, 8}) {
    const Estimate e = estimate(m, hw, tp, Plan{tp, 1, 1, 1}, w);
    double comm = -1;
    for (const Cost& c : e.decode_costs)
      if (c.name == "tensor all-reduce") comm = c.seconds;
    // 4 sequences per chip: the group of tp chips holds 4 tp, whose activations (x 4096 x 2
    // bytes) are summed twice a layer; a ring over tp units: within the domain of 4 at 100 GB/s
    // and 2 us, beyond it at 10 GB/s and 5 us.
    const double bytes = 4.0 * tp * 4096 * 2, n = tp;
    const double bw = tp <= 4 ? 100e9 : 10e9, lat = tp <= 4 ? 2e-6 : 5e-6;
    EXPECT_NEAR(comm, 2 * 32 * (2 * (n - 1) / n * bytes / bw + 2 * (n - 1) * lat), 1e-12) << "tp " << tp;
    // The output is split by vocabulary rows: each step's logits (4 tp rows of 128,256, 2 bytes
    // each) are gathered by a ring, each unit sending its part to the n - 1 others.
    double gather = -1;
    for (const Cost& c : e.decode_costs)
      if (c.name == "logits all-gather") gather = c.seconds;
    const double logits = 4.0 * tp * 128256 * 2;
    EXPECT_NEAR(gather, (n - 1) / n * logits / bw + (n - 1) * lat, 1e-12) << "tp " << tp;
  }
}

TEST(Perf, BestBatchIsTheLargestThatFitsAndMeetsTheSlo) {
  const Catalog cat = made_up();
  const auto hw = cat.resolve("s");
  const ModelDesc m = *builtin_model("llama-3-8b");
  Workload w;
  const Estimate free = best_batch(m, hw, 1, Plan{}, w, 0);
  ASSERT_TRUE(free.fits);
  Workload more = w;
  more.batch = free.batch_per_chip + 1;
  EXPECT_FALSE(estimate(m, hw, 1, Plan{}, more).fits) << "one more sequence does not fit";
  const Estimate slo = best_batch(m, hw, 1, Plan{}, w, free.tpot_s * 0.5);
  ASSERT_TRUE(slo.fits);
  EXPECT_LE(slo.tpot_s, free.tpot_s * 0.5);
  EXPECT_LT(slo.batch_per_chip, free.batch_per_chip);
  const Estimate none = best_batch(m, hw, 1, Plan{}, w, 1e-6);
  EXPECT_FALSE(none.fits);
  EXPECT_NE(none.reject.find("SLO"), std::string::npos) << none.reject;
}

// The two published cases of ../shared/hardware.md, with the catalog's one set of factors per
// chip family (each family's step overhead comes from another published run: CloudMatrix's
// prefill, DeepSeek's decode profile), within 15%.
TEST(Perf, PublishedCasesWithinFifteenPercent) {
  const Catalog& cat = Catalog::builtin();
  {
    // CloudMatrix384 (arXiv 2506.12708, Table 4): DeepSeek-R1 INT8 decode on 160 Ascend 910C
    // (320 dies), EP320 / DP320, MTP with one speculative token at 70%, KV 4,096, batch 96 per
    // NPU: TPOT 49.4 ms, 1,943 tokens/s per NPU.
    Workload w;
    w.in = 4096;
    w.out = 1;
    w.batch = 96;
    w.weights = Precision::INT8;
    w.spec_tokens = 1;
    w.spec_accept = 0.7;
    const Estimate e = estimate(*builtin_model("deepseek-r1"), cat.resolve("cloudmatrix384"), 160, parse_plan("tp=1,ep=320,dp=320"), w);
    ASSERT_TRUE(e.fits) << e.reject;
    EXPECT_NEAR(e.tpot_s / 0.0494, 1.0, 0.15) << e.tpot_s;
    EXPECT_NEAR(e.decode_tokens_per_s_per_chip / 1943, 1.0, 0.15) << e.decode_tokens_per_s_per_chip;
  }
  {
    // DeepSeek's inference profile (open-infra-index day 6, profile-data): DeepSeek-V3 prefill on
    // H800 nodes of 8, EP32 / DP32 over 4 nodes, 16,384 tokens per GPU, 4K prompts, FP8:
    // 62,713 prompt tokens/s per node.
    Workload w;
    w.in = 4096;
    w.out = 1;
    w.batch = 1;
    w.weights = Precision::FP8;
    w.prefill_tokens = 16384;
    const Estimate e = estimate(*builtin_model("deepseek-v3"), cat.resolve("hgx-h800"), 32, parse_plan("tp=1,ep=32,dp=32"), w);
    EXPECT_NEAR(8 * e.prefill_tokens_per_s_per_chip / 62713, 1.0, 0.15) << 8 * e.prefill_tokens_per_s_per_chip;
  }
}

TEST(Catalog, EveryBuiltInNumberHasASourceAndBadFilesAreNamed) {
  const Catalog& cat = Catalog::builtin();
  for (const char* s : {"cloudmatrix384", "gb200-nvl72", "hgx-h800", "atlas-950-superpod"}) {
    const auto hw = cat.resolve(s);
    EXPECT_TRUE(hw.chip->bf16_tflops.known() && hw.chip->memory_tbps.known() && hw.system->chips.known()) << s;
    EXPECT_GT(hw.family->gemm.value, 0) << s;
  }
  EXPECT_GE(cat.chips().size(), 12u);
  try {
    cat.resolve("nope");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cloudmatrix384"), std::string::npos) << "lists the known systems: " << e.what();
  }
  const std::string no_source = R"({"kind": "family", "name": "f", "title": "F", "gemm": {"value": 0.5},
    "attention": {"value": 1, "source": "x"}, "memory": {"value": 1, "source": "x"}, "comm": {"value": 1, "source": "x"},
    "a2a_latency_us": {"value": 0, "source": "x"}, "step_overhead": {"value": 1, "source": "x"},
    "overlap": {"value": 0, "source": "x"}})";
  try {
    Catalog::parse({{"f.json", no_source}});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("f.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gemm"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Catalog::parse({{"x.json", "{not json"}}), InputError);
  EXPECT_THROW(Catalog::parse({{"x.json", R"({"kind": "gpu"})"}}), InputError);
}

TEST(Plan, ParsesPlansAndRejectsBadOnes) {
  const Plan p = parse_plan("tp=1,ep=320,dp=320");
  EXPECT_EQ(p.tp, 1);
  EXPECT_EQ(p.ep, 320);
  EXPECT_EQ(p.dp, 320);
  EXPECT_EQ(p.pp, 1);
  EXPECT_EQ(parse_plan("pp=4,tp=2").ranks(), 8);
  for (const char* bad : {"tp=0", "tp=x", "tq=2", "tp", "tp=2,ep=4", ""}) EXPECT_THROW(parse_plan(bad), InputError) << bad;
}

std::string run(const std::string& args, int* status) {
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = ::popen((std::string(TANDEM_BINARY) + " " + args + " 2>&1").c_str(), "r");
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

TEST(PlanCli, ComparesTwoSystemsAndSearchesPlansAsJson) {
  int status = 0;
  std::string out = run("plan --compare cloudmatrix384 gb200-nvl72 -m deepseek-r1 --precision int8", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("cloudmatrix384 (384 x ascend-910c)"), std::string::npos) << out;
  EXPECT_NE(out.find("gb200-nvl72 (72 x gb200)"), std::string::npos) << out;
  EXPECT_NE(out.find("per system"), std::string::npos) << out;
  out = run("plan -m llama-3-70b --cluster hgx-h100 --slo-tpot 50ms --json", &status);
  ASSERT_EQ(status, 0) << out;
  const auto j = nlohmann::json::parse(out);
  const auto& best = j[0]["plans"][0];
  for (const char* k : {"prefill_tokens_per_s_per_chip", "decode_tokens_per_s_per_chip", "ttft_s", "tpot_s",
                        "memory_per_chip_bytes", "fits"})
    EXPECT_TRUE(best.contains(k)) << k;
  EXPECT_TRUE(best["fits"].get<bool>());
  EXPECT_LE(best["tpot_s"].get<double>(), 0.05);
  EXPECT_LE(best["memory_per_chip_bytes"].get<double>(), 80e9);
  out = run("plan -m llama-3-70b --cluster nowhere", &status);
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
  EXPECT_NE(out.find("--cluster nowhere"), std::string::npos) << out;
  out = run("plan -m llama-3-70b --cluster hgx-h100 --workload in=4096,outt=3", &status);
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
}

TEST(PlanCli, CalibratesThisMachineAndPredictsWithIt) {
  const std::string out = ::testing::TempDir() + "tandem-local-" + std::to_string(::getpid()) + ".json";
  const std::string model = std::string(TANDEM_SOURCE_DIR) + "/models/tandem-demo.gguf";
  int status = 0;
  std::string text = run("plan -m " + model + " --calibrate " + out, &status);
  ASSERT_EQ(status, 0) << text;
  const Catalog cat = Catalog::with({out});
  const auto hw = cat.resolve("local");
  EXPECT_GT(hw.chip->bf16_tflops.value, 0);
  EXPECT_GT(hw.chip->memory_tbps.value, 0);
  EXPECT_NE(hw.chip->memory_tbps.source.find("measured"), std::string::npos) << hw.chip->memory_tbps.source;
  // The attention kernels and the per-token vector work, timed on the file's shapes.
  EXPECT_GT(hw.chip->attention_tflops.value, 0);
  EXPECT_NE(hw.chip->attention_tflops.source.find("attention"), std::string::npos) << hw.chip->attention_tflops.source;
  EXPECT_GT(hw.chip->vector_gbps.value, 0);
  EXPECT_NE(hw.chip->vector_gbps.source.find("measured"), std::string::npos) << hw.chip->vector_gbps.source;
  // Two and four ranks on this one machine share it (CPUs may run more ranks than cores).
  for (const char* plan : {"tp=1", "tp=2", "tp=4"}) {
    text = run("plan -m " + model + " --hardware " + out + " --cluster local --plan " + plan +
                   " --batch 1 --workload in=64,out=32 --json",
               &status);
    ASSERT_EQ(status, 0) << text;
    const auto j = nlohmann::json::parse(text)[0]["plans"][0];
    EXPECT_TRUE(j["fits"].get<bool>()) << plan << ": " << j.dump();
    EXPECT_GT(j["decode_tokens_per_s_per_chip"].get<double>(), 0) << plan;
  }
  text = run("plan -m deepseek-r1 --calibrate " + out, &status);
  EXPECT_EQ(WEXITSTATUS(status), 2) << "a built-in model has no kernels to time: " << text;
  std::remove(out.c_str());
}

TEST(PlanCli, DrawsTheFrontierOfEachSystem) {
  const std::string svg = ::testing::TempDir() + "tandem-frontier-" + std::to_string(::getpid()) + ".svg";
  int status = 0;
  const std::string text = run("plan --compare hgx-h100 hgx-h200 -m llama-3-70b --svg " + svg, &status);
  ASSERT_EQ(status, 0) << text;
  std::ifstream f(svg);
  const std::string doc((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(doc.rfind("<svg", 0), 0u);
  size_t lines = 0;
  for (size_t at = doc.find("<polyline"); at != std::string::npos; at = doc.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 2u) << "one frontier per system";
  EXPECT_NE(doc.find("hgx-h200"), std::string::npos);
  EXPECT_NE(doc.find("</svg>"), std::string::npos);
  std::remove(svg.c_str());
  // The frontier: throughput rises with TPOT.
  const Catalog& cat = Catalog::builtin();
  const auto pts = frontier(*builtin_model("llama-3-70b"), cat.resolve("hgx-h100"), 8, Workload{});
  ASSERT_GE(pts.size(), 3u);
  for (size_t i = 1; i < pts.size(); ++i) {
    EXPECT_GT(pts[i].tpot_s, pts[i - 1].tpot_s);
    EXPECT_GT(pts[i].tokens_per_s_per_chip, pts[i - 1].tokens_per_s_per_chip);
  }
}

}  // namespace
}  // namespace tandem::plan
