#include "gguf/file.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace tandem::gguf {
namespace {

// Bounds-checked little-endian reads over the file. Every failure names the file and the byte
// offset where the read started.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& name) : b_(bytes), name_(name) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    throw InputError(fmt::format("{}: {}", name_, fmt::format(f, std::forward<Args>(args)...)));
  }

  void need(size_t n, std::string_view what) const {
    if (n > remaining())
      fail("{} at byte {}: needs {} bytes, but the file ends at byte {} (truncated?)", what, pos_,
           n, b_.size());
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T x;
    std::memcpy(&x, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }

  std::string read_string(std::string_view what) {
    const size_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail("{} at byte {}: string length {} runs past the end of the file ({} bytes left)", what,
           at, len, remaining());
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  std::span<const std::byte> b_;
  const std::string& name_;
  size_t pos_ = 0;
};

// The fewest bytes one value of type t can occupy (for rejecting absurd counts up front).
size_t min_value_bytes(ValueType t) {
  if (t == ValueType::String) return 8;
  if (t == ValueType::Array) return 12;
  return value_type_size(t);
}

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth);

Value read_scalar(Cursor& c, ValueType type, const std::string& key) {
  switch (type) {
    case ValueType::U8: return c.read<uint8_t>(key);
    case ValueType::I8: return c.read<int8_t>(key);
    case ValueType::U16: return c.read<uint16_t>(key);
    case ValueType::I16: return c.read<int16_t>(key);
    case ValueType::U32: return c.read<uint32_t>(key);
    case ValueType::I32: return c.read<int32_t>(key);
    case ValueType::F32: return c.read<float>(key);
    case ValueType::Bool: {
      const size_t at = c.pos();
      const uint8_t b = c.read<uint8_t>(key);
      if (b > 1) c.fail("key '{}': bool at byte {} has value {} (must be 0 or 1)", key, at, b);
      return b == 1;
    }
    case ValueType::String: return c.read_string(fmt::format("key '{}': string", key));
    case ValueType::U64: return c.read<uint64_t>(key);
    case ValueType::I64: return c.read<int64_t>(key);
    case ValueType::F64: return c.read<double>(key);
    case ValueType::Array:
    case ValueType::Count: break;
  }
  c.fail("key '{}': unknown value type {}", key, static_cast<uint32_t>(type));
}

ValueType read_type(Cursor& c, const std::string& key, std::string_view what) {
  const size_t at = c.pos();
  const uint32_t t = c.read<uint32_t>(fmt::format("key '{}': {}", key, what));
  if (t >= static_cast<uint32_t>(ValueType::Count))
    c.fail("key '{}': {} at byte {} is {}, not a GGUF value type (0..12)", key, what, at, t);
  return static_cast<ValueType>(t);
}

Value read_array(Cursor& c, const std::string& key, int depth) {
  if (depth >= kMaxArrayDepth)
    c.fail("key '{}': arrays nested more than {} deep at byte {}", key, kMaxArrayDepth, c.pos());
  Array a;
  a.type = read_type(c, key, "array element type");
  const size_t at = c.pos();
  const uint64_t n = c.read<uint64_t>(fmt::format("key '{}': array length", key));
  if (n > c.remaining() / min_value_bytes(a.type))
    c.fail("key '{}': array of {} {} at byte {} cannot fit in the {} bytes left", key, n,
           value_type_name(a.type), at, c.remaining());
  a.items.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) a.items.push_back(read_value(c, a.type, key, depth + 1));
  return a;
}

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth) {
  if (type == ValueType::Array) return read_array(c, key, depth);
  // Checked here so that a truncated value names its key without formatting one per read.
  const size_t size = value_type_size(type);
  if (size > c.remaining())
    c.need(size, fmt::format("key '{}': {} value", key, value_type_name(type)));
  return read_scalar(c, type, key);
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

File File::open(const std::string& path) {
  File f;
  f.map_ = MappedFile::open(path);
  f.bytes_ = f.map_.bytes();
  f.name_ = path;
  f.parse_all();
  return f;
}

File File::parse(std::span<const std::byte> bytes, std::string name) {
  File f;
  f.bytes_ = bytes;
  f.name_ = std::move(name);
  f.parse_all();
  return f;
}

void File::parse_all() {
  Cursor c(bytes_, name_);
  if (bytes_.size() < 4) c.fail("{} bytes is too short for a GGUF file (no magic)", bytes_.size());
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      const auto ch = static_cast<unsigned char>(bytes_[static_cast<size_t>(i)]);
      shown += (ch >= 32 && ch < 127) ? std::string(1, static_cast<char>(ch))
                                      : fmt::format("\\x{:02x}", ch);
    }
    c.fail("not a GGUF file: magic is '{}', expected 'GGUF'", shown);
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 0x02000000u || version_ == 0x03000000u)
    c.fail("big-endian GGUF files are not supported (version field {:#x})", version_);
  if (version_ == 1) c.fail("GGUF version 1 is not supported (only versions 2 and 3)");
  if (version_ != 2 && version_ != 3)
    c.fail("unsupported GGUF version {} (only versions 2 and 3)", version_);

  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes at least 13 bytes, a tensor info at least 24: reject counts the file
  // cannot hold before reserving anything.
  if (n_kv > c.remaining() / 13)
    c.fail("metadata count {} cannot fit in the {} bytes after the header", n_kv, c.remaining());
  if (n_tensors > c.remaining() / 24)
    c.fail("tensor count {} cannot fit in the {} bytes after the header", n_tensors, c.remaining());

  metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const size_t at = c.pos();
    std::string key = c.read_string(fmt::format("metadata key {}", i));
    if (key.empty()) c.fail("metadata key {} at byte {} is empty", i, at);
    const ValueType type = read_type(c, key, "value type");
    Value v = read_value(c, type, key, 0);
    if (!key_index_.emplace(key, metadata_.size()).second)
      c.fail("key '{}' at byte {} appears twice", key, at);
    metadata_.emplace_back(std::move(key), std::move(v));
  }

  if (const Value* a = find(kAlignmentKey)) {
    const uint32_t* v = a->get<uint32_t>();
    if (v == nullptr)
      c.fail("key '{}' has type {}, expected u32", kAlignmentKey, value_type_name(a->type()));
    if (*v == 0 || (*v & (*v - 1)) != 0)
      c.fail("key '{}' is {}, expected a power of two", kAlignmentKey, *v);
    alignment_ = *v;
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    const size_t at = c.pos();
    t.name = c.read_string(fmt::format("tensor {} name", i));
    if (t.name.empty()) c.fail("tensor {} at byte {} has an empty name", i, at);
    const std::string where = fmt::format("tensor {} '{}'", i, t.name);
    const uint32_t n_dims = c.read<uint32_t>(where + ": n_dims");
    if (n_dims == 0 || n_dims > static_cast<uint32_t>(kMaxDims))
      c.fail("{}: n_dims is {}, expected 1..{}", where, n_dims, kMaxDims);
    t.n_dims = static_cast<int>(n_dims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = c.read<uint64_t>(fmt::format("{}: dimension {}", where, d));
      if (n == 0 || n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        c.fail("{}: dimension {} is {}", where, d, n == 0 ? std::string("0") : fmt::format("{} (negative as i64)", static_cast<int64_t>(n)));
      if (mul_overflows(elements, n, &elements) ||
          elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        c.fail("{}: element count overflows at dimension {}", where, d);
      t.ne[d] = static_cast<int64_t>(n);
    }
    const size_t type_at = c.pos();
    const uint32_t type = c.read<uint32_t>(where + ": type");
    if (!is_valid_dtype_id(type))
      c.fail("{}: unknown tensor type id {} at byte {}", where, type, type_at);
    t.type = static_cast<DType>(type);
    const uint32_t bs = block_size(t.type);
    if (t.ne[0] % bs != 0)
      c.fail("{}: row of {} elements is not a whole number of {} blocks ({} elements each)", where,
             t.ne[0], dtype_name(t.type), bs);
    uint64_t nbytes = 0;
    if (mul_overflows(elements / bs, block_bytes(t.type), &nbytes))
      c.fail("{}: byte size overflows", where);
    t.nbytes = nbytes;
    t.offset = c.read<uint64_t>(where + ": data offset");
    if (t.offset % alignment_ != 0)
      c.fail("{}: data offset {} is not a multiple of the alignment {}", where, t.offset, alignment_);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second)
      c.fail("{}: a tensor with this name appears earlier in the file", where);
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const size_t header_end = c.pos();
  data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors != 0 && data_offset_ > bytes_.size())
    c.fail("the data section would start at byte {}, past the end of the file ({} bytes)",
           data_offset_, bytes_.size());
  const uint64_t data_size = bytes_.size() > data_offset_ ? bytes_.size() - data_offset_ : 0;

  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      c.fail("tensor {} '{}': data [offset {}, {} bytes] extends past the end of the file ({} "
             "bytes; the data section starts at byte {})",
             i, t.name, t.offset, t.nbytes, bytes_.size(), data_offset_);
  }
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& p = tensors_[order[k - 1]];
    const TensorInfo& q = tensors_[order[k]];
    if (p.offset + p.nbytes > q.offset)
      c.fail("tensor {} '{}' [{}, {}) overlaps tensor {} '{}' [{}, {})", order[k - 1], p.name,
             p.offset, p.offset + p.nbytes, order[k], q.name, q.offset, q.offset + q.nbytes);
  }
}

const Value* File::find(std::string_view key) const {
  auto it = key_index_.find(std::string(key));
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo& t) const {
  return bytes_.subspan(data_offset_ + static_cast<size_t>(t.offset), static_cast<size_t>(t.nbytes));
}

void File::release(const TensorInfo& t) const {
  const auto bytes = tensor_data(t);
  map_.release(bytes.data(), bytes.size());
}

void File::release_data() const {
  if (map_.size() > data_offset_) map_.release(map_.data() + data_offset_, map_.size() - data_offset_);
}

TensorView File::view(const TensorInfo& t) const {
  TensorView v;
  v.dtype = t.type;
  v.ndim = t.n_dims;
  v.ne = t.ne;
  v.nb[0] = block_bytes(t.type);
  v.nb[1] = row_bytes(t.type, t.ne[0]);
  for (int d = 2; d < kMaxDims; ++d) v.nb[d] = v.nb[d - 1] * static_cast<size_t>(t.ne[d - 1]);
  v.data = const_cast<std::byte*>(tensor_data(t).data());
  return v;
}

uint64_t File::digest() const {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, bytes_.data(), std::min(data_offset_, bytes_.size()));
  const uint64_t size = bytes_.size();
  XXH3_64bits_update(st, &size, sizeof(size));
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

}  // namespace tandem::gguf
