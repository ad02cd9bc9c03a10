"""The synthetic world: procedural 3D scenes ray-cast into RGB and exact metric depth.

No dataset can be downloaded on a fresh machine, so the embedded default trains and
validates on scenes rendered here. A scene is a room (an inside-out box) or a street
(ground, two rows of facades, open sky) furnished with boxes, spheres and vertical
cylinders, each with a procedural texture, under a directional light, seen through
haze (aerial perspective: colours fade towards the air's colour with distance, as
outdoors). A pinhole camera with random intrinsics and pose looks into it. Every ray
is intersected with every surface at once (vectorized numpy, no loop over pixels), so
a 256x256 scene renders in about 10 ms on one core
(``tools/analysis/benchmark_synthetic.py``).

Depth is the z-depth in the camera frame (metres), as depth datasets store it; sky
pixels have depth 0 and are invalid.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from mmdistilldepth.registry import DATASETS

_INF = np.float32(np.inf)
_EPS = 1e-4

#: Bumped whenever ``render_scene``'s output changes, so that synthetic sets written
#: by an older renderer are recognised as stale (see ``SyntheticNYUv2``).
RENDERER_VERSION = 2


class _Rays:
    """One scene's ray directions, in the layouts and with the per-ray constants that
    the intersectors share.

    ``dirs`` (N, 3) feeds the matrix products (a product's rounding may depend on its
    operands' layout, so they keep this one); ``axes`` (3, N) holds the same
    directions axis-major, so element-wise work on one component runs over contiguous
    memory. ``norm2`` is the squared length, summed in the order that
    ``(dirs * dirs).sum(1)`` and ``np.linalg.norm(dirs, axis=1)`` use, so that it
    matches them bit for bit. ``inv`` is ``1 / axes``, shared by every unrotated box.
    ``scratch`` holds six (3, N) planes of working space that the boxes reuse one
    after another: fresh image-sized arrays for every box cost more in page faults
    than their arithmetic.
    """

    def __init__(self, dirs: np.ndarray) -> None:
        self.dirs = dirs
        self.axes = np.ascontiguousarray(dirs.T)
        x, y, z = self.axes
        self.norm2 = x * x
        self.norm2 += y * y
        self.norm2 += z * z
        with np.errstate(divide='ignore'):
            self.inv = 1.0 / self.axes
        self.scratch = np.empty((6,) + self.axes.shape, dtype=np.float32)


class _Hits:
    """The nearest hit so far for every ray: distance, normal and surface id.

    Normals are computed only for the rays whose nearest surface changes, by a
    callback on their indices and distances, not for every ray of every surface.
    """

    def __init__(self, n: int) -> None:
        self.t = np.full(n, _INF, dtype=np.float32)
        self.normal = np.zeros((n, 3), dtype=np.float32)
        self.surface = np.full(n, -1, dtype=np.int32)

    def update(
        self,
        t: np.ndarray,
        surface: int,
        normal_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
        rows: Optional[np.ndarray] = None,
    ) -> None:
        """Keep the distances ``t`` (of every ray, or of the rays ``rows`` only) that
        are nearer than the current hits; NaN and infinite ones never are.
        """
        current = self.t if rows is None else self.t[rows]
        pick = np.flatnonzero((t > _EPS) & (t < current))
        if pick.size:
            closer = pick if rows is None else rows[pick]
            t_closer = t[pick]
            self.t[closer] = t_closer
            self.surface[closer] = surface
            self.normal[closer] = normal_of(closer, t_closer)


def _slab(
    origin: np.ndarray,
    inv: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    out: Optional[np.ndarray] = None,
    entry: bool = True,
) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """Ray/axis-aligned-box slab test: per-axis entry and exit distances, (3, N) each.

    Directions come as their reciprocals, axis-major, ``inv`` (3, N), so the per-ray
    reductions over the three axes are contiguous element-wise operations. A ray
    lying in a slab's boundary plane gives 0 * inf = NaN there; that axis is then
    ignored (entry -inf, exit +inf). ``out`` (3, 3, N), if given, is the working space
    (the results are two of its planes, the third is free afterwards). With
    ``entry=False`` only the exit distances are computed (the entry ones come back as
    None).
    """
    if out is None:
        out = np.empty((3,) + inv.shape, dtype=np.float32)
    near, far = lo - origin, hi - origin
    with np.errstate(invalid='ignore'):
        t1 = np.multiply(near[:, None], inv, out=out[0])
        t2 = np.multiply(far[:, None], inv, out=out[1])
    t_min = np.minimum(t1, t2, out=out[2]) if entry else None
    t_max = np.maximum(t1, t2, out=t1)
    # finite directions have no zero reciprocal, so a NaN needs a zero offset
    # (origin on a boundary plane): only those axes need a search
    for axis in np.flatnonzero((near == 0) | (far == 0)):
        for values, fill in ((t_min, -_INF), (t_max, _INF)):
            if values is not None:
                row = values[axis]
                row[np.isnan(row)] = fill
    return t_min, t_max


def _axis_normal(axis: np.ndarray, dirs: np.ndarray, facing: float) -> np.ndarray:
    """Unit normals along ``axis`` pointing against the ray (facing=-1) or with it."""
    normal = np.zeros_like(dirs)
    # flat indices of (row, axis): 1-d indexing is much faster than pairs of indices
    flat = np.arange(0, dirs.size, 3) + axis
    normal.reshape(-1)[flat] = facing * np.sign(dirs.reshape(-1).take(flat))
    return normal


def _hit_box(origin, rays: _Rays, center, half, yaw, hits: _Hits, surface: int) -> None:
    """A box rotated by ``yaw`` about the vertical axis."""
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float32)  # world->box
    o = rot @ (origin - center)
    if yaw == 0:
        # The rotation is the identity, so dirs @ rot.T would give back dirs except
        # perhaps for the sign of a zero component; a ray parallel to a slab misses
        # or spans it whatever that sign, so the scene-wide reciprocals serve.
        d, inv = rays.dirs, rays.inv
    else:
        d = np.matmul(rays.dirs, rot.T, out=rays.scratch[3].reshape(-1, 3))
        inv = rays.scratch[4]
        np.copyto(inv, d.T)
        with np.errstate(divide='ignore'):
            np.divide(1.0, inv, out=inv)
    t_min, t_max = _slab(o, inv, -half, half, out=rays.scratch[:3])
    t_near = np.maximum(t_min[0], t_min[1], out=rays.scratch[5, 0])
    np.maximum(t_near, t_min[2], out=t_near)
    t_far = np.minimum(t_max[0], t_max[1], out=rays.scratch[5, 1])
    np.minimum(t_far, t_max[2], out=t_far)
    rows = np.flatnonzero((t_near <= t_far) & (t_near > _EPS))

    def normal(i, t_i):
        # the face entered last: t_min's argmax over the axes, i.e. the first axis
        # whose entry distance is t_near (no NaN is left)
        axis = np.where(t_min[0].take(i) == t_i, 0, np.where(t_min[1].take(i) == t_i, 1, 2))
        return _axis_normal(axis, d.take(i, 0), -1.0) @ rot

    hits.update(t_near[rows], surface, normal, rows)


def _hit_sphere(origin, rays: _Rays, center, radius, hits: _Hits, surface: int) -> None:
    dirs = rays.dirs
    oc = origin - center
    b = dirs @ oc
    disc = b * b - rays.norm2 * (oc @ oc - radius * radius)
    rows = np.flatnonzero(disc > 0)  # the others miss
    t = (-b[rows] - np.sqrt(disc[rows])) / rays.norm2[rows]
    hits.update(
        t, surface, lambda i, t_i: (origin + dirs.take(i, 0) * t_i[:, None] - center) / radius, rows
    )


def _hit_cylinder(origin, rays: _Rays, center, radius, height, hits: _Hits, surface: int) -> None:
    """A vertical cylinder standing on ``center`` (its base), with a top cap."""
    dirs = rays.dirs
    x, y, z = rays.axes
    ox, oz = origin[0] - center[0], origin[2] - center[2]
    a = x**2 + z**2
    b = ox * x + oz * z
    disc = b * b - a * (ox * ox + oz * oz - radius * radius)
    rows = np.flatnonzero(disc > 0)  # the others miss the infinite cylinder
    with np.errstate(divide='ignore'):
        t_side = (-b[rows] - np.sqrt(disc[rows])) / a[rows]
    y_side = origin[1] + t_side * y[rows]
    on_side = (y_side >= center[1]) & (y_side <= center[1] + height)
    rows, t_side = rows[on_side], t_side[on_side]

    def side_normal(i, t_i):
        p = origin + dirs.take(i, 0) * t_i[:, None]
        return (
            np.stack([p[:, 0] - center[0], np.zeros(len(i), np.float32), p[:, 2] - center[2]], 1)
            / radius
        )

    hits.update(t_side, surface, side_normal, rows)
    with np.errstate(divide='ignore', invalid='ignore'):
        t_cap = (center[1] + height - origin[1]) / y
    # only rays that would take the cap's plane as their nearest hit need the disc test
    rows = np.flatnonzero((t_cap > _EPS) & (t_cap < hits.t))
    t_cap = t_cap[rows]
    px = origin[0] + t_cap * x[rows] - center[0]
    pz = origin[2] + t_cap * z[rows] - center[2]
    on_cap = px * px + pz * pz <= radius * radius
    hits.update(
        t_cap[on_cap],
        surface,
        lambda i, _: np.tile(np.float32([0, 1, 0]), (len(i), 1)),
        rows[on_cap],
    )


def _hit_plane_y(origin, rays: _Rays, y0, hits: _Hits, surface: int) -> None:
    """The horizontal plane y = y0 (the street's ground)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (y0 - origin[1]) / rays.axes[1]
    up = np.float32([0, np.sign(origin[1] - y0), 0])
    hits.update(t, surface, lambda i, _: np.tile(up, (len(i), 1)))


def _texture(
    kind: int, x: np.ndarray, y: np.ndarray, z: np.ndarray, params: np.ndarray
) -> np.ndarray:
    """A procedural scalar pattern in [0, 1] at the world points ``(x, y, z)``, (N,) each."""
    f = params[0]
    if kind == 0:  # checker
        # the offsets keep surfaces at integer coordinates off the cell borders
        v = (np.floor(x * f + params[1]) + np.floor(y * f + 0.37) + np.floor(z * f + params[2])) % 2
        return 0.35 + 0.65 * v
    if kind == 1:  # stripes
        return 0.5 + 0.5 * np.sin((x * params[1] + y * params[2] + z) * f * 2.5)
    # smooth blotches: a sum of a few incommensurate sinusoids
    v = (
        np.sin(x * f * 3.1 + params[1]) * np.sin(z * f * 2.3 + params[2])
        + 0.5 * np.sin((x + y) * f * 7.7)
        + 0.3 * np.sin((y - z) * f * 11.3)
    )
    return 0.5 + 0.25 * v


def _put_rows(dst: np.ndarray, rows: np.ndarray, src: np.ndarray) -> None:
    """``dst[rows] = src`` for C-contiguous (N, C) arrays, moving each row as one
    opaque record, which is several times faster than numpy's fancy row assignment.
    """
    record = np.dtype((np.void, dst.itemsize * dst.shape[1]))
    np.put(dst.view(record)[:, 0], rows, src.view(record)[:, 0])


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Camera-to-world rotation: yaw anywhere, a gentle pitch and roll."""
    yaw = rng.uniform(-math.pi, math.pi)
    pitch = rng.uniform(-0.25, 0.15)
    roll = rng.uniform(-0.06, 0.06)
    cy, sy, cp, sp, cr, sr = (
        math.cos(yaw),
        math.sin(yaw),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(roll),
        math.sin(roll),
    )
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    # camera axes: x right, y down, z forward; the world has y up
    flip = np.diag([1.0, -1.0, 1.0])
    return (r_yaw @ r_pitch @ r_roll @ flip).astype(np.float32)


def _furnish(
    rng: np.random.Generator,
    extent: Tuple[float, float, float, float],
    cam: np.ndarray,
    forward: np.ndarray,
    count: int,
) -> List[dict]:
    """Random boxes, spheres and cylinders standing on the ground, mostly in view."""
    x0, x1, z0, z1 = extent
    heading = math.atan2(forward[0], forward[2])
    objects = []
    for _ in range(count * 20):
        if len(objects) == count:
            break
        angle = heading + rng.uniform(-0.6, 0.6)
        dist = rng.uniform(1.5, 9.0)
        pos = np.array(
            [cam[0] + dist * math.sin(angle), 0.0, cam[2] + dist * math.cos(angle)],
            dtype=np.float32,
        )
        if not (x0 + 0.3 < pos[0] < x1 - 0.3 and z0 + 0.3 < pos[2] < z1 - 0.3):
            continue
        kind = ('box', 'sphere', 'cylinder')[int(rng.integers(3))]
        size = rng.uniform(0.2, 0.8)
        if kind == 'box':
            half = np.array([size, rng.uniform(0.2, 1.2), rng.uniform(0.2, 0.8)], dtype=np.float32)
            objects.append(
                dict(
                    kind='box', center=pos + [0, half[1], 0], half=half, yaw=rng.uniform(0, math.pi)
                )
            )
        elif kind == 'sphere':
            lift = rng.uniform(0, 1.0)
            objects.append(dict(kind='sphere', center=pos + [0, size + lift, 0], radius=size))
        else:
            objects.append(
                dict(kind='cylinder', center=pos, radius=size * 0.5, height=rng.uniform(0.4, 2.5))
            )
    return objects


def render_scene(
    seed: int,
    index: int,
    height: int = 256,
    width: int = 256,
    kind: str = 'mixed',
    haze: bool = True,
) -> Dict[str, np.ndarray]:
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

    # (u - cx) / fx depends only on the column and (v - cy) / fy only on the row
    dirs_cam = np.empty((height, width, 3), dtype=np.float32)
    dirs_cam[..., 0] = (np.arange(width, dtype=np.float32) + 0.5 - cx) / fx
    dirs_cam[..., 1] = ((np.arange(height, dtype=np.float32) + 0.5 - cy) / fy)[:, None]
    dirs_cam[..., 2] = 1
    cam_to_world = _random_rotation(rng)
    # unnormalized: t along it is the z-depth
    dirs = dirs_cam.reshape(-1, 3) @ cam_to_world.T
    rays = _Rays(dirs)

    hits = _Hits(len(dirs))
    if kind == 'room':
        sx, sz, sy = rng.uniform(3, 8), rng.uniform(3, 10), rng.uniform(2.4, 3.5)
        lo = np.array([-sx / 2, 0, -sz / 2], dtype=np.float32)
        hi = np.array([sx / 2, sy, sz / 2], dtype=np.float32)
        cam = np.array(
            [rng.uniform(-sx / 4, sx / 4), rng.uniform(1.1, 1.8), rng.uniform(-sz / 4, sz / 4)],
            dtype=np.float32,
        )
        t_max = _slab(cam, rays.inv, lo, hi, rays.scratch[:3], entry=False)[1]
        t_far = np.minimum(np.minimum(t_max[0], t_max[1]), t_max[2])
        # the first axis reaching t_far, as argmin would pick it (t_max has no NaN)
        far_axis = np.where(t_max[0] == t_far, 0, np.where(t_max[1] == t_far, 1, 2))
        # surfaces 0..5: the six walls (floor = 2 for axis 1 going down)
        hits.t[:] = t_far
        hits.surface[:] = far_axis * 2 + (np.choose(far_axis, rays.axes) > 0)
        hits.normal = _axis_normal(far_axis, dirs, -1.0)
        extent = (lo[0], hi[0], lo[2], hi[2])
        num_shell = 6
    else:
        half_w = rng.uniform(4, 9)
        cam = np.array(
            [rng.uniform(-half_w / 3, half_w / 3), rng.uniform(1.3, 2.5), 0], dtype=np.float32
        )
        _hit_plane_y(cam, rays, 0.0, hits, 0)
        facade_h = rng.uniform(6, 20)
        for side, surface in ((-1, 1), (1, 2)):
            center = np.array([side * (half_w + 5), facade_h / 2, 0], dtype=np.float32)
            half = np.array([5, facade_h / 2, 80], dtype=np.float32)
            _hit_box(cam, rays, center, half, 0.0, hits, surface)
        extent = (-half_w, half_w, -25, 25)
        num_shell = 3
        # beyond 80 m the street fades into fog: treat as sky (invalid)
        hits.t[hits.t > 80] = _INF

    objects = _furnish(rng, extent, cam, cam_to_world[:, 2], int(rng.integers(3, 9)))
    for i, obj in enumerate(objects):
        surface = num_shell + i
        if obj['kind'] == 'box':
            _hit_box(cam, rays, obj['center'], obj['half'], obj['yaw'], hits, surface)
        elif obj['kind'] == 'sphere':
            _hit_sphere(cam, rays, obj['center'], obj['radius'], hits, surface)
        else:
            _hit_cylinder(cam, rays, obj['center'], obj['radius'], obj['height'], hits, surface)

    num_surfaces = num_shell + len(objects)
    colors = rng.uniform(0.15, 0.95, size=(num_surfaces, 3)).astype(np.float32)
    patterns = rng.integers(0, 3, size=num_surfaces)
    params = np.stack(
        [
            rng.uniform(0.5, 3.0, num_surfaces),
            rng.uniform(-1, 1, num_surfaces),
            rng.uniform(-1, 1, num_surfaces),
        ],
        1,
    ).astype(np.float32)

    valid = np.isfinite(hits.t)
    rgb = np.empty((len(dirs), 3), dtype=np.float32)
    sky = np.array([0.55, 0.7, 0.95], dtype=np.float32) * rng.uniform(0.8, 1.1)
    sky_rows = np.flatnonzero(~valid)
    if sky_rows.size:
        elevation = -rays.axes[1][sky_rows] / np.sqrt(rays.norm2[sky_rows])
        _put_rows(rgb, sky_rows, sky * (1 - 0.3 * np.clip(elevation, 0, 1))[:, None])
    light = np.array([rng.uniform(-0.6, 0.6), 1.0, rng.uniform(-0.6, 0.6)], dtype=np.float32)
    light /= np.linalg.norm(light)
    lambert = np.clip(hits.normal @ light, 0, 1)
    # The valid rays sorted by surface, so that each surface is one slice of them
    # rather than a mask over the whole image. Everything below is element-wise, so
    # the order of the rays does not change a value.
    rows = np.flatnonzero(valid)
    surface_of = hits.surface[rows].astype(np.uint8)  # fewer than 256 surfaces
    rows = rows[np.argsort(surface_of, kind='stable')]
    ends = np.cumsum(np.bincount(surface_of, minlength=num_surfaces))
    t = hits.t[rows]
    points = [cam[axis] + rays.axes[axis].take(rows) * t for axis in range(3)]
    # a soft fall-off with distance, as from fog or a room light
    shade = (0.35 + 0.65 * lambert[rows]) * (1.0 / (1.0 + 0.01 * t))
    color = np.empty((len(rows), 3), dtype=np.float32)
    start = 0
    for surface, end in enumerate(ends):
        if end > start:
            pattern = _texture(
                int(patterns[surface]), *(p[start:end] for p in points), params[surface]
            )
            color[start:end] = colors[surface] * (pattern * shade[start:end])[:, None]
        start = end
    visibility = rng.uniform(4, 10) if kind == 'room' else rng.uniform(20, 60)
    air = sky if kind == 'street' else np.full(3, rng.uniform(0.55, 0.85), np.float32)
    if haze:
        distance = t * np.sqrt(rays.norm2[rows])
        transmission = np.exp(-distance / np.float32(visibility))[:, None]
        color *= transmission
        color += air * (1 - transmission)
    _put_rows(rgb, rows, color)
    np.clip(rgb, 0, 1, out=rgb)
    rgb *= 255
    rgb += 0.5
    img = rgb.astype(np.uint8).reshape(height, width, 3)
    depth = np.where(valid, hits.t, 0).astype(np.float32).reshape(height, width)
    return dict(img=img, depth=depth, valid=valid.reshape(height, width), intrinsics=intrinsics)


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

    def __init__(
        self,
        num_samples: int = 1000,
        height: int = 256,
        width: int = 256,
        seed: int = 0,
        kind: str = 'mixed',
        haze: bool = True,
        pipeline=(),
        **kwargs,
    ) -> None:
        self.num_samples = num_samples
        self.height, self.width = height, width
        self.seed, self.kind, self.haze = seed, kind, haze
        super().__init__(data_root='', pipeline=list(pipeline), serialize_data=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(sample_idx=i) for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        scene = render_scene(
            self.seed, info['sample_idx'], self.height, self.width, self.kind, self.haze
        )
        info.update(
            img=scene['img'],
            gt_depth=scene['depth'],
            gt_valid_mask=scene['valid'],
            img_path=f'synthetic://{self.seed}/{info["sample_idx"]}',
            ori_shape=(self.height, self.width),
        )
        return info
