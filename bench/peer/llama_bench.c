/* The llama.cpp side of `make bench`: loads the prebuilt libllama of the npm peer
 * (bench/peer/node_modules/@node-llama-cpp/linux-x64) and measures prompt processing (pp) and
 * text generation (tg) the way llama.cpp's llama-bench does: random token ids, pp as one
 * llama_decode of P tokens into an empty context, tg as N single-token decodes from an empty
 * context (BOS first), one warm-up run of each, then REPS timed runs. Prints one JSON object
 * with the same keys as `tandem bench --json`. Our code; it only loads the library.
 * Usage: llama_bench LIBDIR MODEL.gguf P N REPS THREADS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama_abi.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
static double median(const double* v, int n) {
  double s[1000];
  memcpy(s, v, sizeof(double) * (size_t)n);
  qsort(s, (size_t)n, sizeof(double), cmp);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void* ll;
static void* ctx;
static llama_batch (*batch_get_one)(int32_t*, int32_t);
static int32_t (*decode)(void*, llama_batch);
static void (*synchronize)(void*);
static void* (*get_memory)(void*);
static void (*memory_clear)(void*, int);
static void (*kv_self_clear)(void*);

static void clear(void) {
  if (get_memory && memory_clear) memory_clear(get_memory(ctx), 1);
  else kv_self_clear(ctx);
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s LIBDIR MODEL.gguf P N REPS THREADS\n", argv[0]);
    return 2;
  }
  const int n_prompt = atoi(argv[3]), n_gen = atoi(argv[4]), reps = atoi(argv[5]), threads = atoi(argv[6]);
  if (n_prompt < 0 || n_gen < 0 || reps < 1 || reps > 1000 || threads < 1) {
    fprintf(stderr, "llama_bench: bad P/N/REPS/THREADS\n");
    return 2;
  }
  void* lib[3];
  load_llama(argv[1], lib);
  ll = lib[2];
  model_params mp = ((model_params(*)(void))sym(ll, "llama_model_default_params"))();
  void* model = ((void* (*)(const char*, model_params))sym(ll, "llama_model_load_from_file"))(argv[2], mp);
  if (!model) { fprintf(stderr, "llama_bench: llama.cpp could not load %s\n", argv[2]); return 1; }
  context_params cp = ((context_params(*)(void))sym(ll, "llama_context_default_params"))();
  cp.n_ctx = (uint32_t)(n_prompt + n_gen + 16);
  cp.n_batch = (uint32_t)(n_prompt > 512 ? n_prompt : 512);
  cp.n_ubatch = 512; /* llama-bench's default micro-batch */
  cp.n_threads = cp.n_threads_batch = threads;
  ctx = ((void* (*)(void*, context_params))sym(ll, "llama_init_from_model"))(model, cp);
  if (!ctx) { fprintf(stderr, "llama_bench: llama.cpp could not make a context\n"); return 1; }
  /* The thread fields of the params struct are not honoured by every release: set them again. */
  ((void (*)(void*, int32_t, int32_t))sym(ll, "llama_set_n_threads"))(ctx, threads, threads);
  const void* vocab = ((const void* (*)(const void*))sym(ll, "llama_model_get_vocab"))(model);
  const int n_vocab = ((int32_t(*)(const void*))sym(ll, "llama_vocab_n_tokens"))(vocab);
  const int32_t bos = ((int32_t(*)(const void*))sym(ll, "llama_vocab_bos"))(vocab);
  batch_get_one = (llama_batch(*)(int32_t*, int32_t))sym(ll, "llama_batch_get_one");
  decode = (int32_t(*)(void*, llama_batch))sym(ll, "llama_decode");
  synchronize = (void (*)(void*))sym(ll, "llama_synchronize");
  get_memory = (void* (*)(void*))dlsym(ll, "llama_get_memory");
  memory_clear = (void (*)(void*, int))dlsym(ll, "llama_memory_clear");
  kv_self_clear = (void (*)(void*))dlsym(ll, "llama_kv_self_clear");
  if (!(get_memory && memory_clear) && !kv_self_clear) { fprintf(stderr, "llama_bench: no way to clear the KV cache\n"); return 1; }

  srand(1234);
  int32_t* ids = malloc(sizeof(int32_t) * (size_t)(n_prompt > 0 ? n_prompt : 1));
  double pp[1000], tg[1000];
  for (int r = -1; r < reps && n_prompt > 0; ++r) { /* r == -1: warm-up */
    for (int i = 0; i < n_prompt; ++i) ids[i] = rand() % n_vocab;
    if (bos >= 0) ids[0] = bos;
    clear();
    const double t0 = now();
    if (decode(ctx, batch_get_one(ids, n_prompt)) != 0) { fprintf(stderr, "llama_bench: decode failed\n"); return 1; }
    synchronize(ctx);
    if (r >= 0) pp[r] = n_prompt / (now() - t0);
  }
  for (int r = -1; r < reps && n_gen > 0; ++r) {
    clear();
    int32_t tok = bos >= 0 ? bos : rand() % n_vocab;
    const double t0 = now();
    for (int i = 0; i < n_gen; ++i) {
      if (decode(ctx, batch_get_one(&tok, 1)) != 0) { fprintf(stderr, "llama_bench: decode failed\n"); return 1; }
      synchronize(ctx);
      tok = rand() % n_vocab;
    }
    if (r >= 0) tg[r] = n_gen / (now() - t0);
  }
  printf("{\"tool\": \"llama.cpp\", \"threads\": %d, \"reps\": %d, \"n_prompt\": %d, \"n_gen\": %d", threads, reps,
         n_prompt, n_gen);
  if (n_prompt > 0) {
    printf(", \"pp_tokens_per_s\": %.4f, \"pp_samples\": [", median(pp, reps));
    for (int r = 0; r < reps; ++r) printf("%s%.4f", r ? ", " : "", pp[r]);
    printf("]");
  }
  if (n_gen > 0) {
    printf(", \"tg_tokens_per_s\": %.4f, \"tg_samples\": [", median(tg, reps));
    for (int r = 0; r < reps; ++r) printf("%s%.4f", r ? ", " : "", tg[r]);
    printf("]");
  }
  printf("}\n");
  free(ids);
  return 0;
}
