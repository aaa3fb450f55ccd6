// The planner's hardware catalog: chips (peak throughput per precision, memory, scale-up and
// scale-out links, power), systems (how many of which chip, how large the scale-up domain) and
// per-family efficiency factors (what share of a peak real kernels reach), each number with
// its source. The data are the JSON files under plan/hardware/, compiled into the binary; a
// measured profile of this machine (tandem plan --calibrate) is one more chip and system.
#pragma once

#include <string>
#include <vector>

namespace tandem::plan {

// A number and where it comes from (a source key resolving in plan/hardware/SOURCES.md, or
// "measured on ..." for calibrated profiles).
struct Sourced {
  double value = 0;
  std::string source;
  bool known() const { return !source.empty(); }
};

struct Chip {
  std::string name, title, family;
  int dies = 1;  // compute dies per package: the units a plan's ranks map to
  Sourced bf16_tflops, fp8_tflops, int8_tops;
  Sourced memory_gb, memory_tbps;
  Sourced scale_up_gbps, scale_up_latency_us;    // per chip, per direction
  Sourced scale_out_gbps, scale_out_latency_us;  // per chip, per direction
  Sourced power_w;
  // Measured profiles only (tandem plan --calibrate): the rate of tandem's attention kernels
  // (FLOP/s as attn_flops_per_token counts them; otherwise bf16_tflops stands for it) and of its
  // per-token vector work between the matrix products (norms, residual adds, rotary embedding,
  // KV store: GB/s of f32 elements; otherwise folded into the family's step_overhead).
  Sourced attention_tflops, vector_gbps;
  // Measured over an MPI group on this host: the whole chip's weight stream while group_ranks
  // ranks of one thread each stream their slices of the layer matrices at once (what --tp N on
  // one host runs: it differs from memory_tbps, one process's threads, by up to 20% either way).
  // group_tflops: their GEMM rate at 128 tokens, the same way. A plan with that many ranks on
  // the chip uses them instead of memory_tbps and the precision's peak. group_attention_tflops
  // and group_vector_gbps: the whole chip's attention and vector work while those ranks run
  // their heads' share of it between their matrices (instead of attention_tflops and
  // vector_gbps divided among the ranks).
  Sourced group_memory_tbps, group_tflops, group_attention_tflops, group_vector_gbps;
  int group_ranks = 0;
};

struct System {
  std::string name, title, chip, topology;
  Sourced chips, scale_up_domain, power_kw;
};

// Shares of the chip's peak reached by real kernels: GEMMs, attention when compute-bound,
// memory bandwidth, all-to-all and all-reduce bandwidth; the fixed time of one all-to-all call
// (software and synchronisation, measured); overlap: the share of the shorter of computation
// and communication that micro-batches hide, 0 to 1; step_overhead: how much longer a whole
// serving step's computation takes than the sum of its operators' rooflines at those
// efficiencies (vector operators, launches, synchronisation), >= 1, calibrated once per family
// on a published run.
struct Family {
  std::string name, title;
  Sourced gemm, attention, memory, comm, a2a_latency_us, overlap, step_overhead;
};

class Catalog {
 public:
  // The files compiled in (plan/hardware/*.json). Throws on a malformed file, naming it.
  static const Catalog& builtin();
  // Parses a catalog from (file name, JSON text) pairs; InputError naming the file and field.
  static Catalog parse(const std::vector<std::pair<std::string, std::string>>& files);
  // The built-in files and these (tandem plan --hardware FILE: a measured profile, say).
  static Catalog with(const std::vector<std::string>& paths);
  // The built-in files and these (name, JSON text) pairs.
  static Catalog with_texts(const std::vector<std::pair<std::string, std::string>>& extra);

  const Chip* chip(const std::string& name) const;
  const System* system(const std::string& name) const;
  const Family* family(const std::string& name) const;
  // The system, its chip and the chip's family; InputError listing the known names.
  struct Resolved {
    const System* system;
    const Chip* chip;
    const Family* family;
  };
  Resolved resolve(const std::string& system_name) const;

  void add(Chip c) { chips_.push_back(std::move(c)); }
  void add(System s) { systems_.push_back(std::move(s)); }

  const std::vector<Chip>& chips() const { return chips_; }
  const std::vector<System>& systems() const { return systems_; }
  const std::vector<Family>& families() const { return families_; }

 private:
  static Catalog parse_entries(const std::vector<std::pair<std::string, std::string>>& files);
  std::vector<Chip> chips_;
  std::vector<System> systems_;
  std::vector<Family> families_;
};

}  // namespace tandem::plan
