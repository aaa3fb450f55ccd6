// Flags shared by the commands that run a model, declared once: the model file, context,
// threads, batch, KV type, and the sampling flags (defaults from engine::SamplingParams).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "engine/sampler.h"
#include "model/context.h"
#include "model/model.h"

namespace tandem::cli {

struct ModelOptions {
  std::string model;
  int64_t n_ctx = 0;
  int threads = 0;
  int64_t n_batch = 128;  // prefill tokens per forward pass
  std::string kv_type = "f16";
  bool no_repack = false;
  int tp = 1;                // tensor-parallel ranks per pipeline stage
  int pp = 1;                // pipeline stages (the MPI group has tp x pp ranks)
  double tp_timeout = 60;    // seconds a collective may wait for the other ranks
  std::string plan;          // "auto": the planner picks tp x pp for the MPI group
};

void add_model_options(CLI::App* cmd, ModelOptions& o, int64_t default_ctx = 0);
void add_sampling_options(CLI::App* cmd, engine::SamplingParams& p);
// Generation limits and stop strings (-n, --stop, --ignore-eos).
void add_generate_options(CLI::App* cmd, engine::GenerateOptions& g);

// Sets the thread count, loads the model (InputError for a bad file) and logs what was loaded.
// With --tp N / --pp M (or under an MPI launcher) it first joins the MPI group, checks that the
// group has N x M ranks and that every rank has the same model file and flags, and loads this
// rank's slice; ranks other than 0 then write nothing to stdout.
std::unique_ptr<model::Model> load_model(const ModelOptions& o);
// The first step of load_model alone (a server must know its rank before it listens): joins the
// MPI group once and checks it; no groups without --tp / --pp. Later calls return the same.
Groups join_group(const ModelOptions& o);
model::ContextParams context_params(const ModelOptions& o);

// Reads a whole text file; InputError naming it when it cannot.
std::string read_text_file(const std::string& path, const char* what);

}  // namespace tandem::cli
