#ifndef CAMAUDIT_CJPEG_SHIM_H
#define CAMAUDIT_CJPEG_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// Decodes a JPEG held in memory without ever longjmp-ing through the caller's frames: libjpeg's
/// error exit longjmps back into this C function, which returns a non-zero code and a message.
/// On success *out is malloc'd (free with camaudit_jpeg_free), rows of width*channels bytes;
/// channels is 1 for greyscale files and 3 (RGB) for colour files. CMYK/YCCK files are refused.
/// max_pixels caps width*height before any pixel buffer is allocated (decompression bombs);
/// 0 means no cap. A premature end of data (truncated file) is an error, as in PIL.
/// Returns 0 on success, 1 on a decode error, 2 when the pixel cap is exceeded, 3 when out of memory.
int camaudit_jpeg_decode(const uint8_t *bytes, size_t length, uint64_t max_pixels,
                         uint8_t **out, int *width, int *height, int *channels,
                         char *message, size_t message_capacity);
void camaudit_jpeg_free(uint8_t *pixels);

/// Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels as JPEG at `quality` (1...100),
/// baseline or progressive. On success *out is malloc'd (free with camaudit_jpeg_free).
int camaudit_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                         int progressive, uint8_t **out, size_t *out_length,
                         char *message, size_t message_capacity);
#endif
