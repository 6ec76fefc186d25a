#!/usr/bin/env python3
"""Writes the small DICOM fixtures ImagingTests read: Tests/Fixtures/dicom/.

Each NAME.dcm is written by pydicom; NAME.hu.npy (float64, [H,W] or [frames,H,W]) is what pydicom's
`apply_modality_lut(ds.pixel_array, ds)` gives for it: the Hounsfield units camaudit must reproduce
exactly. NAME.stored.npy (int32) holds the stored values the file was built from, after masking
(so a reader that keeps the garbage high bits fails against it).
Regenerate with:  python3 scripts/gen_dicom_fixtures.py   (pip install pydicom numpy; pyjpegls adds
the JPEG-LS fixture when it installs).
Version 1.
"""
import os

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEGLSLossless,
                         JPEG2000Lossless, CTImageStorage)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "dicom")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(30)
ROOT = "1.2.826.0.1.3680043.10.1030"  # fixed UIDs: the files are byte-identical on every run


def phantom(h, w, lo, hi):
    """A disc of 'tissue' on 'air', plus noise: values that span the range like a CT slice."""
    y, x = np.mgrid[0:h, 0:w]
    disc = (y - h / 2) ** 2 + (x - w / 2) ** 2 < (min(h, w) * 0.35) ** 2
    base = np.where(disc, hi - (hi - lo) // 4, lo + (hi - lo) // 8)
    return (base + rng.integers(-(hi - lo) // 16, (hi - lo) // 16 + 1, size=(h, w))).clip(lo, hi)


INSTANCES = {}


def dataset(name, stored, *, signed, bits_stored=16, high_bit=None, slope="1", intercept="-1024",
            photometric="MONOCHROME2", syntax=ExplicitVRLittleEndian, series=1, window=("40", "400"),
            padding=None, spacing=("0.703125", "0.703125"), raw=None):
    frames = stored.shape[0] if stored.ndim == 3 else 1
    instance = INSTANCES.setdefault(name, len(INSTANCES) + 1)
    h, w = stored.shape[-2:]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = f"{ROOT}.{series}.{instance}"
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = f"{ROOT}.0"
    ds.SeriesInstanceUID = f"{ROOT}.{series}"
    ds.Modality = "CT"
    ds.PatientName = "Phantom^" + name
    ds.InstanceNumber = instance
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = h, w
    if frames > 1 or stored.ndim == 3:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1 if high_bit is None else high_bit
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.RescaleType = "HU"
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if spacing:
        ds.PixelSpacing = list(spacing)
    if padding is not None:
        ds.add_new(0x00280120, "SS" if signed else "US", padding)
    words = (raw if raw is not None else stored).astype(np.int16 if signed else np.uint16)
    if syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds.PixelData = words.tobytes()
    else:
        ds.PixelData = words.tobytes()
        ds["PixelData"].VR = "OW"
        ds.compress(syntax, words, encoding_plugin="pydicom" if syntax == RLELossless else "", generate_instance_uid=False)
    return ds


def write(name, ds, stored):
    path = os.path.join(OUT, name + ".dcm")
    ds.save_as(path, enforce_file_format=True)
    back = pydicom.dcmread(path)
    arr = back.pixel_array
    # pydicom masks bits above BitsStored and sign-extends: it must give the intended stored values.
    assert np.array_equal(arr.astype(np.int64), stored.astype(np.int64)), name
    hu = apply_modality_lut(arr, back).astype(np.float64)
    np.save(os.path.join(OUT, name + ".hu.npy"), hu)
    np.save(os.path.join(OUT, name + ".stored.npy"), stored.astype(np.int32))
    return path


H = W = 32
written = []
# "HU + 1024" unsigned storage, explicit VR: the common case.
u = phantom(H, W, 0, 2400)
written.append(write("unsigned_explicit", dataset("unsigned_explicit", u, signed=False), u))
# Signed storage, implicit VR, intercept 0.
s = phantom(H, W, -1024, 1400)
written.append(write("signed_implicit", dataset("signed_implicit", s, signed=True, intercept="0", syntax=ImplicitVRLittleEndian), s))
# A slope and intercept that are not dyadic: HU must follow numpy's float64 multiply-then-add.
written.append(write("slope_intercept", dataset("slope_intercept", u, signed=False, slope="0.7", intercept="-1023.3"), u))
# 12 bits stored in 16, signed, with garbage in the 4 high bits.
s12 = phantom(H, W, -2048, 2047)
garbage = (s12.astype(np.int64) & 0x0FFF) | (rng.integers(0, 16, size=(H, W)) << 12)
written.append(write("signed12_garbage", dataset("signed12_garbage", s12, signed=True, bits_stored=12, intercept="-24",
                                                raw=garbage.astype(np.uint16).view(np.int16)), s12))
# 12 bits stored in 16, unsigned, garbage above them too.
u12 = phantom(H, W, 0, 4095)
garbage = u12.astype(np.int64) | (rng.integers(0, 16, size=(H, W)) << 12)
written.append(write("unsigned12_garbage", dataset("unsigned12_garbage", u12, signed=False, bits_stored=12,
                                                  raw=garbage.astype(np.uint16)), u12))
# MONOCHROME1: same values, shown inverted.
written.append(write("monochrome1", dataset("monochrome1", s, signed=True, intercept="0", photometric="MONOCHROME1"), s))
# Padding outside a circular field of view (stored -2000: HU -2000 would be darker than air).
p = s.copy()
yy, xx = np.mgrid[0:H, 0:W]
p[(yy - H / 2 + 0.5) ** 2 + (xx - W / 2 + 0.5) ** 2 > (H / 2) ** 2] = -2000
written.append(write("padding", dataset("padding", p, signed=True, intercept="0", padding=-2000), p))
# Three frames in one file.
mf = np.stack([phantom(16, 16, 0, 2400) for _ in range(3)])
written.append(write("multiframe", dataset("multiframe", mf, signed=False, series=2), mf))
# RLE Lossless, encoded by pydicom itself.
written.append(write("rle", dataset("rle", s, signed=True, intercept="0", syntax=RLELossless, series=3), s))
# JPEG-LS lossless, when an encoder is installed.
try:
    import jpeg_ls  # noqa: F401  (pyjpegls)
    written.append(write("jpegls", dataset("jpegls", u, signed=False, syntax=JPEGLSLossless, series=4), u))
except ImportError:
    print("pyjpegls not installed: no JPEG-LS fixture")

# A JPEG 2000 file is refused by its transfer syntax alone: an unencoded stand-in is enough.
j2k = dataset("jpeg2000", u, signed=False)
j2k.file_meta.TransferSyntaxUID = JPEG2000Lossless
j2k.PixelData = pydicom.encaps.encapsulate([u.astype(np.uint16).tobytes()])
j2k["PixelData"].VR = "OB"
j2k.save_as(os.path.join(OUT, "refused_jpeg2000.dcm"), enforce_file_format=True)

# Hostile headers: 65535x65535 with 32x32 of data; Rows written with a wrong VR.
huge = dataset("huge", u, signed=False)
huge.Rows = huge.Columns = 65535
huge.save_as(os.path.join(OUT, "hostile_huge.dcm"), enforce_file_format=True)
wrong = dataset("wrong_vr", u, signed=False)
del wrong.Rows
wrong.add_new(0x00280010, "DS", "32")
wrong.save_as(os.path.join(OUT, "hostile_wrong_vr.dcm"), enforce_file_format=True)

for p in written:
    print(os.path.relpath(p, OUT), os.path.getsize(p), "bytes")
