// DCMTK behind a C interface: Swift sees plain structs and return codes, never a C++ exception.
#include "cdicom_shim.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>

namespace {

// Codecs are process-wide registrations in DCMTK; register once. DCMTK's own log would print
// warnings about hostile files on stderr, beside the one message the caller prints.
void initialise() {
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::OFF_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
    });
}

struct Failure {
    int code;
    std::string text;
};

void copy(char *dst, size_t capacity, const std::string &s) {
    if (capacity == 0) return;
    size_t n = s.size() < capacity - 1 ? s.size() : capacity - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = 0;
}

template <size_t N> void copyField(char (&dst)[N], const OFString &s) { copy(dst, N, std::string(s.c_str())); }

/// A required unsigned short attribute; a missing one or one of another VR is corrupt.
int32_t requiredUS(DcmItem *ds, const DcmTagKey &key, const char *name) {
    Uint16 v = 0;
    OFCondition c = ds->findAndGetUint16(key, v);
    if (c.bad()) throw Failure{1, std::string(name) + " missing or unreadable (" + c.text() + ")"};
    return v;
}

int32_t optionalUS(DcmItem *ds, const DcmTagKey &key, int32_t fallback) {
    Uint16 v = 0;
    return ds->findAndGetUint16(key, v).good() ? v : fallback;
}

OFString text(DcmItem *ds, const DcmTagKey &key, bool all = false) {
    OFString s;
    if (all ? ds->findAndGetOFStringArray(key, s).bad() : ds->findAndGetOFString(key, s, 0).bad()) return OFString();
    return s;
}

void read(const uint8_t *bytes, size_t length, int32_t frame, bool headerOnly, uint64_t maxPixels, uint64_t maxBytes,
          camaudit_dicom_info *info, int32_t **out) {
    if (length < 132 || std::memcmp(bytes + 128, "DICM", 4) != 0)
        throw Failure{4, "not a DICOM file (no \"DICM\" after a 128-byte preamble)"};
    if (!dcmDataDict.isDictionaryLoaded())
        throw Failure{1, "DCMTK's data dictionary is not installed (Debian package libdcmtk17, or set DCMDICTPATH)"};

    DcmInputBufferStream stream;
    stream.setBuffer(bytes, static_cast<offile_off_t>(length));
    stream.setEos();
    DcmFileFormat file;
    file.transferInit();
    // A memory stream cannot load values lazily: every value the header declares is read now, and
    // one that runs past the end of the bytes ends the read with an error.
    OFCondition c = headerOnly
        ? file.readUntilTag(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData)
        : file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();
    if (c.bad()) throw Failure{1, std::string("unreadable DICOM (") + c.text() + ")"};
    if (!headerOnly && !stream.eos())
        throw Failure{1, "unreadable DICOM (parsing stopped before the end of the file)"};

    DcmDataset *ds = file.getDataset();
    DcmMetaInfo *meta = file.getMetaInfo();
    if (ds == nullptr) throw Failure{1, "no dataset"};
    OFString xferUID;
    if (meta == nullptr || meta->findAndGetOFString(DCM_TransferSyntaxUID, xferUID).bad() || xferUID.empty())
        xferUID = DcmXfer(ds->getOriginalXfer()).getXferID();
    DcmXfer xfer(xferUID.c_str());
    copyField(info->transfer_syntax_uid, xferUID);
    copyField(info->transfer_syntax_name, OFString(xfer.getXfer() == EXS_Unknown ? "unknown transfer syntax" : xfer.getXferName()));

    info->rows = requiredUS(ds, DCM_Rows, "Rows");
    info->columns = requiredUS(ds, DCM_Columns, "Columns");
    info->samples_per_pixel = optionalUS(ds, DCM_SamplesPerPixel, 1);
    info->bits_allocated = requiredUS(ds, DCM_BitsAllocated, "BitsAllocated");
    info->bits_stored = optionalUS(ds, DCM_BitsStored, info->bits_allocated);
    info->high_bit = optionalUS(ds, DCM_HighBit, info->bits_stored - 1);
    info->pixel_representation = optionalUS(ds, DCM_PixelRepresentation, 0);
    Sint32 frames = 1;
    if (ds->tagExistsWithValue(DCM_NumberOfFrames) && ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad())
        throw Failure{1, "NumberOfFrames unreadable"};
    info->frames = frames;
    copyField(info->photometric, text(ds, DCM_PhotometricInterpretation));
    copyField(info->sop_instance_uid, text(ds, DCM_SOPInstanceUID));
    copyField(info->series_instance_uid, text(ds, DCM_SeriesInstanceUID));
    copyField(info->rescale_slope, text(ds, DCM_RescaleSlope));
    copyField(info->rescale_intercept, text(ds, DCM_RescaleIntercept));
    copyField(info->window_center, text(ds, DCM_WindowCenter));
    copyField(info->window_width, text(ds, DCM_WindowWidth));
    copyField(info->pixel_spacing, text(ds, DCM_PixelSpacing, true));

    const int32_t ba = info->bits_allocated, bs = info->bits_stored, hb = info->high_bit;
    if (info->rows <= 0 || info->columns <= 0) throw Failure{1, "zero-size image (Rows or Columns is 0)"};
    if (frames <= 0) throw Failure{1, "NumberOfFrames is " + std::to_string(frames)};
    if (info->samples_per_pixel != 1)
        throw Failure{3, "colour DICOM (SamplesPerPixel " + std::to_string(info->samples_per_pixel) + ") is not read; CT slices are greyscale"};
    std::string photometric = info->photometric;
    if (photometric != "MONOCHROME1" && photometric != "MONOCHROME2")
        throw Failure{3, "PhotometricInterpretation '" + photometric + "' is not read (MONOCHROME1 or MONOCHROME2 only)"};
    if (ba != 8 && ba != 16) throw Failure{3, "BitsAllocated " + std::to_string(ba) + " is not read (8 or 16 only)"};
    if (bs < 1 || bs > ba || hb < bs - 1 || hb >= ba)
        throw Failure{1, "inconsistent BitsAllocated/BitsStored/HighBit " + std::to_string(ba) + "/" + std::to_string(bs) + "/" + std::to_string(hb)};
    if (info->pixel_representation != 0 && info->pixel_representation != 1)
        throw Failure{1, "PixelRepresentation " + std::to_string(info->pixel_representation) + " (0 or 1 only)"};

    const uint64_t pixels = uint64_t(info->rows) * uint64_t(info->columns);
    const uint64_t total = pixels * uint64_t(frames) * uint64_t(ba / 8);
    if (maxPixels != 0 && pixels > maxPixels)
        throw Failure{2, std::to_string(info->columns) + "x" + std::to_string(info->rows) + " = " + std::to_string(pixels) +
                         " pixels, over the cap of " + std::to_string(maxPixels)};
    if (maxBytes != 0 && total > maxBytes)
        throw Failure{2, std::to_string(frames) + " frames of " + std::to_string(info->columns) + "x" + std::to_string(info->rows) +
                         " need " + std::to_string(total) + " bytes, over the cap of " + std::to_string(maxBytes)};

    DcmElement *pad = nullptr;
    if (ds->findAndGetElement(DCM_PixelPaddingValue, pad).good() && pad != nullptr && pad->getVM() >= 1) {
        Uint16 u = 0;
        Sint16 s = 0;
        if (pad->getUint16(u).good()) info->padding_value = info->pixel_representation == 1 ? int32_t(int16_t(u)) : int32_t(u);
        else if (pad->getSint16(s).good()) info->padding_value = s;
        else throw Failure{1, "PixelPaddingValue unreadable (expected US or SS)"};
        info->has_padding_value = 1;
    }
    if (headerOnly) return;
    if (frame < 0 || frame >= frames)
        throw Failure{1, "frame " + std::to_string(frame + 1) + " requested, the file has " + std::to_string(frames)};

    if (xfer.isEncapsulated()) {
        OFCondition d = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (d.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
            // No codec for the syntax: refused as a variant we do not read. A codec that fails: corrupt data.
            const bool noCodec = xfer.getXfer() == EXS_Unknown || d.good() || d == EC_CannotChangeRepresentation;
            std::string why = std::string("transfer syntax ") + xferUID.c_str() + " (" + info->transfer_syntax_name + ") is not decoded";
            const std::string uid = xferUID.c_str();
            if (!noCodec) why += std::string(": ") + d.text();
            else if (uid.rfind("1.2.840.10008.1.2.4.9", 0) == 0 || uid.rfind("1.2.840.10008.1.2.4.20", 0) == 0)
                why += ": the free DCMTK has no JPEG 2000 codec; convert the file to an uncompressed or JPEG-LS transfer syntax first";
            else
                why += " (read: uncompressed, deflated, RLE, JPEG and JPEG-LS)";
            throw Failure{noCodec ? 3 : 1, why};
        }
    }
    DcmElement *data = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, data).bad() || data == nullptr) throw Failure{1, "no Pixel Data"};
    const uint64_t have = data->getLength();
    if (have < total)
        throw Failure{1, "Pixel Data holds " + std::to_string(have) + " bytes, " + std::to_string(frames) + " frames of " +
                         std::to_string(info->columns) + "x" + std::to_string(info->rows) + " at " + std::to_string(ba) +
                         " bits need " + std::to_string(total)};

    int32_t *values = static_cast<int32_t *>(std::malloc(size_t(pixels) * sizeof(int32_t)));
    if (values == nullptr) throw Failure{2, "out of memory for " + std::to_string(pixels) + " pixels"};
    const int shift = hb + 1 - bs;
    const uint32_t mask = bs >= 32 ? 0xFFFFFFFFu : ((1u << bs) - 1u);
    const bool sign = info->pixel_representation == 1;
    const uint32_t signBit = 1u << (bs - 1);
    auto store = [&](uint64_t i, uint32_t raw) {
        uint32_t v = (raw >> shift) & mask;
        values[i] = sign && (v & signBit) ? int32_t(int64_t(v) - (int64_t(1) << bs)) : int32_t(v);
    };
    const uint64_t start = uint64_t(frame) * pixels;
    if (ba == 16) {
        Uint16 *words = nullptr;
        if (data->getUint16Array(words).bad() || words == nullptr) {
            std::free(values);
            throw Failure{1, "Pixel Data unreadable as 16-bit words"};
        }
        for (uint64_t i = 0; i < pixels; ++i) store(i, words[start + i]);
    } else {
        Uint8 *b = nullptr;
        if (data->getUint8Array(b).bad() || b == nullptr) {
            std::free(values);
            throw Failure{1, "Pixel Data unreadable as bytes"};
        }
        for (uint64_t i = 0; i < pixels; ++i) store(i, b[start + i]);
    }
    *out = values;
}

} // namespace

extern "C" int camaudit_dicom_read(const uint8_t *bytes, size_t length, int32_t frame, int32_t header_only,
                                   uint64_t max_pixels, uint64_t max_bytes,
                                   camaudit_dicom_info *info, int32_t **out,
                                   char *message, size_t message_capacity) {
    *out = nullptr;
    std::memset(info, 0, sizeof *info);
    if (message_capacity > 0) message[0] = 0;
    try {
        initialise();
        read(bytes, length, frame, header_only != 0, max_pixels, max_bytes, info, out);
        return 0;
    } catch (const Failure &f) {
        copy(message, message_capacity, f.text);
        return f.code;
    } catch (const std::bad_alloc &) {
        copy(message, message_capacity, "out of memory");
        return 2;
    } catch (const std::exception &e) {
        copy(message, message_capacity, std::string("DICOM decoder failed: ") + e.what());
        return 1;
    } catch (...) {
        copy(message, message_capacity, "DICOM decoder failed");
        return 1;
    }
}

extern "C" void camaudit_dicom_free(int32_t *values) { std::free(values); }
