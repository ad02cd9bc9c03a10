"""Reading images and depth files the same way everywhere, with clear errors.

:func:`read_rgb` is the one image reader of the package: the datasets, the loading
transforms, ``apis.inference_depth`` and ``tools/infer.py`` all call it, so an image
is decoded identically in training, evaluation and inference.
"""

from __future__ import annotations

import os
import re

import cv2
import numpy as np

_JPEG_SOI = b'\xff\xd8'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: A marker inside JPEG entropy-coded data: FF followed by a byte that is neither 00
#: (a stuffed FF) nor a restart marker D0..D7 (FF FF is fill before a marker).
_JPEG_MARKER_IN_SCAN = re.compile(rb'\xff[^\x00\xd0-\xd7]')
#: JPEG markers without a length field.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])


class UnreadableFileError(ValueError):
    """A file that cannot be used, with the path and the reason in the message."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f'{path}: {reason}')


def _jpeg_truncation(raw: bytes) -> str:
    """Walk the JPEG segments to the end-of-image marker of the (first) image."""
    pos, size = 2, len(raw)
    while True:
        pos = raw.find(b'\xff', pos)  # lenient, as libjpeg: skip stray bytes
        while 0 <= pos < size - 1 and raw[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos < 0 or pos >= size - 1:
            return 'truncated JPEG (it ends before its end-of-image marker)'
        marker = raw[pos + 1]
        if marker == 0xD9:
            return ''
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return 'truncated JPEG (it ends inside a segment header)'
        end = pos + 2 + int.from_bytes(raw[pos + 2 : pos + 4], 'big')
        if end > size:
            return 'truncated JPEG (it ends inside a segment)'
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _JPEG_MARKER_IN_SCAN.search(raw, end)
            if found is None:
                return 'truncated JPEG (it ends inside the image data)'
            end = found.start()
        pos = end


def _png_truncation(raw: bytes) -> str:
    """Walk the PNG chunks (length, type, data, CRC) to the IEND chunk."""
    pos, size = len(_PNG_SIGNATURE), len(raw)
    while pos + 8 <= size:
        length = int.from_bytes(raw[pos : pos + 4], 'big')
        if raw[pos + 4 : pos + 8] == b'IEND':
            return ''
        pos += 12 + length
    return 'truncated PNG (it ends before its IEND chunk)'


def truncation_reason(data) -> str:
    """Why the bytes of a JPEG or PNG file are incomplete, or '' when they look whole.

    Decoders differ on truncated files: libjpeg (behind some OpenCV builds) fills
    the missing rows with grey and only prints "Premature end of JPEG file". A
    half-grey image is worse than a skipped one, so the structure is checked first:

    - JPEG: the segments are walked (lengths; entropy-coded data up to the next
      marker) to the end-of-image marker ``FF D9``. Data appended after it (motion
      photos, MPO) is allowed; embedded thumbnails are skipped with their segment;
    - PNG: the chunks are walked to the ``IEND`` chunk.

    Other formats return '' (their decoder's verdict is used).

    Args:
        data (bytes | ndarray): the file's bytes.
    """
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw.startswith(_JPEG_SOI):
        return _jpeg_truncation(raw)
    if raw.startswith(_PNG_SIGNATURE):
        return _png_truncation(raw)
    return ''


def _read_bytes(path: str, what: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise UnreadableFileError(path, f'no such {what}')
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise UnreadableFileError(path, f'cannot read the {what} ({exc.strerror or exc})') from None
    if data.size == 0:
        raise UnreadableFileError(path, 'the file is empty (0 bytes)')
    reason = truncation_reason(data)
    if reason:
        raise UnreadableFileError(path, reason)
    return data


def _decode(data: np.ndarray, flags: int, path: str) -> np.ndarray:
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:  # e.g. more pixels than CV_IO_MAX_IMAGE_PIXELS
        raise UnreadableFileError(path, f'OpenCV cannot decode it ({str(exc).strip()})') from None
    if image is None or image.size == 0:
        raise UnreadableFileError(path, 'not a decodable image (corrupt or not an image)')
    return image


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3).

    Any mode is accepted and converted: grayscale (replicated), RGBA (alpha
    dropped), palette, 16-bit (scaled to 8 bits), CMYK JPEG. The EXIF orientation
    of a JPEG is applied, so (H, W) is the image as a viewer shows it. (OpenCV's
    ``IMREAD_COLOR`` does all of this.)

    Raises:
        UnreadableFileError: the file is missing, empty, truncated (JPEG or PNG, see
            :func:`truncation_reason`) or cannot be decoded; the message names the
            file and the reason.
    """
    path = str(path)
    bgr = _decode(_read_bytes(path, 'image file'), cv2.IMREAD_COLOR, path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_png_depth(path: str, scale: float) -> np.ndarray:
    """Read a uint16 depth PNG and divide it by ``scale`` (1000 for mm, 256 for KITTI).

    Returns:
        ndarray: float32 (H, W) in metres; 0 where the file says missing.

    Raises:
        UnreadableFileError: missing, empty, truncated or not a single-channel
            uint16 PNG.
    """
    path = str(path)
    depth = _decode(_read_bytes(path, 'depth file'), cv2.IMREAD_UNCHANGED, path)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise UnreadableFileError(
            path,
            f'expected a single-channel uint16 PNG, got dtype {depth.dtype} '
            f'and shape {depth.shape}',
        )
    return (depth / scale).astype(np.float32)
