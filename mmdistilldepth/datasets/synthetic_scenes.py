"""The synthetic world: procedural 3D scenes ray-cast into RGB and exact metric depth.

No dataset can be downloaded on a fresh machine, so the embedded default trains and
validates on scenes rendered here. A scene is a room (an inside-out box) or a street
(ground, two rows of facades, open sky) furnished with boxes, spheres and vertical
cylinders, each with a procedural texture, under a directional light, seen through
haze (aerial perspective: colours fade towards the air's colour with distance, as
outdoors). A pinhole camera with random intrinsics and pose looks into it. Every ray is intersected with
every surface at once (vectorized numpy, no loop over pixels), so a 256x256 scene
renders in a few milliseconds.

Depth is the z-depth in the camera frame (metres), as depth datasets store it; sky
pixels have depth 0 and are invalid.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from mmdistilldepth.registry import DATASETS

_INF = np.float32(np.inf)
_EPS = 1e-4

#: Bumped whenever ``render_scene``'s output changes, so that synthetic sets written
#: by an older renderer are recognised as stale (see ``SyntheticNYUv2``).
RENDERER_VERSION = 2


class _Hits:
    """The nearest hit so far for every ray: distance, normal and surface id.

    Normals are computed only for the rays whose nearest surface changes, by a
    callback on their indices, not for every ray of every surface.
    """

    def __init__(self, n: int) -> None:
        self.t = np.full(n, _INF, dtype=np.float32)
        self.normal = np.zeros((n, 3), dtype=np.float32)
        self.surface = np.full(n, -1, dtype=np.int32)

    def update(self, t: np.ndarray, surface: int,
               normal_of: Callable[[np.ndarray], np.ndarray]) -> None:
        closer = np.flatnonzero((t > _EPS) & (t < self.t))
        if closer.size:
            self.t[closer] = t[closer]
            self.surface[closer] = surface
            self.normal[closer] = normal_of(closer)


def _slab(origin: np.ndarray, dirs_t: np.ndarray, lo: np.ndarray, hi: np.ndarray
          ) -> Tuple[np.ndarray, np.ndarray]:
    """Ray/axis-aligned-box slab test: per-axis entry and exit distances, (3, N) each.

    Directions come axis-major, ``dirs_t`` (3, N), so the per-ray reductions over
    the three axes are contiguous element-wise operations. A ray lying in a slab's
    boundary plane gives 0 * inf = NaN there; that axis is then ignored (entry -inf,
    exit +inf).
    """
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / dirs_t
        t1 = (lo - origin)[:, None] * inv
        t2 = (hi - origin)[:, None] * inv
    t_min = np.minimum(t1, t2)
    t_max = np.maximum(t1, t2)
    for values, fill in ((t_min, -_INF), (t_max, _INF)):
        nan = np.isnan(values)
        if nan.any():
            values[nan] = fill
    return t_min, t_max


def _axis_normal(axis: np.ndarray, dirs: np.ndarray, facing: float) -> np.ndarray:
    """Unit normals along ``axis`` pointing against the ray (facing=-1) or with it."""
    normal = np.zeros_like(dirs)
    rows = np.arange(len(dirs))
    normal[rows, axis] = facing * np.sign(dirs[rows, axis])
    return normal


def _hit_box(origin, dirs, center, half, yaw, hits: _Hits, surface: int) -> None:
    """A box rotated by ``yaw`` about the vertical axis."""
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float32)  # world->box
    o = rot @ (origin - center)
    d = dirs @ rot.T
    t_min, t_max = _slab(o, np.ascontiguousarray(d.T), -half, half)
    t_near = np.maximum(np.maximum(t_min[0], t_min[1]), t_min[2])
    t_far = np.minimum(np.minimum(t_max[0], t_max[1]), t_max[2])
    t = np.where((t_near <= t_far) & (t_near > _EPS), t_near, _INF)
    hits.update(t, surface,
                lambda i: _axis_normal(t_min[:, i].argmax(0), d[i], -1.0) @ rot)


def _hit_sphere(origin, dirs, center, radius, hits: _Hits, surface: int) -> None:
    oc = origin - center
    a = (dirs * dirs).sum(1)
    b = dirs @ oc
    disc = b * b - a * (oc @ oc - radius * radius)
    with np.errstate(invalid='ignore'):
        t = (-b - np.sqrt(disc)) / a
    t = np.where(disc > 0, t, _INF)
    hits.update(t, surface, lambda i: (origin + dirs[i] * t[i][:, None] - center) / radius)


def _hit_cylinder(origin, dirs, center, radius, height, hits: _Hits, surface: int) -> None:
    """A vertical cylinder standing on ``center`` (its base), with a top cap."""
    ox, oz = origin[0] - center[0], origin[2] - center[2]
    a = dirs[:, 0] ** 2 + dirs[:, 2] ** 2
    b = ox * dirs[:, 0] + oz * dirs[:, 2]
    disc = b * b - a * (ox * ox + oz * oz - radius * radius)
    with np.errstate(invalid='ignore', divide='ignore'):
        t_side = (-b - np.sqrt(disc)) / a
    y = origin[1] + t_side * dirs[:, 1]
    t_side = np.where((disc > 0) & (y >= center[1]) & (y <= center[1] + height), t_side, _INF)

    def side_normal(i):
        p = origin + dirs[i] * t_side[i][:, None]
        return np.stack([p[:, 0] - center[0], np.zeros(len(i), np.float32),
                         p[:, 2] - center[2]], 1) / radius
    hits.update(t_side, surface, side_normal)
    with np.errstate(divide='ignore', invalid='ignore'):
        t_cap = (center[1] + height - origin[1]) / dirs[:, 1]
    px = origin[0] + t_cap * dirs[:, 0] - center[0]
    pz = origin[2] + t_cap * dirs[:, 2] - center[2]
    t_cap = np.where(px * px + pz * pz <= radius * radius, t_cap, _INF)
    hits.update(np.nan_to_num(t_cap, nan=_INF, posinf=_INF, neginf=-_INF), surface,
                lambda i: np.tile(np.float32([0, 1, 0]), (len(i), 1)))


def _hit_plane_y(origin, dirs, y0, hits: _Hits, surface: int) -> None:
    """The horizontal plane y = y0 (the street's ground)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (y0 - origin[1]) / dirs[:, 1]
    up = np.float32([0, np.sign(origin[1] - y0), 0])
    hits.update(np.nan_to_num(t, nan=_INF, posinf=_INF, neginf=-_INF), surface,
                lambda i: np.tile(up, (len(i), 1)))


def _texture(kind: int, points: np.ndarray, params: np.ndarray) -> np.ndarray:
    """A procedural scalar pattern in [0, 1] at world ``points`` (N, 3)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    f = params[0]
    if kind == 0:  # checker
        # the offsets keep surfaces at integer coordinates off the cell borders
        v = (np.floor(x * f + params[1]) + np.floor(y * f + 0.37)
             + np.floor(z * f + params[2])) % 2
        return 0.35 + 0.65 * v
    if kind == 1:  # stripes
        return 0.5 + 0.5 * np.sin((x * params[1] + y * params[2] + z) * f * 2.5)
    # smooth blotches: a sum of a few incommensurate sinusoids
    v = (np.sin(x * f * 3.1 + params[1]) * np.sin(z * f * 2.3 + params[2])
         + 0.5 * np.sin((x + y) * f * 7.7) + 0.3 * np.sin((y - z) * f * 11.3))
    return 0.5 + 0.25 * v


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Camera-to-world rotation: yaw anywhere, a gentle pitch and roll."""
    yaw = rng.uniform(-math.pi, math.pi)
    pitch = rng.uniform(-0.25, 0.15)
    roll = rng.uniform(-0.06, 0.06)
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch),
                              math.sin(pitch), math.cos(roll), math.sin(roll))
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    # camera axes: x right, y down, z forward; the world has y up
    flip = np.diag([1.0, -1.0, 1.0])
    return (r_yaw @ r_pitch @ r_roll @ flip).astype(np.float32)


def _furnish(rng: np.random.Generator, extent: Tuple[float, float, float, float],
             cam: np.ndarray, forward: np.ndarray, count: int) -> List[dict]:
    """Random boxes, spheres and cylinders standing on the ground, mostly in view."""
    x0, x1, z0, z1 = extent
    heading = math.atan2(forward[0], forward[2])
    objects = []
    for _ in range(count * 20):
        if len(objects) == count:
            break
        angle = heading + rng.uniform(-0.6, 0.6)
        dist = rng.uniform(1.5, 9.0)
        pos = np.array([cam[0] + dist * math.sin(angle), 0.0, cam[2] + dist * math.cos(angle)],
                       dtype=np.float32)
        if not (x0 + 0.3 < pos[0] < x1 - 0.3 and z0 + 0.3 < pos[2] < z1 - 0.3):
            continue
        kind = ('box', 'sphere', 'cylinder')[int(rng.integers(3))]
        size = rng.uniform(0.2, 0.8)
        if kind == 'box':
            half = np.array([size, rng.uniform(0.2, 1.2), rng.uniform(0.2, 0.8)], dtype=np.float32)
            objects.append(dict(kind='box', center=pos + [0, half[1], 0], half=half,
                                yaw=rng.uniform(0, math.pi)))
        elif kind == 'sphere':
            lift = rng.uniform(0, 1.0)
            objects.append(dict(kind='sphere', center=pos + [0, size + lift, 0], radius=size))
        else:
            objects.append(dict(kind='cylinder', center=pos, radius=size * 0.5,
                                height=rng.uniform(0.4, 2.5)))
    return objects


def render_scene(seed: int, index: int, height: int = 256, width: int = 256,
                 kind: str = 'mixed', haze: bool = True) -> Dict[str, np.ndarray]:
    """Render one procedural scene; the same (seed, index) always gives the same scene.

    Args:
        seed (int): seed of the scene family.
        index (int): the scene's index within the family.
        height (int): image height in pixels.
        width (int): image width in pixels.
        kind (str): ``'room'``, ``'street'`` or ``'mixed'`` (room or street drawn
            from the seed).
        haze (bool): aerial perspective. Each surface colour ``c`` at distance ``r``
            is seen as ``c * T + air * (1 - T)``, ``T = exp(-r / visibility)``, with
            a visibility of 4-10 m in rooms and 20-60 m in streets, drawn per scene
            (the air is the sky's colour outdoors, a light grey indoors). It is the
            world's only per-pixel depth cue that a tiny student trained from
            scratch for a few minutes can pick up (without it such a student learns
            the scene layout and little else; docs/get_started.md has the numbers).
            Its random draws come last, so the geometry, textures and depth do not
            depend on it.

    Returns:
        dict: ``img`` uint8 (H, W, 3) RGB; ``depth`` float32 (H, W), z-depth in
        metres, 0 where invalid; ``valid`` bool (H, W), False on the sky;
        ``intrinsics`` float32 (3, 3).
    """
    rng = np.random.default_rng([int(seed), int(index)])
    if kind == 'mixed':
        kind = 'room' if rng.random() < 0.5 else 'street'
    if kind not in ('room', 'street'):
        raise ValueError(f"render_scene: kind must be 'room', 'street' or 'mixed', got {kind!r}")

    fov = math.radians(rng.uniform(50, 80))
    fx = 0.5 * width / math.tan(fov / 2)
    fy = fx * rng.uniform(0.97, 1.03)
    cx = width / 2 + rng.uniform(-0.03, 0.03) * width
    cy = height / 2 + rng.uniform(-0.03, 0.03) * height
    intrinsics = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)

    u, v = np.meshgrid(np.arange(width, dtype=np.float32) + 0.5,
                       np.arange(height, dtype=np.float32) + 0.5)
    dirs_cam = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1).reshape(-1, 3)
    cam_to_world = _random_rotation(rng)
    dirs = dirs_cam @ cam_to_world.T  # unnormalized: t along it is the z-depth

    hits = _Hits(len(dirs))
    if kind == 'room':
        sx, sz, sy = rng.uniform(3, 8), rng.uniform(3, 10), rng.uniform(2.4, 3.5)
        lo = np.array([-sx / 2, 0, -sz / 2], dtype=np.float32)
        hi = np.array([sx / 2, sy, sz / 2], dtype=np.float32)
        cam = np.array([rng.uniform(-sx / 4, sx / 4), rng.uniform(1.1, 1.8),
                        rng.uniform(-sz / 4, sz / 4)], dtype=np.float32)
        t_max = _slab(cam, np.ascontiguousarray(dirs.T), lo, hi)[1]
        far_axis = t_max.argmin(0)
        t_far = np.minimum(np.minimum(t_max[0], t_max[1]), t_max[2])
        # surfaces 0..5: the six walls (floor = 2 for axis 1 going down)
        wall = far_axis * 2 + (np.take_along_axis(dirs, far_axis[:, None], 1)[:, 0] > 0)
        normal = _axis_normal(far_axis, dirs, -1.0)
        hits.t[:] = t_far
        hits.normal[:] = normal
        hits.surface[:] = wall
        extent = (lo[0], hi[0], lo[2], hi[2])
        num_shell = 6
    else:
        half_w = rng.uniform(4, 9)
        cam = np.array([rng.uniform(-half_w / 3, half_w / 3), rng.uniform(1.3, 2.5), 0],
                       dtype=np.float32)
        _hit_plane_y(cam, dirs, 0.0, hits, 0)
        facade_h = rng.uniform(6, 20)
        for side, surface in ((-1, 1), (1, 2)):
            center = np.array([side * (half_w + 5), facade_h / 2, 0], dtype=np.float32)
            half = np.array([5, facade_h / 2, 80], dtype=np.float32)
            _hit_box(cam, dirs, center, half, 0.0, hits, surface)
        extent = (-half_w, half_w, -25, 25)
        num_shell = 3
        # beyond 80 m the street fades into fog: treat as sky (invalid)
        hits.t[hits.t > 80] = _INF

    objects = _furnish(rng, extent, cam, cam_to_world[:, 2], int(rng.integers(3, 9)))
    for i, obj in enumerate(objects):
        surface = num_shell + i
        if obj['kind'] == 'box':
            _hit_box(cam, dirs, obj['center'], obj['half'], obj['yaw'], hits, surface)
        elif obj['kind'] == 'sphere':
            _hit_sphere(cam, dirs, obj['center'], obj['radius'], hits, surface)
        else:
            _hit_cylinder(cam, dirs, obj['center'], obj['radius'], obj['height'], hits, surface)

    num_surfaces = num_shell + len(objects)
    colors = rng.uniform(0.15, 0.95, size=(num_surfaces, 3)).astype(np.float32)
    patterns = rng.integers(0, 3, size=num_surfaces)
    params = np.stack([rng.uniform(0.5, 3.0, num_surfaces), rng.uniform(-1, 1, num_surfaces),
                       rng.uniform(-1, 1, num_surfaces)], 1).astype(np.float32)

    valid = np.isfinite(hits.t)
    rgb = np.empty((len(dirs), 3), dtype=np.float32)
    sky = np.array([0.55, 0.7, 0.95], dtype=np.float32) * rng.uniform(0.8, 1.1)
    rgb[:] = sky * (1 - 0.3 * np.clip(-dirs[:, 1:2] / np.linalg.norm(dirs, axis=1, keepdims=True), 0, 1))
    points = cam + dirs * np.where(valid, hits.t, 0)[:, None]
    light = np.array([rng.uniform(-0.6, 0.6), 1.0, rng.uniform(-0.6, 0.6)], dtype=np.float32)
    light /= np.linalg.norm(light)
    lambert = np.clip(hits.normal @ light, 0, 1)
    # a soft fall-off with distance, as from fog or a room light
    falloff = 1.0 / (1.0 + 0.01 * np.where(valid, hits.t, 0))
    for surface in range(num_surfaces):
        sel = valid & (hits.surface == surface)
        if sel.any():
            pattern = _texture(int(patterns[surface]), points[sel], params[surface])
            shade = (0.35 + 0.65 * lambert[sel]) * falloff[sel]
            rgb[sel] = colors[surface] * (pattern * shade)[:, None]
    visibility = rng.uniform(4, 10) if kind == 'room' else rng.uniform(20, 60)
    air = sky if kind == 'street' else np.full(3, rng.uniform(0.55, 0.85), np.float32)
    if haze:
        distance = np.where(valid, hits.t, 0) * np.linalg.norm(dirs, axis=1)
        transmission = np.exp(-distance / np.float32(visibility))[valid, None]
        rgb[valid] = rgb[valid] * transmission + air * (1 - transmission)
    img = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)
    depth = np.where(valid, hits.t, 0).astype(np.float32).reshape(height, width)
    return dict(img=img, depth=depth, valid=valid.reshape(height, width),
                intrinsics=intrinsics)


@DATASETS.register_module()
class SyntheticScenes(BaseDataset):
    """Procedural scenes rendered on the fly; the embedded default training set.

    A sample is ``dict(img=uint8 (H, W, 3) RGB, gt_depth=float32 (H, W) metres,
    gt_valid_mask=bool (H, W), img_path='synthetic://<seed>/<index>')`` before the
    pipeline. The same (seed, index) always gives the same sample, so a resumed run
    sees exactly the data an uninterrupted one would.

    Args:
        num_samples (int): the dataset's length.
        height (int): rendered height.
        width (int): rendered width.
        seed (int): scene family seed; train and validation use different seeds.
        kind (str): ``'room'``, ``'street'`` or ``'mixed'``.
        haze (bool): aerial perspective (see :func:`render_scene`).
        pipeline (list): transforms applied to each sample.
    """

    METAINFO = dict(benchmark='synthetic')

    def __init__(self, num_samples: int = 1000, height: int = 256, width: int = 256,
                 seed: int = 0, kind: str = 'mixed', haze: bool = True, pipeline=(),
                 **kwargs) -> None:
        self.num_samples = num_samples
        self.height, self.width = height, width
        self.seed, self.kind, self.haze = seed, kind, haze
        super().__init__(data_root='', pipeline=list(pipeline), serialize_data=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(sample_idx=i) for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        scene = render_scene(self.seed, info['sample_idx'], self.height, self.width, self.kind,
                             self.haze)
        info.update(img=scene['img'], gt_depth=scene['depth'], gt_valid_mask=scene['valid'],
                    img_path=f"synthetic://{self.seed}/{info['sample_idx']}",
                    ori_shape=(self.height, self.width))
        return info
