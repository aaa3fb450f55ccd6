#include "core/buffer.h"

#include <sys/mman.h>

namespace tandem {

AlignedBuffer AlignedBuffer::huge_pages(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  AlignedBuffer b;
  if (bytes == 0) return b;
  const size_t rounded = (bytes + kBufferAlign - 1) / kBufferAlign * kBufferAlign;
  b.data_ = static_cast<std::byte*>(std::aligned_alloc(kHugePage, rounded));
  if (b.data_ == nullptr) throw std::bad_alloc();
  b.size_ = bytes;
  // Advice only: where transparent huge pages are off, the buffer keeps 4 KiB pages.
  (void)::madvise(b.data_, rounded, MADV_HUGEPAGE);
  std::memset(b.data_, 0, rounded);
  return b;
}

}  // namespace tandem
