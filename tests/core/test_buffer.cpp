// AlignedBuffer: zeroed, aligned storage; the huge-page variant is its own 2 MiB-aligned
// mapping of whole pages that frees itself and moves like the heap variant.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "core/buffer.h"

namespace tandem {
namespace {

TEST(AlignedBuffer, HeapBufferIsZeroedAndAligned) {
  AlignedBuffer b(1000);
  ASSERT_EQ(b.size(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kBufferAlign, 0u);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b.data()[i], std::byte{0});
}

TEST(AlignedBuffer, HugePagesAreAlignedZeroedWritableAndMove) {
  for (size_t bytes : {size_t{1}, size_t{20000}, (size_t{2} << 20) + 123}) {
    AlignedBuffer b = AlignedBuffer::huge_pages(bytes);
    ASSERT_EQ(b.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (size_t{2} << 20), 0u);
    for (size_t i = 0; i < bytes; i += 997) ASSERT_EQ(b.data()[i], std::byte{0});
    b.data()[bytes - 1] = std::byte{7};
    AlignedBuffer moved = std::move(b);
    EXPECT_EQ(b.data(), nullptr);
    EXPECT_EQ(moved.data()[bytes - 1], std::byte{7});
    AlignedBuffer heap(64);
    heap = std::move(moved);  // a heap buffer replaced by a mapping: the heap one is freed
    EXPECT_EQ(heap.size(), bytes);
  }
  EXPECT_EQ(AlignedBuffer::huge_pages(0).data(), nullptr);
}

}  // namespace
}  // namespace tandem
