// tandem plan --calibrate (cmd_plan.cpp): measures this machine and writes a catalog file.
#pragma once

#include <string>

namespace tandem::cli {

// Writes a JSON array [chip, system] named "local" to out_path; model_path: a GGUF file whose
// FFN matrices the kernels are timed on. Under an MPI launcher every rank must call it (the
// all-reduce is timed across the group); rank 0 writes.
void calibrate(const std::string& model_path, const std::string& out_path);

}  // namespace tandem::cli
