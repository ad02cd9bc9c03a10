"""The Gradio page of the demo (``tools/demo.py`` builds and serves it).

Tabs: *Depth* (colour map with a colour bar, input/depth slider, the four files of
``tools/infer.py``), *Compare* (with a second model: both maps and their difference
after least-squares alignment) and *Crop* (the paper's Fig. 5: a crop predicted by
itself beside the same region of the full-image prediction). The endpoint
``/predict`` takes one image file and returns the colour map and the raw disparity
(``.npy``, float32, at the image size).

Bad input raises ``gr.Error`` (the page shows it, the server keeps answering);
conversions and bounds that still give a result are shown as ``gr.Warning``.
"""

import functools
from typing import Callable, Optional, Sequence

import gradio as gr
import torch

from . import backend
from .core import (
    DEFAULT_MAX_PIXELS,
    DemoInputError,
    DemoModel,
    OutputStore,
    colorbar_html,
    compare_disparities,
    crop_prediction,
    default_box,
    difference_rgb,
    draw_box,
    parse_box,
    product_stem,
    read_upload,
)


def _page_errors(fn: Callable) -> Callable:
    """Turn expected failures into a ``gr.Error`` message on the page."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DemoInputError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except (torch.OutOfMemoryError, MemoryError):
            raise gr.Error(
                'out of memory for this image; try a smaller one, or restart the '
                'demo with a smaller --max-size or --max-pixels',
                print_exception=False,
            ) from None

    return wrapper


def _notify(notices: Sequence[str]) -> str:
    for notice in notices:
        gr.Warning(notice)
    return '\n'.join(f'- notice: {notice}' for notice in notices)


class DemoApp:
    """The page's callbacks, one method per event (each testable without a server).

    Args:
        models (list[DemoModel]): the served model first; a second one enables the
            Compare tab.
        max_pixels (int): the largest upload accepted (``--max-pixels``).
        store (OutputStore, optional): where the downloadable files go.
    """

    def __init__(
        self,
        models: Sequence[DemoModel],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        store: Optional[OutputStore] = None,
    ) -> None:
        if not 1 <= len(models) <= 2:
            raise ValueError(f'the demo serves one model or compares two, got {len(models)}')
        self.models = list(models)
        self.max_pixels = max_pixels
        self.store = store or OutputStore()

    @property
    def model(self) -> DemoModel:
        return self.models[0]

    def _read(self, path: Optional[str], model: DemoModel) -> tuple:
        rgb, notices = read_upload(path, self.max_pixels)
        bound = model.bound_notice(*rgb.shape[:2])
        return rgb, notices + ([bound] if bound else [])

    def _products(self, path: str, model: DemoModel):
        rgb, notices = self._read(path, model)
        disparity = model.predict(rgb)
        stem = product_stem(self.store.new_dir(), path)
        files = backend.write_products(rgb, disparity, stem, pred_space=model.pred_space)
        return rgb, disparity, files, notices

    @_page_errors
    def predict(self, path: Optional[str]):
        """``/predict``: (path of the colour PNG, path of the ``.npy`` disparity)."""
        _, _, files, notices = self._products(path, self.model)
        _notify(notices)
        return files['color'], files['npy']

    @_page_errors
    def depth(self, path: Optional[str]):
        """Depth tab: colour map, input/depth pair, colour bar, four files, notes."""
        rgb, disparity, files, notices = self._products(path, self.model)
        space = self.model.pred_space
        color = backend.colorize_rgb(disparity, space)
        height, width = disparity.shape
        what = 'depth (m)' if space == 'depth' else 'disparity'
        info = (
            f'**{self.model.name}**: {width}x{height} px, {what} '
            f'{disparity.min():.4g} .. {disparity.max():.4g}; files as '
            '`tools/infer.py --save color png16 npy ply` writes them.\n' + _notify(notices)
        )
        bar = colorbar_html(disparity, pred_space=space)
        return color, (rgb, color), bar, list(files.values()), info

    @_page_errors
    def compare(self, path: Optional[str]):
        """Compare tab: model A, model B, |B aligned to A - A|, and the numbers."""
        if len(self.models) < 2:
            raise DemoInputError(
                'start the demo with --compare CONFIG [CHECKPOINT] to compare two models'
            )
        model_a, model_b = self.models
        rgb, notices = self._read(path, model_a)
        bound_b = model_b.bound_notice(*rgb.shape[:2])
        disp_a, disp_b = model_a.predict(rgb), model_b.predict(rgb)
        result = compare_disparities(disp_a, disp_b)
        info = (
            f"B aligned to A by least squares: B' = {result.scale:.4g} B + "
            f"{result.shift:.4g}. Mean |B' - A| = {100 * result.mean_rel:.2f} % of A's "
            f'range; {100 * result.frac_over:.1f} % of the pixels differ by more than '
            '5 % (difference map: black = equal, yellow = 20 % or more).\n'
            + _notify(notices + ([f'B: {bound_b}'] if bound_b else []))
        )
        return (
            backend.colorize_rgb(disp_a),
            backend.colorize_rgb(disp_b),
            difference_rgb(result, disp_a),
            info,
        )

    @_page_errors
    def crop_start(self, path: Optional[str]):
        """Crop tab, on a new image: the image with the default box, and the box."""
        if not path:
            return None, None, None, None, None
        rgb, _ = read_upload(path, self.max_pixels)
        box = default_box(*rgb.shape[:2])
        return (draw_box(rgb, box), *box)

    @_page_errors
    def crop_corner(self, path: Optional[str], x0, y0, x1, y1, first: bool, evt: gr.SelectData):
        """A click on the image sets one corner of the box, alternately the first and second."""
        rgb, _ = read_upload(path, self.max_pixels)
        x, y = (int(v) for v in evt.index)
        box = [x, y, x, y] if first else [x0, y0, x, y]
        shown = rgb
        if not first:
            try:
                shown = draw_box(rgb, parse_box(box, *rgb.shape[:2]))
            except DemoInputError:
                pass  # a box still too small: show the image and let the button say why
        return (shown, *box, not first)

    @_page_errors
    def crop(self, path: Optional[str], x0, y0, x1, y1):
        """Crop tab: the box, the region cut from the full prediction, the crop alone."""
        rgb, notices = self._read(path, self.model)
        box = parse_box([x0, y0, x1, y1], *rgb.shape[:2])
        result = crop_prediction(self.model, rgb, box)
        w, h = box[2] - box[0], box[3] - box[1]
        info = (
            f'crop {w}x{h} px at ({box[0]}, {box[1]}). Alone, the crop fills the whole '
            f'network input (short side {self.model.input_size} px), so the model sees '
            'it magnified: finer detail, but no context beyond its border. Aligned to '
            f'the full-image cut, they differ by {100 * result.comparison.mean_rel:.2f} % '
            'of its range on average.\n' + _notify(notices)
        )
        return (
            draw_box(rgb, box),
            backend.colorize_rgb(result.from_full),
            backend.colorize_rgb(result.alone),
            info,
        )


def build_app(app: DemoApp, examples: Sequence[str] = ()) -> gr.Blocks:
    """The page for ``app`` (a ``gr.Blocks``; ``launch()`` it to serve)."""
    names = ' vs '.join(f'**{m.name}**' for m in app.models)
    with gr.Blocks(title='mmdistilldepth demo', delete_cache=(3600, 3600)) as page:
        gr.Markdown(
            f'## mmdistilldepth: relative depth from one image\nModel: {names} '
            f'(input size {app.model.input_size}, max size {app.model.max_size}). '
            'Upload an image or pick an example.'
        )
        with gr.Row():
            upload = gr.File(label='Image', file_types=['image'], type='filepath', scale=2)
            if examples:
                with gr.Column(scale=3):
                    gr.Examples(
                        examples=[[path] for path in examples],
                        inputs=[upload],
                        label='Examples (rendered synthetic scenes)',
                    )
        with gr.Tabs():
            with gr.Tab('Depth'):
                with gr.Row():
                    depth_image = gr.Image(
                        label='Depth (near = bright)',
                        format='png',
                        interactive=False,
                        elem_id='depth-map',
                    )
                    slider = gr.ImageSlider(label='Input / depth', interactive=False)
                colorbar = gr.HTML()
                depth_info = gr.Markdown()
                downloads = gr.File(
                    label='Downloads: colour PNG, 16-bit PNG, .npy, .ply',
                    file_count='multiple',
                    interactive=False,
                )
            if len(app.models) == 2:
                with gr.Tab('Compare'):
                    compare_button = gr.Button('Compare the two models', variant='primary')
                    with gr.Row():
                        map_a = gr.Image(label=f'A: {app.models[0].name}', interactive=False)
                        map_b = gr.Image(label=f'B: {app.models[1].name}', interactive=False)
                        map_diff = gr.Image(label='|B aligned to A - A|', interactive=False)
                    compare_info = gr.Markdown()
                compare_button.click(
                    app.compare,
                    [upload],
                    [map_a, map_b, map_diff, compare_info],
                    api_name='compare',
                    api_visibility='undocumented',
                )
            with gr.Tab('Crop (Fig. 5)'):
                gr.Markdown(
                    'Click two corners on the image (or type the box), then predict: '
                    'the model sees the crop alone, magnified, versus the same region '
                    'cut from its prediction for the full image.'
                )
                with gr.Row():
                    crop_image = gr.Image(label='Image and crop', interactive=False)
                    with gr.Column():
                        x0, y0 = (
                            gr.Number(label='x0', precision=0),
                            gr.Number(label='y0', precision=0),
                        )
                        x1, y1 = (
                            gr.Number(label='x1', precision=0),
                            gr.Number(label='y1', precision=0),
                        )
                        crop_button = gr.Button('Predict the crop', variant='primary')
                with gr.Row():
                    from_full = gr.Image(
                        label='Cut from the full-image prediction', interactive=False
                    )
                    alone = gr.Image(label='The crop predicted alone', interactive=False)
                crop_info = gr.Markdown()
                first_corner = gr.State(True)
        # the stable API: one image file in, the colour map and the raw .npy out
        api_in = gr.File(visible=False)
        api_color = gr.Image(type='filepath', format='png', visible=False)
        api_npy = gr.File(visible=False)
        api_button = gr.Button(visible=False)
        api_button.click(app.predict, [api_in], [api_color, api_npy], api_name='predict')

        upload.change(
            app.depth,
            [upload],
            [depth_image, slider, colorbar, downloads, depth_info],
            api_name='depth',
            api_visibility='undocumented',
        )
        upload.change(
            app.crop_start, [upload], [crop_image, x0, y0, x1, y1], api_visibility='private'
        )
        box = [x0, y0, x1, y1]
        crop_image.select(
            app.crop_corner,
            [upload, *box, first_corner],
            [crop_image, *box, first_corner],
            api_visibility='private',
        )
        crop_button.click(
            app.crop,
            [upload, *box],
            [crop_image, from_full, alone, crop_info],
            api_name='crop',
            api_visibility='undocumented',
        )
    return page
