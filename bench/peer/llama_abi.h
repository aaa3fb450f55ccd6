/* What tandem's peer drivers (bench/peer/llama_bench.c, scripts/peer/llama_logits.c) need of
 * llama.cpp's C API, declared by hand from its public header so that nothing of llama.cpp is
 * vendored: the batch struct, the leading fields of the parameter structs, and loading the npm
 * package's prebuilt libraries (libggml-base, libggml, libllama v0.5.0) with dlopen. */
#ifndef TANDEM_LLAMA_ABI_H
#define TANDEM_LLAMA_ABI_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  int32_t n_tokens;
  int32_t* token;
  float* embd;
  int32_t* pos;
  int32_t* n_seq_id;
  int32_t** seq_id;
  int8_t* logits;
} llama_batch;

/* Only the leading fields are touched; the real structs are smaller than these buffers. */
typedef struct { char bytes[4096]; } model_params;
typedef struct {
  uint32_t n_ctx, n_batch, n_ubatch, n_seq_max;
  int32_t n_threads, n_threads_batch;
  char rest[4096];
} context_params;

static inline void* sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) { fprintf(stderr, "missing symbol %s\n", name); exit(1); }
  return p;
}

static inline void quiet(int level, const char* text, void* user) { (void)level; (void)text; (void)user; }

/* Loads the three libraries from libdir into lib[0..2] (ggml-base, ggml, llama), makes the CPU
 * backends known and silences llama.cpp's log unless LLAMA_LOG is set. Exits 1 on failure. */
static inline void load_llama(const char* libdir, void* lib[3]) {
  static const char* names[] = {"libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so"};
  char path[4096];
  for (int i = 0; i < 3; ++i) {
    snprintf(path, sizeof path, "%s/%s", libdir, names[i]);
    lib[i] = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib[i]) { fprintf(stderr, "%s\n", dlerror()); exit(1); }
  }
  if (!getenv("LLAMA_LOG")) ((void (*)(void*, void*))sym(lib[2], "llama_log_set"))((void*)quiet, NULL);
  ((void (*)(const char*))sym(lib[1], "ggml_backend_load_all_from_path"))(libdir);
  ((void (*)(void))sym(lib[2], "llama_backend_init"))();
}

#endif
