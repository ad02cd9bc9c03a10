"""Export a Depth Anything V2 model to ONNX with dynamic batch, height and width.

    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] --out model.onnx
                                           [--shape 518 686] [--opset 17] [--verify]

The graph takes ``image``: (B, 3, H, W) float32, RGB normalized with ImageNet
mean/std, H and W multiples of 14 (use ``mmdistilldepth.apis.prepare_dav2_input``),
and returns ``disparity``: (B, 1, H, W). The positional embedding is resized inside
the graph for any H, W, with the same rule as in PyTorch. ``--shape`` is only the
tracing example. ``--verify`` compares onnxruntime with PyTorch on another shape.
"""

import argparse
import sys
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from mmdistilldepth.apis import init_model
from mmdistilldepth.models.checkpoint_loading import CheckpointError
from mmdistilldepth.utils import UserInputError, check_file, load_config, one_line_errors


class DisparityGraph(nn.Module):
    """``image -> disparity`` for export (tensor mode of the estimator)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image, mode='tensor')


def export_onnx(
    model: nn.Module, path: str, shape: Tuple[int, int] = (518, 686), opset: int = 17
) -> None:
    """Trace ``model`` on a (1, 3, *shape) example and write ``path``.

    Batch, height and width are dynamic axes of both ``image`` and ``disparity``.
    """
    example = torch.randn(1, 3, *shape)
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings about shape arithmetic
        torch.onnx.export(
            DisparityGraph(model.eval()),
            (example,),
            path,
            dynamo=False,
            input_names=['image'],
            output_names=['disparity'],
            dynamic_axes={'image': axes, 'disparity': axes},
            opset_version=opset,
        )


def onnx_vs_torch(model: nn.Module, path: str, image: torch.Tensor) -> float:
    """Max |onnxruntime - torch| / max |torch| on ``image``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    (onnx_out,) = session.run(None, {'image': image.numpy()})
    with torch.no_grad():
        torch_out = model(image, mode='tensor').numpy()
    if onnx_out.shape != torch_out.shape:
        raise AssertionError(f'onnx output {onnx_out.shape} vs torch {torch_out.shape}')
    return float(np.abs(onnx_out - torch_out).max() / max(np.abs(torch_out).max(), 1e-12))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a depth model to ONNX.')
    parser.add_argument('config', help='model or distiller config file')
    parser.add_argument('checkpoint', nargs='?', help='weights (.pth or .safetensors)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(518, 686),
        metavar=('H', 'W'),
        help='example input size for tracing (multiples of 14)',
    )
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare onnxruntime with PyTorch on another input size',
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    with one_line_errors('export_onnx'):
        cfg = load_config(args.config)
        if args.checkpoint is not None:
            check_file(args.checkpoint, 'checkpoint', 'give a .pth or .safetensors file')
        try:
            model = init_model(cfg, args.checkpoint, device='cpu')
        except CheckpointError as exc:
            raise UserInputError(str(exc)) from exc
        # MiDaS graphs are traced for one H x W (multiples of 32); DAv2: multiples of 14.
        multiple = 32 if getattr(model, 'checkpoint_family', None) == 'midas' else 14
        if any(s % multiple for s in args.shape):
            raise UserInputError(f'--shape {args.shape} must be multiples of {multiple}')
    export_onnx(model, args.out, tuple(args.shape), args.opset)
    print(f'wrote {args.out}')
    if args.verify:
        height, width = args.shape
        image = (
            torch.randn(2, 3, height, width)
            if multiple == 32
            else torch.randn(2, 3, height + 28, max(14, width - 14))
        )
        print(
            f'max relative difference onnxruntime vs torch on {tuple(image.shape)}: '
            f'{onnx_vs_torch(model, args.out, image):.2e}'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
