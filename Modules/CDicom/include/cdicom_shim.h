#ifndef CAMAUDIT_CDICOM_SHIM_H
#define CAMAUDIT_CDICOM_SHIM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a DICOM file says about its pixels. Text fields are NUL-terminated and empty when the file
/// does not have the attribute; decimal strings (DS) are handed out as written so the caller parses
/// them with a correctly rounded parser.
typedef struct {
    int32_t rows, columns, frames, samples_per_pixel;
    int32_t bits_allocated, bits_stored, high_bit, pixel_representation;
    int32_t has_padding_value;
    int32_t padding_value;
    char photometric[32];
    char transfer_syntax_uid[80];
    char transfer_syntax_name[128];
    char sop_instance_uid[80];
    char series_instance_uid[80];
    char rescale_slope[40];
    char rescale_intercept[40];
    char window_center[40];
    char window_width[40];
    char pixel_spacing[84];
} camaudit_dicom_info;

/// Reads one DICOM file held in memory (preamble + "DICM" + meta header + dataset) with DCMTK.
/// Compressed pixel data (JPEG lossless/baseline/extended, JPEG-LS, RLE) is decompressed; other
/// encapsulated transfer syntaxes (JPEG 2000 among them) are refused with their UID and name.
///
/// `frame` is 0-based; with `header_only` non-zero no pixel data is read and *out stays NULL.
/// Otherwise *out is malloc'd (free with camaudit_dicom_free): rows*columns stored values of that
/// frame, high bits above BitsStored masked off and sign-extended when PixelRepresentation is 1.
/// `max_pixels` caps rows*columns and `max_bytes` caps the decompressed size of all frames, both
/// checked before anything that size is allocated (0 = no cap).
/// No C++ exception leaves this function. Returns 0 on success, 1 corrupt or unreadable data,
/// 2 over a cap, 3 a valid file in a variant not read (transfer syntax, colour, bit depth),
/// 4 not a DICOM file; `message` then says why.
int camaudit_dicom_read(const uint8_t *bytes, size_t length, int32_t frame, int32_t header_only,
                        uint64_t max_pixels, uint64_t max_bytes,
                        camaudit_dicom_info *info, int32_t **out,
                        char *message, size_t message_capacity);
void camaudit_dicom_free(int32_t *values);

#ifdef __cplusplus
}
#endif
#endif
