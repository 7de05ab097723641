// Times and checks the vendored libwebp's lossy encoder (bench/libwebp.py).
//
//   encode time REPS EFFORT FRAME.ppm...  the fastest of REPS encodes of each
//                                         frame at q80, summed, in ms
//   encode check FRAME.ppm...             every frame as RGB and as RGBA at
//                                         efforts 0-6 and qualities 0-100
//
// Both print the output's size and a hash of every byte written, which
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

int main(int argc, char** argv) {
  Digest digest = {1469598103934665603ULL, 0};
  int i;
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
  fprintf(stderr, "usage: encode time REPS EFFORT FRAME.ppm... | encode check FRAME.ppm...\n");
  return 2;
}
