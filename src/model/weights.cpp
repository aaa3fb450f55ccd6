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

// A slice of a matrix: rows [begin, begin + count) (Rows) or the columns (elements of each row)
// [begin, begin + count) (Cols, on block boundaries).
enum class Axis : uint8_t { Whole, Rows, Cols };
struct Cut {
  Axis axis = Axis::Whole;
  int64_t begin = 0, count = 0;
};

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

  WeightMatrix matrix(const gguf::TensorInfo& t, Cut cut = {}) {
    const WeightMatrix src = slice(t, WeightMatrix::of(f_.view(t)), cut);
    if (opts_.repack && matmul_packable(t.type)) {
      AlignedBuffer buf = AlignedBuffer::huge_pages(packed_matrix_bytes(src));
      const WeightMatrix packed = pack_matrix(src, buf.data(), ThreadPool::global());
      f_.release(t);
      w_.owned.push_back(std::move(buf));
      return packed;
    }
    if (matmul_supported(t.type)) {
      w_.mapped_bytes += row_bytes(t.type, src.k) * static_cast<size_t>(src.n_out);
      return src;
    }
    // No kernel for this type yet: one f16 copy, converted row by row.
    TANDEM_LOG_WARN("{}: tensor {} has type {} without a matmul kernel; using an f16 copy",
               f_.name(), t.name, dtype_name(t.type));
    const int64_t k = src.k, rows = src.n_out;
    AlignedBuffer buf(row_bytes(DType::F16, k) * static_cast<size_t>(rows));
    std::vector<float> tmp(static_cast<size_t>(k));
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(t.type, static_cast<const char*>(src.data) + static_cast<size_t>(r) * src.row_stride, tmp.data(), k);
      quantize_row(DType::F16, tmp.data(), buf.data() + row_bytes(DType::F16, k) * static_cast<size_t>(r), k);
    }
    TensorView v = TensorView::contiguous(DType::F16, {k, rows}, buf.data());
    w_.owned.push_back(std::move(buf));
    return WeightMatrix::of(v);
  }

 private:
  WeightMatrix slice(const gguf::TensorInfo& t, WeightMatrix m, Cut cut) const {
    switch (cut.axis) {
      case Axis::Whole: return m;
      case Axis::Rows: return m.rows(cut.begin, cut.count);
      case Axis::Cols: {
        const int64_t bs = block_size(m.type);
        if (cut.begin % bs != 0 || cut.count % bs != 0)
          throw_input("{}: tensor {} ({}, blocks of {}): columns [{}, {}) do not fall on block boundaries, so "
                      "it cannot be split this way (use a smaller --tp)",
                      f_.name(), t.name, dtype_name(m.type), bs, cut.begin, cut.begin + cut.count);
        return m.cols(cut.begin, cut.count);
      }
    }
    return m;
  }

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
  auto mat = [&](const std::string& name, Cut cut = {}) {
    const gguf::TensorInfo* t = info(name);
    TANDEM_CHECK(t != nullptr, "matrix {} was not declared", name);
    return b.matrix(*t, cut);
  };
  // Tensor parallel: this rank's rows (heads, ff columns, vocabulary) and input columns.
  const Shard& sh = opts.shard;
  auto rows = [&](int64_t begin, int64_t count) { return sh.tensor_split() ? Cut{Axis::Rows, begin, count} : Cut{}; };
  auto cols = [&](int64_t begin, int64_t count) { return sh.tensor_split() ? Cut{Axis::Cols, begin, count} : Cut{}; };
  const int64_t hk = hp.head_dim_k, hv = hp.head_dim_v;
  auto vec_slice = [&](const std::string& name, int64_t begin) -> const float* {
    const float* v = vec(name);
    return v ? v + begin : nullptr;
  };

  const gguf::TensorInfo* embd = info("token_embd.weight");
  TANDEM_CHECK(embd != nullptr, "token_embd.weight not declared");
  // Pipeline: the first stage embeds, the last one computes the logits; the others hold neither.
  if (sh.last_stage()) {
    w.output_norm = vec("output_norm.weight");
    w.output = hp.tied_output ? b.matrix(*embd, rows(sh.vocab0, sh.n_vocab))
                              : mat("output.weight", rows(sh.vocab0, sh.n_vocab));
  }
  if (sh.first_stage()) {
    // A tied table read through its repacked copy (its file pages are gone), or through its
    // shard's rows; otherwise the mapping (also when the output matrix is an f16 copy: lookups
    // keep the file's exact values).
    const bool tied_here = hp.tied_output && sh.last_stage();
    w.tok_embd_sharded = tied_here && sh.tensor_split();
    if (tied_here && (w.output.packed || w.tok_embd_sharded)) {
      w.tok_embd = w.output;
    } else {
      w.tok_embd = WeightMatrix::of(file.view(*embd));
      if (w.output.data != w.tok_embd.data) w.tok_embd_in_file = embd;  // not also read as the output
    }
  }
  w.rope_freqs = vec("rope_freqs.weight");
  const int64_t layer0 = sh.n_layer < 0 ? 0 : sh.layer0, n_layer = sh.n_layer < 0 ? hp.n_layer : sh.n_layer;
  w.layers.resize(static_cast<size_t>(n_layer));
  for (int64_t i = 0; i < n_layer; ++i) {
    const int64_t l = layer0 + i;
    LayerWeights& L = w.layers[static_cast<size_t>(i)];
    auto n = [l](const char* s) { return fmt::format("blk.{}.{}", l, s); };
    L.attn_norm = vec(n("attn_norm.weight"));
    L.wq = mat(n("attn_q.weight"), rows(sh.head0 * hk, sh.n_head * hk));
    L.wk = mat(n("attn_k.weight"), rows(sh.kv0 * hk, sh.n_kv * hk));
    L.wv = mat(n("attn_v.weight"), rows(sh.kv0 * hv, sh.n_kv * hv));
    L.bq = vec_slice(n("attn_q.bias"), sh.head0 * hk);
    L.bk = vec_slice(n("attn_k.bias"), sh.kv0 * hk);
    L.bv = vec_slice(n("attn_v.bias"), sh.kv0 * hv);
    L.q_norm = vec(n("attn_q_norm.weight"));
    L.k_norm = vec(n("attn_k_norm.weight"));
    L.wo = mat(n("attn_output.weight"), cols(sh.head0 * hv, sh.n_head * hv));
    L.ffn_norm = vec(n("ffn_norm.weight"));
    L.gate = mat(n("ffn_gate.weight"), rows(sh.ff0, sh.n_ff));
    L.up = mat(n("ffn_up.weight"), rows(sh.ff0, sh.n_ff));
    L.down = mat(n("ffn_down.weight"), cols(sh.ff0, sh.n_ff));
  }
  // No matrix reads the mapping any more (all copied): drop what binding left mapped, the pages
  // at the tensors' edges and the small vectors. Embedding lookups map the rows they read.
  if (w.mapped_bytes == 0) file.release_data();
  return w;
}

}  // namespace tandem::model
