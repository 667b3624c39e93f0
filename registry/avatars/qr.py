"""Find QR codes in an avatar (zxing-cpp: measured better than OpenCV's detector, README "Avatars")."""

from __future__ import annotations

import numpy as np
import zxingcpp
from PIL import Image

# Codes smaller than this in the image are unreadable to a person too; scanning at this size keeps the
# cost flat whatever the upload's size.
SCAN_SIDE = 768
FORMATS = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode])


def has_qr_code(im: Image.Image) -> bool:
    """Tell whether the image holds a readable QR code (its content is never kept)."""
    grey = im.convert("L")
    if max(grey.size) > SCAN_SIDE:
        grey.thumbnail((SCAN_SIDE, SCAN_SIDE), Image.Resampling.BILINEAR)
    found = zxingcpp.read_barcodes(np.asarray(grey), formats=FORMATS)
    return any(b.valid for b in found)
