#ifndef CAMAUDIT_CJPEG_SHIM_H
#define CAMAUDIT_CJPEG_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// Decodes a JPEG held in memory without ever longjmp-ing through the caller's frames: libjpeg's
/// error exit longjmps back into this C function, which returns a non-zero code and a message.
/// On success *out is malloc'd (free with camaudit_jpeg_free), rows of width*channels bytes.
/// max_pixels caps width*height (decompression bombs); 0 means no cap.
int camaudit_jpeg_decode(const uint8_t *bytes, size_t length, uint64_t max_pixels,
                         uint8_t **out, int *width, int *height, int *channels,
                         char *message, size_t message_capacity);
void camaudit_jpeg_free(uint8_t *pixels);

/// Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels as baseline JPEG at `quality`.
int camaudit_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                         int progressive, uint8_t **out, size_t *out_length,
                         char *message, size_t message_capacity);
#endif
