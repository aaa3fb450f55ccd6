/* Opens a GGUF file with llama.cpp's own reader (gguf_init_from_file from the prebuilt
 * libggml-base of the npm peer) and prints its view of it, one tensor a line:
 *   kv N tensors M
 *   name type_id absolute_offset bytes
 * scripts/peer/make-llama-gguf compares this with tandem's view of the same file.
 * Our code; it only loads the library. Usage: gguf_check LIBDIR FILE.gguf */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* gguf.h: struct gguf_init_params is passed by value. */
struct gguf_init_params {
  bool no_alloc;
  void** ctx; /* struct ggml_context** ; NULL: no tensor data is loaded */
};

typedef void* (*init_fn)(const char*, struct gguf_init_params);
typedef int64_t (*count_fn)(const void*);
typedef const char* (*name_fn)(const void*, int64_t);
typedef int (*type_fn)(const void*, int64_t);
typedef size_t (*size_fn)(const void*, int64_t);
typedef size_t (*data_offset_fn)(const void*);
typedef void (*free_fn)(void*);

#define LOAD(var, type, name)                                     \
  type var = (type)dlsym(lib, name);                              \
  if (!var) {                                                     \
    fprintf(stderr, "gguf_check: %s missing in libggml-base\n", name); \
    return 1;                                                     \
  }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s LIBDIR FILE.gguf\n", argv[0]);
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/libggml-base.so", argv[1]);
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "gguf_check: %s\n", dlerror());
    return 1;
  }
  LOAD(init, init_fn, "gguf_init_from_file");
  LOAD(n_kv, count_fn, "gguf_get_n_kv");
  LOAD(n_tensors, count_fn, "gguf_get_n_tensors");
  LOAD(tensor_name, name_fn, "gguf_get_tensor_name");
  LOAD(tensor_type, type_fn, "gguf_get_tensor_type");
  LOAD(tensor_offset, size_fn, "gguf_get_tensor_offset");
  LOAD(tensor_size, size_fn, "gguf_get_tensor_size");
  LOAD(data_offset, data_offset_fn, "gguf_get_data_offset");
  LOAD(gguf_free, free_fn, "gguf_free");

  struct gguf_init_params params = {true, NULL};
  void* ctx = init(argv[2], params);
  if (!ctx) {
    fprintf(stderr, "gguf_check: llama.cpp's gguf_init_from_file rejected %s\n", argv[2]);
    return 1;
  }
  const int64_t n = n_tensors(ctx);
  printf("kv %lld tensors %lld\n", (long long)n_kv(ctx), (long long)n);
  for (int64_t i = 0; i < n; ++i)
    printf("%s %d %llu %llu\n", tensor_name(ctx, i), tensor_type(ctx, i),
           (unsigned long long)(data_offset(ctx) + tensor_offset(ctx, i)),
           (unsigned long long)tensor_size(ctx, i));
  gguf_free(ctx);
  return 0;
}
