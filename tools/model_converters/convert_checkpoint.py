"""Convert Depth Anything V2 and MiDaS checkpoints between the official and our layouts.

    python tools/model_converters/convert_checkpoint.py IN OUT --to {dav2,ours,hf,midas}
                                                        [--config CFG] [--unsafe-allow-pickle]

IN may be any layout the loader accepts: official Depth Anything V2 ``.pth``,
Distill-Any-Depth ``.safetensors`` (small/base, or Large with ``backbone.*`` and
chunked blocks), or our training checkpoint (``state_dict`` with ``student.*``).

``--to dav2`` writes a bare state dict with the official names (``pretrained.*``,
``depth_head.*``) that the official ``DepthAnythingV2.load_state_dict`` accepts
unchanged; ``--to ours`` writes ``{'state_dict': {'student.*': ...}, 'meta': ...}``
that ``load_from`` / ``init_model`` accept; ``--to hf`` writes a folder OUT with
``config.json`` and ``model.safetensors`` that ``transformers``'
``DepthAnythingForDepthEstimation.from_pretrained(OUT)`` loads (and ``init_model(OUT)``,
and the hub once uploaded). A trained student's encoder (heads, layer indices) comes
from ``--config`` or the config MMEngine stores in the checkpoint's meta, else from
the tensors (docs/models.md). For ``dav2``/``ours``, OUT's extension picks the format:
``.safetensors`` or a torch file (``.pth``, ``.pt``). Tensors keep their dtype.

MiDaS v3.1 (``scratch.output_conv.*`` keys: official ``.pt`` or a MiDaS student):
``--to midas`` writes the official layout (timm 0.6.12 names, with the structural
buffers ``relative_position_index`` / ``attn_mask`` the official code loads strictly);
``--to ours`` writes our training layout. The structural buffers depend on the
architecture: it is recognised for the two releases (BEiT-L/16-512, Swin2-T/16-256);
give ``--config`` (a MiDaS model or distiller config) for any other.

Files are read without unpickling code. ``--unsafe-allow-pickle`` reads IN with
``torch.load(weights_only=False)``, which can run arbitrary code: only for files
you trust, to convert them once into a safe format.
"""

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from mmdistilldepth.models.checkpoint_loading import (
    STUDENT_PREFIX,
    CheckpointError,
    read_checkpoint,
    split_checkpoint,
    to_dav2_layout,
)
from mmdistilldepth.models.hf_layout import HFLayoutError
from mmdistilldepth.models.midas_checkpoint import (
    from_midas_layout,
    is_midas_state,
    to_midas_layout,
)
from mmdistilldepth.utils import UserInputError, check_file, one_line_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a Depth Anything V2 checkpoint between layouts.'
    )
    parser.add_argument('src', help='input checkpoint (.pth/.pt/.safetensors)')
    parser.add_argument('dst', help='output file; .safetensors or .pth/.pt')
    parser.add_argument(
        '--to',
        choices=['dav2', 'ours', 'hf', 'midas'],
        required=True,
        help='dav2: official DAv2 names; ours: mmdistilldepth training layout; '
        'hf: a transformers folder (config.json + model.safetensors); '
        'midas: official MiDaS v3.1 layout',
    )
    parser.add_argument(
        '--config',
        default=None,
        help='the (model or distiller) config the checkpoint was trained with: '
        "for --to hf, a custom student's encoder (default: the one stored in "
        'the checkpoint); for MiDaS, the structural buffers of a non-release '
        'architecture',
    )
    parser.add_argument(
        '--unsafe-allow-pickle',
        action='store_true',
        help='read IN with full unpickling (runs code in the file; only for trusted files)',
    )
    return parser.parse_args(argv)


def read_any(path: str, allow_pickle: bool = False):
    if allow_pickle and not path.endswith('.safetensors'):
        return split_checkpoint(torch.load(path, map_location='cpu', weights_only=False), path)
    return read_checkpoint(path)


def save(state: Dict[str, torch.Tensor], path: str, meta: dict) -> None:
    """Write a flat state dict (safetensors) or ``state``/``{'state_dict','meta'}`` (torch)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if path.endswith('.safetensors'):
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in state.items()},
            path,
            metadata={k: str(v) for k, v in meta.items()},
        )
    elif meta.get('layout') == 'ours':
        torch.save(dict(state_dict=state, meta=meta), path)
    else:
        torch.save(state, path)


def convert(
    src: str, dst: str, to: str, allow_pickle: bool = False, config: Optional[str] = None
) -> str:
    """Convert ``src`` into ``dst``; returns the source layout."""
    state, _ = read_any(src, allow_pickle)
    if is_midas_state(state) or to == 'midas':  # MiDaS: models/midas_checkpoint.py
        return convert_midas(state, src, dst, to, config)
    state, layout = to_dav2_layout(state)
    if to == 'ours':
        state = OrderedDict((STUDENT_PREFIX + k, v) for k, v in state.items())
    meta = dict(layout=to, converted_from=layout, source=osp.basename(src))
    save(state, dst, meta)
    return layout


def convert_to_hf(
    src: str, dst: str, allow_pickle: bool = False, config: Optional[str] = None
) -> str:
    """Write ``src`` (any layout) as a transformers folder ``dst``; returns the source layout."""
    from mmdistilldepth.apis.hf import encoder_from_meta, estimator_from_meta
    from mmdistilldepth.models.backbones import resolve_arch
    from mmdistilldepth.models.hf_layout import (
        dav2_to_hf,
        hf_config,
        model_args_from_state,
        write_hf_folder,
    )

    state, meta = read_any(src, allow_pickle)
    state, layout = to_dav2_layout(state)
    args = model_args_from_state(state, encoder_from_meta(meta, config))
    # A metric head has the relative one's tensors: only the config says.
    max_depth = estimator_from_meta(meta, config).get('max_depth')
    folder_config = hf_config(
        resolve_arch(args['encoder']), args['features'], args['out_channels'], max_depth
    )
    write_hf_folder(dst, dav2_to_hf(state), folder_config)
    return layout


def convert_midas(
    state: Dict[str, torch.Tensor], src: str, dst: str, to: str, config: Optional[str] = None
) -> str:
    """The MiDaS part of :func:`convert` (``--to midas`` or ``--to ours``)."""
    if not is_midas_state(state):
        raise CheckpointError(
            f'{src} is not a MiDaS checkpoint (no scratch.output_conv.* keys); '
            '--to midas converts MiDaS v3.1 files and MiDaS students only'
        )
    if to == 'dav2':
        raise CheckpointError(f'{src} is a MiDaS checkpoint: convert it --to midas or --to ours')
    ours, layout = from_midas_layout(state)
    if to == 'ours':
        state = OrderedDict((STUDENT_PREFIX + k, v) for k, v in ours.items())
    else:
        state = to_midas_layout(ours, midas_structural_buffers(ours, config))
    save(state, dst, dict(layout=to, converted_from=layout, source=osp.basename(src)))
    return layout


def midas_structural_buffers(
    state: Dict[str, torch.Tensor], config: Optional[str] = None
) -> Dict[str, torch.Tensor]:
    """The official structural buffers of the MiDaS architecture ``state`` belongs to."""
    from mmdistilldepth.models.estimators.midas import guess_midas_model_type
    from mmdistilldepth.registry import MODELS
    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    if config is not None:
        from mmengine.config import Config

        cfg = Config.fromfile(config).model
        cfg = cfg.student if cfg.get('type') == 'CrossContextDistiller' else cfg
        cfg = dict(cfg, checkpoint=None)
    else:
        model_type = guess_midas_model_type(state)
        if model_type is None:
            raise CheckpointError(
                'cannot tell which MiDaS architecture this checkpoint is (not one of the '
                'releases dpt_beit_large_512 / dpt_swin2_tiny_256): give its --config'
            )
        cfg = dict(type='MiDaS', model_type=model_type)
    with torch.device('meta'):
        model = MODELS.build(cfg)
    return model.structural_buffers()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    with one_line_errors('convert_checkpoint'):
        check_file(args.src, 'checkpoint', 'give the path of a .pth or .safetensors file')
        try:
            if args.to == 'hf':
                layout = convert_to_hf(args.src, args.dst, args.unsafe_allow_pickle, args.config)
            else:
                layout = convert(args.src, args.dst, args.to, args.unsafe_allow_pickle, args.config)
        except (CheckpointError, HFLayoutError) as exc:
            raise UserInputError(str(exc)) from exc
    print(f'{args.src} ({layout}) -> {args.dst} ({args.to})')
    if layout == 'dad_large' and args.to in ('dav2', 'hf'):
        print(
            'note: Distill-Any-Depth Large applies its final ReLU after resizing to the '
            'input size; the official DAv2 head applies it before. Outputs are identical '
            'for inputs whose sides are multiples of 14 (what infer_image feeds).'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
