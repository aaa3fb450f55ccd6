// Owned, 64-byte aligned, zero-initialised memory. Move-only: copying a buffer is a visible
// clone(), never an accident.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace tandem {

inline constexpr size_t kBufferAlign = 64;

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    const size_t rounded = (bytes + kBufferAlign - 1) / kBufferAlign * kBufferAlign;
    data_ = static_cast<std::byte*>(std::aligned_alloc(kBufferAlign, rounded));
    if (data_ == nullptr) throw std::bad_alloc();
    std::memset(data_, 0, rounded);
  }
  // A large buffer streamed on the hot path (repacked weights): its own anonymous mapping,
  // 2 MiB aligned and advised to use transparent huge pages where the kernel allows, so
  // streaming it costs fewer TLB misses. Zero-initialised; pages become resident when written.
  static AlignedBuffer huge_pages(size_t bytes);
  ~AlignedBuffer() { release(); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        mapped_len_(std::exchange(o.mapped_len_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      mapped_len_ = std::exchange(o.mapped_len_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Deep copy, O(size).
  AlignedBuffer clone() const {
    AlignedBuffer b(size_);
    if (size_ != 0) std::memcpy(b.data_, data_, size_);
    return b;
  }

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(data_);
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_);
  }
  template <typename T>
  std::span<T> span() {
    return {as<T>(), size_ / sizeof(T)};
  }

 private:
  void release() noexcept;  // frees or unmaps

  std::byte* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_len_ = 0;  // non-zero: data_ is a mapping of this many bytes (huge_pages)
};

}  // namespace tandem
