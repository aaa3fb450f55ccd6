/* Runs a GGUF model in llama.cpp (the prebuilt libllama of the npm peer) on a list of token ids
 * and prints, as JSON, the logits after every prompt token and 16 greedy tokens that follow,
 * with the logits before each. tandem's tests compare their own forward pass against these
 * (tests/data/llama.cpp/NAME.gguf.logits.json). Our code; it only loads the library.
 * Usage: llama_logits LIBDIR MODEL.gguf ID,ID,...  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/peer/llama_abi.h"

static void print_logits(const float* l, int n) {
  printf("[");
  for (int i = 0; i < n; ++i) printf("%s%.7g", i ? "," : "", l[i]);
  printf("]");
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s LIBDIR MODEL ID,ID,...\n", argv[0]); return 2; }
  void* lib[3];
  load_llama(argv[1], lib);
  void* ll = lib[2];
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
