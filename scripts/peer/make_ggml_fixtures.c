/* make_ggml_fixtures.c -- tandem's own fixture writer for the quantization tests.
 *
 * dlopens the peer's prebuilt libggml-base.so (never built here) and, for every type tandem
 * implements, records what ggml itself does:
 *   input.f32             [rows][n_per_row] f32   deterministic inputs (see make_input)
 *   <type>.quant          [rows][row_bytes]       ggml_quantize_chunk(type, input) (Q8_K:
 *                                                 quantize_row_q8_K_ref; ggml_quantize_chunk has
 *                                                 no Q8_K case)
 *   <type>.dequant        [rows][n_per_row] f32   ggml's to_float(<type>.quant)
 *   <type>.rand.quant     [n_rand_blocks] blocks  random bytes with finite scale fields
 *   <type>.rand.dequant   [n_rand_blocks * block_size] f32  ggml's to_float of those bytes
 *   manifest.json         shapes, byte counts, peer version
 * Usage: make_ggml_fixtures LIBGGML_BASE_SO OUT_DIR PEER_VERSION
 */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 10, N_PER_ROW = 512 };

/* The slice of ggml.h this program needs, declared here (ggml's headers are not vendored). */
typedef void (*to_float_fn)(const void *x, float *y, int64_t k);
typedef void (*from_float_fn)(const float *x, void *y, int64_t k);
struct type_traits { /* struct ggml_type_traits; the layout is checked at run time below */
  const char *type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  to_float_fn to_float;
  from_float_fn from_float_ref;
};
typedef const struct type_traits *(*get_traits_fn)(int type);
typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start,
                                    int64_t nrows, int64_t n_per_row, const float *imatrix);
typedef size_t (*row_size_fn)(int type, int64_t ne);
typedef int64_t (*blck_size_fn)(int type);
typedef size_t (*type_size_fn)(int type);
typedef const char *(*type_name_fn)(int type);

struct type_case {
  int id;              /* ggml type id (= tandem DType value) */
  const char *name;    /* file stem */
  const char *deq_sym; /* exported dequantize symbol, to cross-check the traits layout */
  int quantize;        /* 1: ggml_quantize_chunk, 2: from_float_ref, 0: dequantize only */
  int scale_off[2];    /* byte offsets of f16 scale fields inside a block (-1: none) */
  int f32_scale;       /* Q8_K: the block starts with an f32 scale */
};

static const struct type_case kCases[] = {
    {1, "f16", "ggml_fp16_to_fp32_row", 1, {-1, -1}, 0},
    {30, "bf16", "ggml_bf16_to_fp32_row", 1, {-1, -1}, 0},
    {8, "q8_0", "dequantize_row_q8_0", 1, {0, -1}, 0},
    {2, "q4_0", "dequantize_row_q4_0", 1, {0, -1}, 0},
    {3, "q4_1", "dequantize_row_q4_1", 1, {0, 2}, 0},
    {6, "q5_0", "dequantize_row_q5_0", 1, {0, -1}, 0},
    {7, "q5_1", "dequantize_row_q5_1", 1, {0, 2}, 0},
    {10, "q2_K", "dequantize_row_q2_K", 1, {80, 82}, 0},
    {11, "q3_K", "dequantize_row_q3_K", 1, {108, -1}, 0},
    {12, "q4_K", "dequantize_row_q4_K", 1, {0, 2}, 0},
    {13, "q5_K", "dequantize_row_q5_K", 1, {0, 2}, 0},
    {14, "q6_K", "dequantize_row_q6_K", 1, {208, -1}, 0},
    {15, "q8_K", "dequantize_row_q8_K", 2, {-1, -1}, 1},
    {20, "iq4_nl", "dequantize_row_iq4_nl", 0, {0, -1}, 0},
    {23, "iq4_xs", "dequantize_row_iq4_xs", 0, {0, -1}, 0},
};

/* splitmix64: a fixed, portable generator so the inputs never depend on libc. */
static uint64_t g_state = 0x7a6e64656d2d7131ull;
static uint64_t next_u64(void) {
  uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double uniform01(void) { return (double)(next_u64() >> 11) * 0x1p-53; }
static float gauss(void) {
  const double u1 = uniform01() + 0x1p-60, u2 = uniform01();
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Rows, 512 values each (two 256-superblocks, sixteen 32-blocks):
 * 0 normal N(0,1)                         5 negative-dominant: -(|N|+0.5), a few small positives
 * 1 weight-like N(0, 0.02)                6 each 32-block scaled by 2^(b-8): wide dynamic range
 * 2 superblock 0 all zero; then constant  7 alternate 32-blocks zero (zero groups in live blocks)
 *   0.5 (128) and constant -3 (128)       8 positive only, uniform [0, 2)
 * 3 N(0,1) with outliers 1000 and -5000   9 multiples of 0.25 in [-2, 2] (rounding ties)
 * 4 tiny: N(0,1e-6), one 32-block of subnormals (~1e-40), one of 1e-20 */
static void make_input(float *x) {
  for (int r = 0; r < ROWS; ++r) {
    float *row = x + (size_t)r * N_PER_ROW;
    for (int j = 0; j < N_PER_ROW; ++j) {
      float v = 0.0f;
      const int b = j / 32;
      switch (r) {
        case 0: v = gauss(); break;
        case 1: v = 0.02f * gauss(); break;
        case 2: v = j < 256 ? 0.0f : (j < 384 ? 0.5f : -3.0f); break;
        case 3: v = gauss(); break;
        case 4: v = b == 3 ? 1e-40f * gauss() : (b == 9 ? 1e-20f * gauss() : 1e-6f * gauss()); break;
        case 5: v = (j % 29 == 0) ? 0.1f * fabsf(gauss()) : -(fabsf(gauss()) + 0.5f); break;
        case 6: v = ldexpf((float)(2.0 * uniform01() - 1.0), b - 8); break;
        case 7: v = (b % 2) ? 0.0f : gauss(); break;
        case 8: v = (float)(2.0 * uniform01()); break;
        case 9: v = 0.25f * (float)((int)(next_u64() % 17) - 8); break;
      }
      row[j] = v;
    }
    if (r == 3) {
      row[37] = 1000.0f;
      row[300] = -5000.0f;
    }
  }
}

static void write_file(const char *dir, const char *name, const char *suffix, const void *p,
                       size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "make_ggml_fixtures: cannot write %s\n", path);
    exit(1);
  }
}

static void *sym(void *lib, const char *name) {
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "make_ggml_fixtures: libggml-base has no symbol %s\n", name);
    exit(1);
  }
  return p;
}

/* A random finite f16 (any sign, exponents 0..30: subnormals included, no inf/NaN). */
static uint16_t random_half(void) {
  uint16_t h = (uint16_t)next_u64();
  if ((h & 0x7c00u) == 0x7c00u) h &= (uint16_t)~0x4000u;
  return h;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: make_ggml_fixtures LIBGGML_BASE_SO OUT_DIR PEER_VERSION\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "make_ggml_fixtures: %s\n", dlerror());
    return 1;
  }
  const char *out = argv[2];
  get_traits_fn get_traits = (get_traits_fn)sym(lib, "ggml_get_type_traits");
  quantize_chunk_fn quantize_chunk = (quantize_chunk_fn)sym(lib, "ggml_quantize_chunk");
  row_size_fn row_size = (row_size_fn)sym(lib, "ggml_row_size");
  blck_size_fn blck_size = (blck_size_fn)sym(lib, "ggml_blck_size");
  type_size_fn type_size = (type_size_fn)sym(lib, "ggml_type_size");
  type_name_fn type_name = (type_name_fn)sym(lib, "ggml_type_name");

  static float input[ROWS * N_PER_ROW];
  make_input(input);
  write_file(out, "input", ".f32", input, sizeof input);

  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", out);
  FILE *mf = fopen(path, "w");
  if (!mf) {
    fprintf(stderr, "make_ggml_fixtures: cannot write %s\n", path);
    return 1;
  }
  fprintf(mf, "{\n  \"peer\": \"%s\",\n  \"rows\": %d,\n  \"n_per_row\": %d,\n  \"types\": [\n",
          argv[3], ROWS, N_PER_ROW);

  const size_t n_cases = sizeof kCases / sizeof kCases[0];
  for (size_t c = 0; c < n_cases; ++c) {
    const struct type_case *tc = &kCases[c];
    const struct type_traits *tr = get_traits(tc->id);
    /* The traits struct is declared by hand: check it against the exported accessors. */
    if (tr->blck_size != blck_size(tc->id) || tr->type_size != type_size(tc->id) ||
        strcmp(tr->type_name, type_name(tc->id)) != 0 || strcmp(tr->type_name, tc->name) != 0 ||
        (tr->to_float && (void *)tr->to_float != sym(lib, tc->deq_sym))) {
      fprintf(stderr, "make_ggml_fixtures: ggml_type_traits of %s differ from the accessors "
              "(name %s, block %lld, bytes %zu): update struct type_traits\n",
              tc->name, tr->type_name, (long long)tr->blck_size, tr->type_size);
      return 1;
    }
    /* ggml-base leaves Q8_K's to_float / from_float_ref to the CPU backend: use the exported
     * reference functions for it (the same code the CPU backend's traits point at). */
    const to_float_fn to_float = tr->to_float ? tr->to_float : (to_float_fn)sym(lib, tc->deq_sym);
    const int64_t bs = tr->blck_size;
    const size_t tsz = tr->type_size;
    const size_t rb = row_size(tc->id, N_PER_ROW);

    if (tc->quantize) {
      unsigned char *q = calloc(ROWS, rb);
      float *deq = calloc((size_t)ROWS * N_PER_ROW, sizeof(float));
      if (tc->quantize == 1) {
        const size_t got = quantize_chunk(tc->id, input, q, 0, ROWS, N_PER_ROW, NULL);
        if (got != ROWS * rb) {
          fprintf(stderr, "make_ggml_fixtures: %s: quantize_chunk wrote %zu bytes\n", tc->name, got);
          return 1;
        }
      } else {
        const from_float_fn from_float = (from_float_fn)sym(lib, "quantize_row_q8_K_ref");
        for (int r = 0; r < ROWS; ++r)
          from_float(input + (size_t)r * N_PER_ROW, q + (size_t)r * rb, N_PER_ROW);
      }
      for (int r = 0; r < ROWS; ++r)
        to_float(q + (size_t)r * rb, deq + (size_t)r * N_PER_ROW, N_PER_ROW);
      write_file(out, tc->name, ".quant", q, ROWS * rb);
      write_file(out, tc->name, ".dequant", deq, sizeof(float) * ROWS * N_PER_ROW);
      free(q);
      free(deq);
    }

    /* Random blocks: arbitrary quant bits, finite scales. 2048 elements of each type. */
    const int64_t n_rand = 2048;
    const int64_t nblocks = n_rand / bs;
    unsigned char *rq = malloc((size_t)nblocks * tsz);
    float *rdeq = malloc(sizeof(float) * (size_t)n_rand);
    for (int64_t b = 0; b < nblocks; ++b) {
      unsigned char *blk = rq + (size_t)b * tsz;
      for (size_t i = 0; i < tsz; ++i) blk[i] = (unsigned char)next_u64();
      if (bs == 1) { /* f16 / bf16 elements: keep them finite */
        uint16_t h = tc->id == 1 ? random_half() : (uint16_t)(next_u64() & 0xffff);
        if (tc->id == 30 && (h & 0x7f80u) == 0x7f80u) h &= (uint16_t)~0x4000u;
        memcpy(blk, &h, 2);
      }
      for (int s = 0; s < 2; ++s)
        if (tc->scale_off[s] >= 0) {
          const uint16_t h = random_half();
          memcpy(blk + tc->scale_off[s], &h, 2);
        }
      if (tc->f32_scale) {
        const float d = (float)(uniform01() * 2.0 - 1.0) * 0.01f;
        memcpy(blk, &d, 4);
      }
    }
    to_float(rq, rdeq, n_rand);
    write_file(out, tc->name, ".rand.quant", rq, (size_t)nblocks * tsz);
    write_file(out, tc->name, ".rand.dequant", rdeq, sizeof(float) * (size_t)n_rand);
    free(rq);
    free(rdeq);

    fprintf(mf,
            "    {\"name\": \"%s\", \"id\": %d, \"block_size\": %lld, \"block_bytes\": %zu, "
            "\"row_bytes\": %zu, \"quantized_by_peer\": %s, \"rand_elements\": %lld}%s\n",
            tc->name, tc->id, (long long)bs, tsz, rb, tc->quantize ? "true" : "false",
            (long long)n_rand, c + 1 < n_cases ? "," : "");
  }
  fprintf(mf, "  ]\n}\n");
  fclose(mf);
  dlclose(lib);
  return 0;
}
