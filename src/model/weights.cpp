#include "model/weights.h"

#include <fmt/format.h>

#include <unordered_map>

#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "kernels/quant.h"

namespace tandem::model {
namespace {

std::string shape_str(const std::array<int64_t, kMaxDims>& ne, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += fmt::format("{}{}", i ? ", " : "", ne[static_cast<size_t>(i)]);
  return s + "]";
}

class Binder {
 public:
  Binder(const gguf::File& f, ModelWeights& w, const BindOptions& o) : f_(f), w_(w), opts_(o) {}

  // The tensor of a declaration after its checks; null for a missing optional tensor.
  const gguf::TensorInfo* check(const TensorDecl& d) {
    const gguf::TensorInfo* t = f_.find_tensor(d.name);
    if (!t) {
      if (d.optional) return nullptr;
      throw_input("{}: tensor {}: missing (the architecture needs it)", f_.name(), d.name);
    }
    const bool shape_ok = t->ne[0] == d.ne[0] && t->ne[1] == d.ne[1] && t->ne[2] == 1 && t->ne[3] == 1;
    if (!shape_ok) {
      std::array<int64_t, kMaxDims> want{d.ne[0], d.ne[1], 1, 1};
      throw_input("{}: tensor {} has shape {}, expected {}", f_.name(), d.name,
                  shape_str(t->ne, t->n_dims), shape_str(want, d.ne[1] == 1 ? 1 : 2));
    }
    if (!can_dequantize(t->type))
      throw_input("{}: tensor {} has type {}, which tandem cannot read", f_.name(), d.name,
                  dtype_name(t->type));
    return t;
  }

  const float* vector(const gguf::TensorInfo& t) {
    AlignedBuffer buf(static_cast<size_t>(t.nelements()) * sizeof(float));
    dequantize_row(t.type, f_.tensor_data(t).data(), buf.as<float>(), t.nelements());
    const float* p = buf.as<float>();
    w_.owned.push_back(std::move(buf));
    return p;
  }

  WeightMatrix matrix(const gguf::TensorInfo& t) {
    if (opts_.repack && matmul_packable(t.type)) {
      const WeightMatrix src = WeightMatrix::of(f_.view(t));
      AlignedBuffer buf = AlignedBuffer::huge_pages(packed_matrix_bytes(src));
      const WeightMatrix packed = pack_matrix(src, buf.data(), ThreadPool::global());
      f_.release(t);
      w_.owned.push_back(std::move(buf));
      return packed;
    }
    if (matmul_supported(t.type)) {
      w_.mapped_bytes += t.nbytes;
      return WeightMatrix::of(f_.view(t));
    }
    // No kernel for this type yet: one f16 copy, converted row by row.
    TANDEM_LOG_WARN("{}: tensor {} has type {} without a matmul kernel; using an f16 copy",
               f_.name(), t.name, dtype_name(t.type));
    const int64_t k = t.ne[0], rows = t.ne[1];
    AlignedBuffer buf(row_bytes(DType::F16, k) * static_cast<size_t>(rows));
    std::vector<float> tmp(static_cast<size_t>(k));
    const TensorView src = f_.view(t);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(t.type, src.row(r), tmp.data(), k);
      quantize_row(DType::F16, tmp.data(), buf.data() + row_bytes(DType::F16, k) * static_cast<size_t>(r), k);
    }
    TensorView v = TensorView::contiguous(DType::F16, {k, rows}, buf.data());
    w_.owned.push_back(std::move(buf));
    return WeightMatrix::of(v);
  }

 private:
  const gguf::File& f_;
  ModelWeights& w_;
  BindOptions opts_;
};

}  // namespace

ModelWeights bind_weights(const gguf::File& file, const HParams& hp,
                          const std::vector<TensorDecl>& decls, const BindOptions& opts) {
  ModelWeights w;
  Binder b(file, w, opts);
  // Every declared tensor, checked once; then wired into the structure below by name.
  std::unordered_map<std::string, const gguf::TensorInfo*> found;
  for (const TensorDecl& d : decls) found[d.name] = b.check(d);
  auto info = [&](const std::string& name) -> const gguf::TensorInfo* {
    auto it = found.find(name);
    return it == found.end() ? nullptr : it->second;
  };
  auto vec = [&](const std::string& name) -> const float* {
    const gguf::TensorInfo* t = info(name);
    return t ? b.vector(*t) : nullptr;
  };
  auto mat = [&](const std::string& name) {
    const gguf::TensorInfo* t = info(name);
    TANDEM_CHECK(t != nullptr, "matrix {} was not declared", name);
    return b.matrix(*t);
  };

  const gguf::TensorInfo* embd = info("token_embd.weight");
  TANDEM_CHECK(embd != nullptr, "token_embd.weight not declared");
  w.output_norm = vec("output_norm.weight");
  w.output = hp.tied_output ? b.matrix(*embd) : mat("output.weight");
  // A tied table read through its repacked copy (its file pages are gone); otherwise the mapping
  // (also when the output matrix is an f16 copy: lookups keep the file's exact values).
  w.tok_embd = hp.tied_output && w.output.packed ? w.output : WeightMatrix::of(file.view(*embd));
  w.rope_freqs = vec("rope_freqs.weight");
  w.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    auto n = [l](const char* s) { return fmt::format("blk.{}.{}", l, s); };
    L.attn_norm = vec(n("attn_norm.weight"));
    L.wq = mat(n("attn_q.weight"));
    L.wk = mat(n("attn_k.weight"));
    L.wv = mat(n("attn_v.weight"));
    L.bq = vec(n("attn_q.bias"));
    L.bk = vec(n("attn_k.bias"));
    L.bv = vec(n("attn_v.bias"));
    L.q_norm = vec(n("attn_q_norm.weight"));
    L.k_norm = vec(n("attn_k_norm.weight"));
    L.wo = mat(n("attn_output.weight"));
    L.ffn_norm = vec(n("ffn_norm.weight"));
    L.gate = mat(n("ffn_gate.weight"));
    L.up = mat(n("ffn_up.weight"));
    L.down = mat(n("ffn_down.weight"));
  }
  return w;
}

}  // namespace tandem::model
