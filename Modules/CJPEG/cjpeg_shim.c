// libjpeg-turbo behind a setjmp-safe C boundary: libjpeg reports fatal errors through
// error_exit, which must not return; we longjmp back into the function that called libjpeg
// (never into Swift frames) and turn the error into a return code plus message.
#include "cjpeg_shim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

struct shim_error_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
};

static void shim_error_exit(j_common_ptr cinfo) {
    struct shim_error_mgr *err = (struct shim_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->text);
    longjmp(err->jump, 1);
}

// Warnings are silent, except a premature end of data: libjpeg would pad the image with grey,
// PIL refuses truncated files, and so do we.
static void shim_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            shim_error_exit(cinfo);
        }
        cinfo->err->num_warnings++;
    }
}

static void shim_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// libjpeg's standard error manager with our exit (longjmp back into the shim function that set the
/// jump; setjmp itself must stay in that function) and silent warnings.
static struct jpeg_error_mgr *shim_install_errors(struct shim_error_mgr *jerr) {
    struct jpeg_error_mgr *e = jpeg_std_error(&jerr->pub);
    jerr->pub.error_exit = shim_error_exit;
    jerr->pub.emit_message = shim_emit_message;
    jerr->pub.output_message = shim_output_message;
    jerr->text[0] = 0;
    return e;
}

static void copy_message(char *dst, size_t cap, const char *src) {
    if (dst == NULL || cap == 0) return;
    snprintf(dst, cap, "%s", src);
}

int camaudit_jpeg_decode(const uint8_t *bytes, size_t length, uint64_t max_pixels,
                         uint8_t **out, int *width, int *height, int *channels,
                         char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    struct shim_error_mgr jerr;
    // volatile: modified between setjmp and longjmp and read after the jump.
    uint8_t *volatile pixels = NULL;
    *out = NULL;
    if (bytes == NULL || length == 0) {
        copy_message(message, message_capacity, "empty input");
        return 1;
    }
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = shim_install_errors(&jerr);
    if (setjmp(jerr.jump)) {
        copy_message(message, message_capacity, jerr.text);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);
    uint64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w == 0 || h == 0) {
        copy_message(message, message_capacity, "zero-size image");
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    if (max_pixels != 0 && w * h > max_pixels) {
        snprintf(message, message_capacity, "%llux%llu = %llu pixels exceeds the cap of %llu (decompression bomb?)",
                 (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
                 (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        copy_message(message, message_capacity, "CMYK/YCCK JPEG files are not supported");
        jpeg_destroy_decompress(&cinfo);
        return 1;
    default:
        cinfo.out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(&cinfo);
    int nc = cinfo.output_components;
    size_t stride = (size_t)cinfo.output_width * (size_t)nc;
    pixels = (uint8_t *)malloc(stride * cinfo.output_height);
    if (pixels == NULL) {
        copy_message(message, message_capacity, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        return 3;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *channels = nc;
    *out = pixels;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

void camaudit_jpeg_free(uint8_t *pixels) { free(pixels); }

int camaudit_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                         int progressive, uint8_t **out, size_t *out_length,
                         char *message, size_t message_capacity) {
    struct jpeg_compress_struct cinfo;
    struct shim_error_mgr jerr;
    unsigned char *volatile buffer = NULL;
    unsigned long size = 0;
    *out = NULL;
    *out_length = 0;
    if (pixels == NULL || width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
        copy_message(message, message_capacity, "invalid image (need width, height > 0 and 1 or 3 channels)");
        return 1;
    }
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = shim_install_errors(&jerr);
    if (setjmp(jerr.jump)) {
        copy_message(message, message_capacity, jerr.text);
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    unsigned char *mem = NULL;
    jpeg_mem_dest(&cinfo, &mem, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    buffer = mem;
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_length = size;
    return 0;
}
