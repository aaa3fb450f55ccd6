#include "gguf/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace tandem::gguf {
namespace {

class Out {
 public:
  explicit Out(std::vector<std::byte>& b) : b_(b) {}
  template <typename T>
  void put(const T& x) {
    append(&x, sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void put_bytes(std::span<const std::byte> s) { append(s.data(), s.size()); }

 private:
  void append(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = b_.size();
    b_.resize(at + n);
    std::memcpy(b_.data() + at, p, n);
  }
  std::vector<std::byte>& b_;
};

void put_value(Out& o, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          o.put_string(x);
        } else if constexpr (std::is_same_v<T, Array>) {
          o.put<uint32_t>(static_cast<uint32_t>(x.type));
          o.put<uint64_t>(x.items.size());
          for (const Value& item : x.items) {
            TANDEM_CHECK(item.type() == x.type, "array of {} holds a {}", value_type_name(x.type),
                         value_type_name(item.type()));
            put_value(o, item);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          o.put<uint8_t>(x ? 1 : 0);
        } else {
          o.put<T>(x);
        }
      },
      v.v);
}

uint64_t padded(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

}  // namespace

Writer::Writer(uint32_t version) : version_(version) {
  if (version != 2 && version != 3) throw_input("GGUF writer: version {} (only 2 and 3)", version);
}

void Writer::set(std::string key, Value v) {
  if (key.empty()) throw_input("GGUF writer: empty metadata key");
  if (key == kAlignmentKey) {
    const uint32_t* a = v.get<uint32_t>();
    if (a == nullptr || *a == 0 || (*a & (*a - 1)) != 0)
      throw_input("GGUF writer: {} must be a u32 power of two", kAlignmentKey);
  }
  for (auto& [k, old] : metadata_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

void Writer::add_tensor(std::string name, DType type, std::span<const int64_t> ne,
                        std::span<const std::byte> data) {
  if (name.empty() || name.size() >= 64)
    throw_input("GGUF writer: tensor name '{}' must be 1..63 bytes", name);
  if (ne.empty() || ne.size() > static_cast<size_t>(kMaxDims))
    throw_input("GGUF writer: tensor '{}' has {} dimensions (1..{})", name, ne.size(), kMaxDims);
  if (!is_valid_dtype_id(static_cast<uint32_t>(type)))
    throw_input("GGUF writer: tensor '{}' has no valid type", name);
  int64_t elements = 1;
  for (int64_t n : ne) {
    if (n <= 0) throw_input("GGUF writer: tensor '{}' has a dimension of {}", name, n);
    elements *= n;
  }
  if (ne[0] % block_size(type) != 0)
    throw_input("GGUF writer: tensor '{}': row of {} is not whole {} blocks", name, ne[0],
                dtype_name(type));
  const size_t expect = static_cast<size_t>(elements / block_size(type)) * block_bytes(type);
  if (data.size() != expect)
    throw_input("GGUF writer: tensor '{}' has {} bytes of data, its shape needs {}", name,
                data.size(), expect);
  for (const Tensor& t : tensors_)
    if (t.name == name) throw_input("GGUF writer: tensor '{}' added twice", name);
  tensors_.push_back({std::move(name), type, std::vector<int64_t>(ne.begin(), ne.end()), data});
}

Writer Writer::from(const File& f) {
  Writer w(f.version());
  for (const auto& [k, v] : f.metadata()) w.set(k, v);
  for (const TensorInfo& t : f.tensors())
    w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne.data(), static_cast<size_t>(t.n_dims)),
                 f.tensor_data(t));
  return w;
}

size_t Writer::alignment() const {
  for (const auto& [k, v] : metadata_)
    if (k == kAlignmentKey) return *v.get<uint32_t>();
  return kDefaultAlignment;
}

std::vector<std::byte> Writer::head_bytes() const {
  const size_t align = alignment();
  std::vector<std::byte> bytes;
  Out o(bytes);
  o.put<uint32_t>(kMagic);
  o.put<uint32_t>(version_);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(metadata_.size());
  for (const auto& [k, v] : metadata_) {
    o.put_string(k);
    o.put<uint32_t>(static_cast<uint32_t>(v.type()));
    put_value(o, v);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    o.put_string(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) o.put<uint64_t>(static_cast<uint64_t>(n));
    o.put<uint32_t>(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset += padded(t.data.size(), align);
  }
  return bytes;
}

template <typename Bytes, typename Zeros>
void Writer::emit(Bytes&& bytes, Zeros&& zeros) const {
  const size_t align = alignment();
  const std::vector<std::byte> head = head_bytes();
  bytes(std::span<const std::byte>(head));
  // As llama.cpp writes it: the data section is aligned even when there are no tensors.
  zeros(padded(head.size(), align) - head.size());
  for (const Tensor& t : tensors_) {
    bytes(t.data);
    zeros(padded(t.data.size(), align) - t.data.size());
  }
}

uint64_t Writer::file_size() const {
  const uint64_t align = alignment();
  uint64_t n = padded(head_bytes().size(), align);
  for (const Tensor& t : tensors_) n += padded(t.data.size(), align);
  return n;
}

std::vector<std::byte> Writer::to_bytes() const {
  std::vector<std::byte> out;
  out.reserve(static_cast<size_t>(file_size()));
  emit([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); },
       [&](uint64_t n) { out.resize(out.size() + static_cast<size_t>(n)); });
  return out;
}

void Writer::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_runtime("{}: cannot create: {}", tmp, std::strerror(errno));
  // Whatever fails before the file is complete (I/O, a broken invariant), no partial file stays.
  struct Discard {
    int fd;
    const std::string& tmp;
    bool armed = true;
    ~Discard() {
      if (armed) {
        ::close(fd);
        ::unlink(tmp.c_str());
      }
    }
  } discard{fd, tmp};
  auto put = [&](const std::byte* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw_runtime("{}: write failed: {}", tmp, std::strerror(errno));
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  static constexpr std::byte kZeros[4096] = {};
  emit([&](std::span<const std::byte> b) { put(b.data(), b.size()); },
       [&](uint64_t n) {
         for (; n > 0; n -= std::min<uint64_t>(n, sizeof kZeros))
           put(kZeros, static_cast<size_t>(std::min<uint64_t>(n, sizeof kZeros)));
       });
  if (::fsync(fd) != 0) throw_runtime("{}: sync failed: {}", tmp, std::strerror(errno));
  discard.armed = false;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_runtime("{}: close failed: {}", tmp, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_runtime("{}: cannot rename to {}: {}", tmp, path, std::strerror(err));
  }
}

}  // namespace tandem::gguf
