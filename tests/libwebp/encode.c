// Times and checks the vendored libwebp's lossy encoder (tests/libwebp/check.py,
// bench/libwebp.py).
//
//   encode time REPS EFFORT FRAME.ppm...  the fastest of REPS encodes of each
//                                         frame at q80, summed, in ms
//   encode check FRAME.ppm...             every frame as RGB and as RGBA at
//                                         efforts 0-6 and qualities 0-100
//   encode random SEED COUNT              COUNT images of random sizes and
//                                         contents, each at a random effort,
//                                         quality and alpha
//
// Each prints the output's size and a hash of every byte written, which
// must not differ between the patched and the unpatched library.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/webp/encode.h"

typedef struct {
  int width, height;
  unsigned char* rgb;
} Frame;

static Frame ReadPpm(const char* path) {
  Frame frame = {0, 0, NULL};
  int max = 0;
  size_t size;
  FILE* file = fopen(path, "rb");
  if (file == NULL ||
      fscanf(file, "P6 %d %d %d", &frame.width, &frame.height, &max) != 3 ||
      fgetc(file) == EOF || max != 255) {
    fprintf(stderr, "%s: not a binary PPM\n", path);
    exit(1);
  }
  size = (size_t)frame.width * frame.height * 3;
  frame.rgb = malloc(size);
  if (frame.rgb == NULL || fread(frame.rgb, 1, size, file) != size) {
    fprintf(stderr, "%s: truncated\n", path);
    exit(1);
  }
  fclose(file);
  return frame;
}

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

typedef struct {
  unsigned long long hash;
  size_t bytes;
} Digest;

static void Add(Digest* const digest, const WebPMemoryWriter* const writer) {
  size_t i;
  for (i = 0; i < writer->size; ++i) {
    digest->hash = (digest->hash ^ writer->mem[i]) * 1099511628211ULL;
  }
  digest->bytes += writer->size;
}

// Encodes 'picture' as Kiln does (transform/webp.rs), at 'effort' and
// 'quality'; SNS and segments as asked.
static double Encode(WebPPicture* const picture, int effort, int quality,
                     int sns_off, int one_segment, WebPMemoryWriter* writer) {
  WebPConfig config;
  double start;
  WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, (float)quality);
  config.method = effort;
  config.alpha_quality = 100;
  if (sns_off) config.sns_strength = 0;
  if (one_segment) config.segments = 1;
  WebPMemoryWriterInit(writer);
  picture->writer = WebPMemoryWrite;
  picture->custom_ptr = writer;
  start = Now();
  if (!WebPEncode(&config, picture)) {
    fprintf(stderr, "encode failed: %d\n", picture->error_code);
    exit(1);
  }
  return Now() - start;
}

static void Import(WebPPicture* const picture, const Frame* const frame,
                   const unsigned char* rgba) {
  WebPPictureInit(picture);
  picture->width = frame->width;
  picture->height = frame->height;
  picture->use_argb = 0;
  if (rgba != NULL) {
    WebPPictureImportRGBA(picture, rgba, frame->width * 4);
  } else {
    WebPPictureImportRGB(picture, frame->rgb, frame->width * 3);
  }
}

// xorshift64*: the same sequence from the same seed in every build.
static unsigned long long Next(unsigned long long* const state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 2685821657736338717ULL;
}

static unsigned Below(unsigned long long* const state, unsigned bound) {
  return (unsigned)(Next(state) >> 33) % bound;
}

// An image of a random size whose contents are one of what encoders find
// hard or degenerate: noise, flat blocks, gradients with noise, stripes, or
// a single value; alpha likewise.
static void RandomImage(unsigned long long* const state, Frame* const frame,
                        unsigned char** const rgba) {
  const int kind = (int)Below(state, 5);
  const int width = 1 + (int)Below(state, Below(state, 8) == 0 ? 1200 : 300);
  const int height = 1 + (int)Below(state, Below(state, 8) == 0 ? 1200 : 300);
  const int pixels = width * height;
  const unsigned char flat = (unsigned char)Below(state, 256);
  const int block = 1 + (int)Below(state, 32);
  int p, c;
  frame->width = width;
  frame->height = height;
  frame->rgb = malloc((size_t)pixels * 3);
  *rgba = malloc((size_t)pixels * 4);
  if (frame->rgb == NULL || *rgba == NULL) exit(1);
  for (p = 0; p < pixels; ++p) {
    const int x = p % width, y = p / width;
    for (c = 0; c < 3; ++c) {
      unsigned char v;
      switch (kind) {
        case 0: v = (unsigned char)Next(state); break;
        case 1: v = (unsigned char)(((x / block) * 37 + (y / block) * 91 + c * 53) & 255); break;
        case 2: v = (unsigned char)((x * 255 / width + y * 64 / height + Below(state, 9)) & 255); break;
        case 3: v = ((x + c) / block) % 2 ? 255 : 0; break;
        default: v = flat; break;
      }
      frame->rgb[3 * p + c] = v;
      (*rgba)[4 * p + c] = v;
    }
    (*rgba)[4 * p + 3] = kind == 4 ? flat : (unsigned char)(Below(state, 3) ? 255 : Next(state));
  }
}

int main(int argc, char** argv) {
  Digest digest = {1469598103934665603ULL, 0};
  int i;
  if (argc == 4 && !strcmp(argv[1], "random")) {
    unsigned long long state = strtoull(argv[2], NULL, 10) | 1;
    const int count = atoi(argv[3]);
    for (i = 0; i < count; ++i) {
      Frame frame;
      unsigned char* rgba;
      WebPPicture picture;
      WebPMemoryWriter writer;
      int effort, quality, alpha;
      RandomImage(&state, &frame, &rgba);
      effort = (int)Below(&state, 7);
      quality = (int)Below(&state, 101);
      alpha = (int)Below(&state, 2);
      Import(&picture, &frame, alpha ? rgba : NULL);
      Encode(&picture, effort, quality, Below(&state, 3) == 0,
             Below(&state, 4) == 0, &writer);
      Add(&digest, &writer);
      WebPMemoryWriterClear(&writer);
      WebPPictureFree(&picture);
      free(rgba);
      free(frame.rgb);
    }
    printf("%d random encodes, %zu bytes, hash %016llx\n", count, digest.bytes,
           digest.hash);
    return 0;
  }
  if (argc >= 4 && !strcmp(argv[1], "time")) {
    const int reps = atoi(argv[2]), effort = atoi(argv[3]);
    double total = 0.;
    for (i = 4; i < argc; ++i) {
      const Frame frame = ReadPpm(argv[i]);
      WebPPicture picture;
      WebPMemoryWriter writer;
      double best = 1e30;
      int r;
      Import(&picture, &frame, NULL);
      for (r = 0; r < reps; ++r) {
        const double ms = Encode(&picture, effort, 80, 0, 0, &writer);
        if (ms < best) best = ms;
        if (r + 1 < reps) WebPMemoryWriterClear(&writer);
      }
      Add(&digest, &writer);
      WebPMemoryWriterClear(&writer);
      WebPPictureFree(&picture);
      free(frame.rgb);
      total += best;
    }
    printf("%.2f ms, %zu bytes, hash %016llx\n", total, digest.bytes,
           digest.hash);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "check")) {
    static const int kQualities[] = {0, 5, 20, 40, 60, 75, 80, 90, 97, 100};
    const int num_qualities = (int)(sizeof(kQualities) / sizeof(kQualities[0]));
    int encodes = 0;
    for (i = 2; i < argc; ++i) {
      const Frame frame = ReadPpm(argv[i]);
      const int pixels = frame.width * frame.height;
      unsigned char* const rgba = malloc((size_t)pixels * 4);
      int p, alpha, effort, q;
      for (p = 0; p < pixels; ++p) {
        memcpy(rgba + 4 * p, frame.rgb + 3 * p, 3);
        rgba[4 * p + 3] = (p * 7) % 256 > 128 ? 255 : (unsigned char)p;
      }
      for (alpha = 0; alpha < 2; ++alpha) {
        for (effort = 0; effort <= 6; ++effort) {
          for (q = 0; q < num_qualities; ++q) {
            WebPPicture picture;
            WebPMemoryWriter writer;
            Import(&picture, &frame, alpha ? rgba : NULL);
            Encode(&picture, effort, kQualities[q], (q + effort) % 3 == 0,
                   (q + effort) % 4 == 1, &writer);
            Add(&digest, &writer);
            WebPMemoryWriterClear(&writer);
            WebPPictureFree(&picture);
            ++encodes;
          }
        }
      }
      free(rgba);
      free(frame.rgb);
    }
    printf("%d encodes, %zu bytes, hash %016llx\n", encodes, digest.bytes,
           digest.hash);
    return 0;
  }
  fprintf(stderr,
          "usage: encode time REPS EFFORT FRAME.ppm... | encode check "
          "FRAME.ppm... | encode random SEED COUNT\n");
  return 2;
}
