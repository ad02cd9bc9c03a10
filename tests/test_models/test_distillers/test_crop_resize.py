import torch

from mmdistilldepth.models.distillers import crop_resize


def test_crop_of_a_crop_samples_the_same_points():
    """Cutting a box from a map and cutting the same box from an upsampled map agree.

    This is what local-global distillation relies on: the teacher's view of a box
    and the student's global prediction cut at that box sample the same points.
    """
    h, w = 60, 90
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing='ij')
    image = (0.3 * xx + 0.7 * yy)[None, None].float()  # a linear ramp: bilinear is exact
    box = torch.tensor([[12.0, 6.0, 48.0, 42.0]])
    idx = torch.zeros(1, dtype=torch.long)
    direct = crop_resize(image, box, idx, (24, 24))
    # the same box, via the "global view" at another resolution
    glob = crop_resize(image, torch.tensor([[0.0, 0.0, w, h]]), idx, (120, 180))
    scaled = box * torch.tensor([180 / w, 120 / h] * 2)
    via_global = crop_resize(glob, scaled, idx, (24, 24))
    torch.testing.assert_close(direct, via_global, atol=1e-3, rtol=0)
    # and both sample the box's bin centres
    centres_x = 12 + (torch.arange(24) + 0.5) * 36 / 24
    centres_y = 6 + (torch.arange(24) + 0.5) * 36 / 24
    expected = 0.3 * centres_x[None, :] + 0.7 * centres_y[:, None]
    torch.testing.assert_close(direct[0, 0], expected, atol=1e-3, rtol=0)


def test_batched_boxes_pick_their_images():
    maps = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(3)])
    boxes = torch.tensor([[0, 0, 4, 4], [2, 2, 8, 8], [0, 0, 8, 8]], dtype=torch.float32)
    out = crop_resize(maps, boxes, torch.tensor([2, 0, 1]), (3, 3))
    assert out.shape == (3, 1, 3, 3)
    assert out[0].eq(2).all() and out[1].eq(0).all() and out[2].eq(1).all()
