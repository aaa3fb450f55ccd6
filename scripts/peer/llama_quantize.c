/* Calls llama.cpp's own quantizer (llama_model_quantize) from the prebuilt libllama of the npm
 * peer, to make reference GGUF files "made by llama.cpp". Our code; it only loads the library.
 * Usage: llama_quantize LIBDIR IN.gguf OUT.gguf FTYPE   (FTYPE: llama_ftype number) */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameter struct is opaque to us: llama_model_quantize_default_params fills it and we
 * only change the leading fields (nthread: int32, ftype: enum), whose order is stable. The
 * buffer is far larger than the real struct. */
typedef struct {
  int32_t nthread;
  int32_t ftype;
  char rest[4096];
} params_prefix;

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s LIBDIR IN OUT FTYPE\n", argv[0]);
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/libggml-base.so", argv[1]);
  if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  snprintf(path, sizeof path, "%s/libggml.v0.5.0.so", argv[1]);
  void* ggml = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!ggml) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  snprintf(path, sizeof path, "%s/libllama.v0.5.0.so", argv[1]);
  void* llama = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!llama) { fprintf(stderr, "%s\n", dlerror()); return 1; }

  void (*backend_init)(void) = (void (*)(void))dlsym(llama, "llama_backend_init");
  params_prefix (*defaults)(void) = (params_prefix(*)(void))dlsym(llama, "llama_model_quantize_default_params");
  uint32_t (*quantize)(const char*, const char*, const params_prefix*) =
      (uint32_t(*)(const char*, const char*, const params_prefix*))dlsym(llama, "llama_model_quantize");
  if (!backend_init || !defaults || !quantize) { fprintf(stderr, "missing llama symbols\n"); return 1; }
  backend_init();
  params_prefix p = defaults();
  p.nthread = 2;
  p.ftype = atoi(argv[4]);
  uint32_t rc = quantize(argv[2], argv[3], &p);
  if (rc != 0) { fprintf(stderr, "llama_model_quantize failed: %u\n", rc); return 1; }
  return 0;
}
