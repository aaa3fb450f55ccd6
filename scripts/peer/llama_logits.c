/* Runs a GGUF model in llama.cpp (the prebuilt libllama of the npm peer) on a list of token ids
 * and prints, as JSON, the logits after every prompt token and 16 greedy tokens that follow,
 * with the logits before each. tandem's tests compare their own forward pass against these
 * (tests/data/llama.cpp/NAME.gguf.logits.json). Our code; it only loads the library.
 * Usage: llama_logits LIBDIR MODEL.gguf ID,ID,...  */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void* sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) { fprintf(stderr, "missing symbol %s\n", name); exit(1); }
  return p;
}

static void quiet(int level, const char* text, void* user) { (void)level; (void)text; (void)user; }

static void print_logits(const float* l, int n) {
  printf("[");
  for (int i = 0; i < n; ++i) printf("%s%.7g", i ? "," : "", l[i]);
  printf("]");
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s LIBDIR MODEL ID,ID,...\n", argv[0]); return 2; }
  char path[4096];
  const char* libs[] = {"libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so"};
  void* lib[3];
  for (int i = 0; i < 3; ++i) {
    snprintf(path, sizeof path, "%s/%s", argv[1], libs[i]);
    lib[i] = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib[i]) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  }
  void* ll = lib[2];
  if (!getenv("LLAMA_LOG")) ((void (*)(void*, void*))sym(ll, "llama_log_set"))((void*)quiet, NULL);
  ((void (*)(const char*))sym(lib[1], "ggml_backend_load_all_from_path"))(argv[1]);
  ((void (*)(void))sym(ll, "llama_backend_init"))();
  model_params mp = ((model_params(*)(void))sym(ll, "llama_model_default_params"))();
  void* model = ((void* (*)(const char*, model_params))sym(ll, "llama_model_load_from_file"))(argv[2], mp);
  if (!model) { fprintf(stderr, "llama.cpp could not load %s\n", argv[2]); return 1; }
  context_params cp = ((context_params(*)(void))sym(ll, "llama_context_default_params"))();
  cp.n_ctx = 256;
  cp.n_batch = cp.n_ubatch = 256;
  cp.n_threads = cp.n_threads_batch = 1;
  void* ctx = ((void* (*)(void*, context_params))sym(ll, "llama_init_from_model"))(model, cp);
  if (!ctx) { fprintf(stderr, "llama.cpp could not make a context\n"); return 1; }
  const void* vocab = ((const void* (*)(const void*))sym(ll, "llama_model_get_vocab"))(model);
  const int n_vocab = ((int32_t(*)(const void*))sym(ll, "llama_vocab_n_tokens"))(vocab);
  llama_batch (*batch_one)(int32_t*, int32_t) = (llama_batch(*)(int32_t*, int32_t))sym(ll, "llama_batch_get_one");
  int32_t (*decode)(void*, llama_batch) = (int32_t(*)(void*, llama_batch))sym(ll, "llama_decode");
  float* (*logits_ith)(void*, int32_t) = (float* (*)(void*, int32_t))sym(ll, "llama_get_logits_ith");

  int32_t ids[256];
  int n = 0;
  for (char* s = strtok(argv[3], ","); s && n < 200; s = strtok(NULL, ",")) ids[n++] = atoi(s);
  printf("{\"n_vocab\": %d, \"prompt\": [", n_vocab);
  for (int i = 0; i < n; ++i) printf("%s%d", i ? "," : "", ids[i]);
  printf("],\n\"logits\": [");
  /* One token per decode, so every position's logits are the last ones. */
  for (int i = 0; i < n; ++i) {
    if (decode(ctx, batch_one(&ids[i], 1)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    printf("%s\n", i ? "," : "");
    print_logits(logits_ith(ctx, -1), n_vocab);
  }
  printf("],\n\"greedy\": [");
  int32_t tok = 0;
  for (int g = 0; g < 16; ++g) {
    const float* l = logits_ith(ctx, -1);
    tok = 0;
    for (int v = 1; v < n_vocab; ++v) if (l[v] > l[tok]) tok = v;
    printf("%s%d", g ? "," : "", tok);
    if (decode(ctx, batch_one(&tok, 1)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
  }
  printf("]}\n");
  return 0;
}
