"""The data sample that travels with each image through pipelines, models and metrics."""

from mmengine.structures import BaseDataElement, PixelData


class DepthDataSample(BaseDataElement):
    """Per-image annotations and predictions.

    Fields (all optional):
        gt_depth (PixelData): ``data`` of shape (1, H, W), metres, at the ground
            truth's own resolution (never resized by the pipeline).
        gt_valid_mask (PixelData): ``data`` bool (1, H, W); pixels the benchmark's
            protocol may use (provided masks such as DIODE's). The metric applies the
            range and crop rules on top of it.
        pred_depth (PixelData): ``data`` (1, h, w), the model's output at its input
            resolution; relative disparity for disparity models.

    Metainfo keys used across the project: ``img_path``, ``ori_shape`` (H, W),
    ``img_shape`` (h, w) after resizing, ``crop_boxes`` (training views).
    """

    def _set_pixel(self, name: str, value: PixelData) -> None:
        assert isinstance(value, PixelData), f'{name} must be a PixelData, got {type(value)}'
        self.set_field(value, name, dtype=PixelData)

    @property
    def gt_depth(self) -> PixelData:
        return self._gt_depth

    @gt_depth.setter
    def gt_depth(self, value: PixelData) -> None:
        self._set_pixel('_gt_depth', value)

    @gt_depth.deleter
    def gt_depth(self) -> None:
        del self._gt_depth

    @property
    def gt_valid_mask(self) -> PixelData:
        return self._gt_valid_mask

    @gt_valid_mask.setter
    def gt_valid_mask(self, value: PixelData) -> None:
        self._set_pixel('_gt_valid_mask', value)

    @gt_valid_mask.deleter
    def gt_valid_mask(self) -> None:
        del self._gt_valid_mask

    @property
    def pred_depth(self) -> PixelData:
        return self._pred_depth

    @pred_depth.setter
    def pred_depth(self, value: PixelData) -> None:
        self._set_pixel('_pred_depth', value)

    @pred_depth.deleter
    def pred_depth(self) -> None:
        del self._pred_depth
