// tandem quantize: GGUF -> GGUF with weights requantized, choosing per-tensor types the way
// llama.cpp's quantizer does for the same target (so Q4_K_M gives the same type mix).
#pragma once

#include <filesystem>
#include <string_view>

namespace tandem::model {

// target: "q8_0", "q4_0", "q4_k" (= q4_k_s mix), "q4_k_m", "q6_k", "f16", "bf16", "f32".
// Throws InputError for an unknown target (listing the known ones) or a bad input file.
void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                    std::string_view target);

}  // namespace tandem::model
