#include "core/buffer.h"

#include <sys/mman.h>

#include <cstdint>

namespace tandem {

void AlignedBuffer::release() noexcept {
  if (data_ == nullptr) return;
  if (mapped_len_ != 0)
    ::munmap(data_, mapped_len_);
  else
    std::free(data_);
  data_ = nullptr;
}

AlignedBuffer AlignedBuffer::huge_pages(size_t bytes) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  constexpr size_t kPage = 4096;
  AlignedBuffer b;
  if (bytes == 0) return b;
  const size_t len = (bytes + kPage - 1) / kPage * kPage;
  // Over-map by one huge page, then trim the unaligned head and the tail: the buffer starts on
  // a 2 MiB boundary and no memory beyond its last 4 KiB page stays mapped.
  void* p = ::mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) ::munmap(p, aligned - start);
  const uintptr_t end = start + len + kHugePage;
  if (end > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
  // Advice only: where transparent huge pages are off, the buffer keeps 4 KiB pages.
  (void)::madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
  b.data_ = reinterpret_cast<std::byte*>(aligned);
  b.size_ = bytes;
  b.mapped_len_ = len;
  return b;
}

}  // namespace tandem
