"""A corpus of awkward and broken inputs, written by the tests (never committed).

:func:`write_image_corpus` writes images in every mode a web crawl contains, plus
broken files; :data:`IMAGE_CASES` says what each one must give: ``(H, W)`` of the RGB
image a reader returns, or the reason (a substring) it must be refused with.
:func:`write_depth_corpus` writes a small ETH3D-layout benchmark whose ground truth
holds NaN, inf, negative and all-zero maps.
"""

from __future__ import annotations

import io
import os.path as osp
import struct
import zlib
from pathlib import Path
from typing import Dict, Tuple, Union

import cv2
import numpy as np

Expected = Union[Tuple[int, int], str]

#: name -> (H, W) of the decoded RGB image, or a substring of the refusal reason.
IMAGE_CASES: Dict[str, Expected] = {
    'empty.jpg': 'empty (0 bytes)',
    'truncated.jpg': 'truncated JPEG',
    'truncated.png': 'truncated PNG',
    'text_named.png': 'not a decodable image',
    'gray.png': (24, 32),
    'rgba.png': (24, 32),
    'palette.png': (24, 32),
    'sixteen_bit.png': (24, 32),
    'cmyk.jpg': (24, 32),
    'exif_rotated.jpg': (32, 24),  # stored 24x32, EXIF orientation 6 (rotate 90 CW)
    'one_pixel.png': (1, 1),
    'thirteen.png': (13, 13),
    'panorama.jpg': (200, 20000),
    'good.jpg': (24, 32),
}

#: The colour every solid-colour case is filled with (RGB).
FILL_RGB = (200, 40, 90)


def _solid(h: int, w: int) -> np.ndarray:
    return np.broadcast_to(np.array(FILL_RGB, np.uint8), (h, w, 3)).copy()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack('>I', len(data))
        + kind
        + data
        + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit palette PNG (colour type 3) from (H, W) indices and (K, 3) RGB colours."""
    h, w = indices.shape
    raw = b''.join(b'\x00' + row.astype(np.uint8).tobytes() for row in indices)
    return (
        b'\x89PNG\r\n\x1a\n'
        + _png_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 3, 0, 0, 0))
        + _png_chunk(b'PLTE', palette.astype(np.uint8).tobytes())
        + _png_chunk(b'IDAT', zlib.compress(raw))
        + _png_chunk(b'IEND', b'')
    )


def exif_app1(orientation: int) -> bytes:
    """A JPEG APP1 segment holding only the EXIF orientation tag (0x0112)."""
    ifd = struct.pack('<H', 1) + struct.pack('<HHIHH', 0x0112, 3, 1, orientation, 0)
    tiff = b'II*\x00' + struct.pack('<I', 8) + ifd + struct.pack('<I', 0)
    payload = b'Exif\x00\x00' + tiff
    return b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload


def cmyk_jpeg(rgb: np.ndarray) -> bytes:
    """A CMYK JPEG (PIL writes Adobe CMYK; it comes with torchvision)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).convert('CMYK').save(buffer, 'JPEG', quality=95)
    return buffer.getvalue()


def _encode(ext: str, bgr: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(ext, bgr, list(params))
    assert ok, ext
    return data.tobytes()


def exif_rotated_rgb() -> np.ndarray:
    """The stored pixels of ``exif_rotated.jpg``: 24x32, a white block top-left."""
    rgb = _solid(24, 32)
    rgb[:8, :8] = 255
    return rgb


def write_image_corpus(root: Union[str, Path]) -> Dict[str, Expected]:
    """Write every file of :data:`IMAGE_CASES` into ``root``; returns IMAGE_CASES."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(_solid(24, 32), cv2.COLOR_RGB2BGR)
    good_jpg = _encode('.jpg', bgr, cv2.IMWRITE_JPEG_QUALITY, 95)
    # truncated inside the image data (where libjpeg would fill in grey rows)
    texture = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    textured_jpg = _encode('.jpg', texture, cv2.IMWRITE_JPEG_QUALITY, 95)
    textured_png = _encode('.png', texture)
    files = {
        'empty.jpg': b'',
        'truncated.jpg': textured_jpg[: len(textured_jpg) * 3 // 4],
        'truncated.png': textured_png[: len(textured_png) * 3 // 4],
        'text_named.png': b'this is a text file, not a PNG\n',
        'gray.png': _encode('.png', np.full((24, 32), 128, np.uint8)),
        'rgba.png': _encode('.png', np.dstack([bgr, np.full((24, 32), 255, np.uint8)])),
        'palette.png': palette_png(np.zeros((24, 32), np.uint8), np.array([FILL_RGB, (0, 0, 0)])),
        'sixteen_bit.png': _encode('.png', bgr.astype(np.uint16) * 257),
        'cmyk.jpg': cmyk_jpeg(_solid(24, 32)),
        'exif_rotated.jpg': None,
        'one_pixel.png': _encode('.png', bgr[:1, :1]),
        'thirteen.png': _encode('.png', bgr[:13, :13]),
        'panorama.jpg': _encode(
            '.jpg', cv2.resize(bgr, (20000, 200), interpolation=cv2.INTER_NEAREST)
        ),
        'good.jpg': good_jpg,
    }
    rotated = _encode(
        '.jpg', cv2.cvtColor(exif_rotated_rgb(), cv2.COLOR_RGB2BGR), cv2.IMWRITE_JPEG_QUALITY, 95
    )
    files['exif_rotated.jpg'] = rotated[:2] + exif_app1(6) + rotated[2:]
    assert set(files) == set(IMAGE_CASES)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return dict(IMAGE_CASES)


#: ETH3D-style ground truth: name -> what the depth map holds.
DEPTH_CASES = ('good', 'with_nan', 'with_inf', 'negative', 'all_zero', 'all_nan')


def depth_map(kind: str, h: int = 24, w: int = 32) -> np.ndarray:
    """A float32 (H, W) depth map in metres, 2..4 m, broken as ``kind`` says."""
    depth = np.linspace(2.0, 4.0, h * w, dtype=np.float32).reshape(h, w)
    if kind == 'with_nan':
        depth[::3] = np.nan
    elif kind == 'with_inf':
        depth[::3] = np.inf
    elif kind == 'negative':
        depth[:] = -depth
    elif kind == 'all_zero':
        depth[:] = 0
    elif kind == 'all_nan':
        depth[:] = np.nan
    return depth


def write_depth_corpus(root: Union[str, Path], h: int = 24, w: int = 32) -> Dict[str, str]:
    """An ETH3D-layout benchmark with one scene per case of :data:`DEPTH_CASES`.

    Returns:
        dict: case -> image path. ETH3D depth is headerless float32 (+inf = missing).
    """
    root = Path(root)
    paths = {}
    for case in DEPTH_CASES:
        rgb = root / 'rgb' / case / 'images' / 'dslr_images' / 'DSC_0001.JPG'
        depth = (
            root
            / 'depth'
            / f'{case}_dslr_depth'
            / case
            / 'ground_truth_depth'
            / 'dslr_images'
            / 'DSC_0001.JPG'
        )
        rgb.parent.mkdir(parents=True, exist_ok=True)
        depth.parent.mkdir(parents=True, exist_ok=True)
        rgb.write_bytes(_encode('.jpg', cv2.cvtColor(_solid(h, w), cv2.COLOR_RGB2BGR)))
        depth_map(case, h, w).astype('<f4').tofile(depth)
        paths[case] = osp.join(str(root), 'rgb', case, 'images', 'dslr_images', 'DSC_0001.JPG')
    return paths
