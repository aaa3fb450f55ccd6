#include "model/quantize.h"

#include <fmt/format.h>

#include <charconv>
#include <regex>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "kernels/quant.h"

namespace tandem::model {
namespace {

struct Target {
  const char* name;
  DType base;
  uint32_t ftype;  // llama_ftype
};
constexpr Target kTargets[] = {
    {"f32", DType::F32, 0},    {"f16", DType::F16, 1},     {"bf16", DType::BF16, 32},
    {"q8_0", DType::Q8_0, 7},  {"q4_0", DType::Q4_0, 2},   {"q4_k", DType::Q4_K, 14},
    {"q4_k_s", DType::Q4_K, 14}, {"q4_k_m", DType::Q4_K, 15}, {"q6_k", DType::Q6_K, 18},
};

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
bool more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// The per-tensor type for a target, following llama.cpp's llama_tensor_get_type for these
// ftypes. i_layer / n_layer: the block of an attn_v or ffn_down tensor.
DType choose(const Target& t, const std::string& name, bool has_output, int64_t i_layer, int64_t n_layer) {
  const bool k_quant = t.ftype == 14 || t.ftype == 15 || t.ftype == 18;
  const bool is_output = name == "output.weight" || (!has_output && name == "token_embd.weight");
  if (t.ftype <= 1 || t.ftype == 32) return t.base;
  if (is_output) return t.base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
  if (name.ends_with("attn_v.weight")) {
    if (t.ftype == 15 && more_bits(i_layer, n_layer)) return DType::Q6_K;
    if (t.ftype == 14 && i_layer < 4) return DType::Q5_K;
  }
  if (name.ends_with("ffn_down.weight")) {
    if (t.ftype == 15 && more_bits(i_layer, n_layer)) return DType::Q6_K;
    if (t.ftype == 14 && i_layer < n_layer / 8) return DType::Q5_K;
  }
  (void)k_quant;
  return t.base;
}

// A type the row length allows (llama.cpp's fallbacks for rows that are not whole blocks).
DType fit(DType t, int64_t cols) {
  if (cols % block_size(t) == 0) return t;
  DType f = t == DType::Q4_K ? DType::Q5_0 : t == DType::Q5_K ? DType::Q5_1 : t == DType::Q6_K ? DType::Q8_0 : DType::F16;
  return cols % block_size(f) == 0 ? f : DType::F16;
}

}  // namespace

void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out, std::string_view target) {
  const Target* t = nullptr;
  std::string lower(target);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Target& x : kTargets)
    if (lower == x.name) t = &x;
  if (!t) {
    std::string names;
    for (const Target& x : kTargets) names += (names.empty() ? "" : ", ") + std::string(x.name);
    throw_input("quantize: unknown type '{}' (known: {})", target, names);
  }
  const gguf::File src = gguf::File::open(in.string());
  gguf::Writer w = gguf::Writer(src.version());
  for (const auto& [k, v] : src.metadata()) w.set(k, v);
  w.set("general.file_type", t->ftype);
  w.set("general.quantization_version", uint32_t{2});

  bool has_output = false;
  int64_t n_attn_v = 0, n_ffn_down = 0;
  for (const auto& ti : src.tensors()) {
    has_output |= ti.name == "output.weight";
    n_attn_v += ti.name.ends_with("attn_v.weight");
    n_ffn_down += ti.name.ends_with("ffn_down.weight");
  }
  static const std::regex blk(R"(blk\.(\d+)\..*)");
  uint64_t total = 0;
  for (const auto& ti : src.tensors()) total += ti.nbytes;
  Progress progress("quantize", total);
  std::vector<std::vector<std::byte>> store;
  store.reserve(src.tensors().size());
  ThreadPool& pool = ThreadPool::global();
  for (const auto& ti : src.tensors()) {
    const std::span<const std::byte> data = src.tensor_data(ti);
    const int64_t cols = ti.ne[0], rows = ti.nelements() / cols;
    std::smatch m;
    int64_t layer = 0;  // a number past int64 in an untrusted name counts as layer 0
    if (std::regex_match(ti.name, m, blk)) {
      const char* digits = ti.name.data() + m.position(1);
      std::from_chars(digits, digits + m.length(1), layer);
    }
    // Vectors (norms, biases) and tensors tandem cannot read stay as they are.
    const bool matrix = ti.n_dims >= 2 && ti.name.ends_with(".weight") && can_dequantize(ti.type);
    DType want = matrix ? fit(choose(*t, ti.name, has_output, layer,
                                     ti.name.ends_with("attn_v.weight") ? n_attn_v : n_ffn_down), cols)
                        : ti.type;
    if (want == ti.type) {
      w.add_tensor(ti.name, ti.type, std::span(ti.ne.data(), static_cast<size_t>(ti.n_dims)), data);
      progress.advance(ti.nbytes);
      continue;
    }
    if (!can_quantize(want)) throw_input("quantize: tandem cannot write {} (tensor {})", dtype_name(want), ti.name);
    const size_t in_rb = row_bytes(ti.type, cols), out_rb = row_bytes(want, cols);
    store.emplace_back(out_rb * static_cast<size_t>(rows));
    std::byte* dst = store.back().data();
    pool.parallel_for(rows, 1, [&](int64_t b, int64_t e, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = b; r < e; ++r) {
        dequantize_row(ti.type, data.data() + in_rb * static_cast<size_t>(r), row.data(), cols);
        quantize_row(want, row.data(), dst + out_rb * static_cast<size_t>(r), cols);
      }
    });
    w.add_tensor(ti.name, want, std::span(ti.ne.data(), static_cast<size_t>(ti.n_dims)), store.back());
    progress.advance(ti.nbytes);
  }
  progress.finish();
  w.write(out.string());
}

}  // namespace tandem::model
