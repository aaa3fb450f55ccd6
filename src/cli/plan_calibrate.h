// tandem plan --calibrate (cmd_plan.cpp): measures this machine and writes a catalog file.
#pragma once

#include <string>

#include "core/collective.h"

namespace tandem::cli {

// This machine as catalog text (a JSON array [chip, system] named "local"): every rank of `world`
// (null: this process alone) times the all-reduce together, then rank 0 times the kernels on
// model_path's layer matrices and returns the text (other ranks: empty). quick: fewer passes
// (--plan auto at start-up).
std::string local_catalog(const std::string& model_path, Collective* world, bool quick);

// Writes a JSON array [chip, system] named "local" to out_path; model_path: a GGUF file whose
// layer matrices the kernels are timed on. Under an MPI launcher every rank must call it (the
// all-reduce is timed across the group); rank 0 writes.
void calibrate(const std::string& model_path, const std::string& out_path);

}  // namespace tandem::cli
