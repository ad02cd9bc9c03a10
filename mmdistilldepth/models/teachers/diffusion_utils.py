"""Building blocks shared by the diffusion teachers (GenPercept, Marigold).

Plain functions with typed arguments, importable without a config and without
``transformers`` (only :func:`encode_empty_prompt` needs it, and imports it lazily):

- :func:`check_model_folder`: a clear error naming the missing subfolder or file;
- :func:`resolve_dtype`: ``'auto'`` -> float32 on CPU, bf16 (or fp16) on CUDA;
- :func:`weights_variant`: finds whether a diffusers subfolder holds fp16-variant weights;
- :func:`load_text_embedding` / :func:`save_text_embedding`: the empty-prompt embedding
  as a file, so training needs no text encoder in memory;
- :func:`encode_empty_prompt`: computes that embedding with the CLIP text encoder;
- :func:`processing_size` / :func:`resize_to_processing`: longest edge to a target
  size, sides a multiple of the VAE's downscaling factor;
- :func:`affine_depth_to_disparity`: turns affine-invariant depth in [0, 1] into
  disparity in [0, 1] for the distiller.
"""

from __future__ import annotations

import glob
import os.path as osp
from typing import Iterable, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmdistilldepth.utils.extras import MissingExtraError, install_hint, is_available

EMBEDDING_KEY = 'empty_text_embedding'
DTYPES = dict(
    float32=torch.float32,
    fp32=torch.float32,
    float16=torch.float16,
    fp16=torch.float16,
    bfloat16=torch.bfloat16,
    bf16=torch.bfloat16,
)


def transformers_available() -> bool:
    """Whether the optional ``transformers`` package can be imported."""
    return is_available('transformers')


def check_model_folder(
    model_path: str, required: Iterable[str], model_name: str, download_hint: str
) -> None:
    """Raise a clear error when a local model folder lacks a file or subfolder.

    Args:
        model_path (str): the local folder.
        required (Iterable[str]): relative paths that must exist; a path ending in
            ``/`` must be a folder. A ``diffusion_pytorch_model*`` pattern is matched
            with glob (weights may be ``.safetensors``, ``.bin``, fp16 or sharded).
        model_name (str): named in the message, e.g. ``'GenPercept'``.
        download_hint (str): what to download into the folder.

    Raises:
        FileNotFoundError: naming the folder, the first missing entry and the fix.
    """
    if not osp.isdir(model_path):
        raise FileNotFoundError(
            f'{model_name} folder {model_path} does not exist: download {download_hint} '
            'into it (see docs/diffusion_teachers.md)'
        )
    for rel in required:
        path = osp.join(model_path, rel)
        if rel.endswith('/'):
            found = osp.isdir(path)
        elif '*' in rel:
            found = bool(glob.glob(path))
        else:
            found = osp.isfile(path)
        if not found:
            shown = rel.replace('*', '.safetensors') if '*' in rel else rel
            raise FileNotFoundError(
                f'{model_name} folder {model_path} lacks {shown}: download {download_hint} '
                'into it (see docs/diffusion_teachers.md for the folder layout)'
            )


def weights_variant(subfolder: str) -> Optional[str]:
    """``'fp16'`` when a diffusers subfolder holds only fp16-variant weights, else None."""
    if glob.glob(osp.join(subfolder, 'diffusion_pytorch_model.safetensors*')) or glob.glob(
        osp.join(subfolder, 'diffusion_pytorch_model.bin*')
    ):
        return None
    if glob.glob(osp.join(subfolder, 'diffusion_pytorch_model.fp16.*')):
        return 'fp16'
    return None


def resolve_dtype(dtype: Union[str, torch.dtype, None]) -> torch.dtype:
    """The compute dtype of a diffusion teacher.

    Args:
        dtype (str | torch.dtype | None): ``'auto'`` (or None) picks float32 on a
            machine without CUDA, bfloat16 on CUDA devices that support it and
            float16 on older ones; otherwise one of ``'float32'``, ``'float16'``,
            ``'bfloat16'`` (or ``'fp32'``, ``'fp16'``, ``'bf16'``) or a torch dtype.

    Returns:
        torch.dtype
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == 'auto':
        if not torch.cuda.is_available():
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of 'auto', {sorted(DTYPES)}")
    return DTYPES[dtype]


def _as_batch_of_one(embedding: torch.Tensor, source: str) -> torch.Tensor:
    if embedding.dim() == 2:
        embedding = embedding[None]
    if embedding.dim() != 3 or embedding.shape[0] != 1:
        raise ValueError(
            f'empty-prompt embedding from {source} has shape '
            f'{tuple(embedding.shape)}; expected (1, S, D) or (S, D)'
        )
    return embedding.float()


def check_embedding_fits(embedding: torch.Tensor, unet, model_path: str) -> None:
    """Raise if the empty-prompt ``embedding`` is not made for ``unet``'s cross-attention."""
    dim = unet.config.cross_attention_dim
    if embedding.shape[-1] != dim:
        raise ValueError(
            f'empty-prompt embedding has {embedding.shape[-1]} channels but the UNet of '
            f'{model_path} attends to {dim}: the embedding is from another model'
        )


def load_text_embedding(path: str) -> torch.Tensor:
    """Read a saved empty-prompt embedding.

    Args:
        path (str): a ``.safetensors`` file (key ``'empty_text_embedding'``, or its
            only tensor), a ``.npy`` file, or a file ``torch.load`` reads with
            ``weights_only=True`` (a tensor, or a dict holding one).

    Returns:
        Tensor: (1, S, D) float32, S tokens of D channels (S = 2 for the
        un-padded empty prompt ``[BOS, EOS]``).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'empty-prompt embedding file {path} does not exist: create it with '
            'tools/model_converters/save_empty_text_embedding.py MODEL_DIR OUT'
        )
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        tensors = load_file(path)
    elif path.endswith('.npy'):
        tensors = torch.from_numpy(np.load(path))
    else:
        tensors = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(tensors, dict):
        if EMBEDDING_KEY in tensors:
            tensors = tensors[EMBEDDING_KEY]
        elif len(tensors) == 1:
            tensors = next(iter(tensors.values()))
        else:
            raise KeyError(
                f'{path} holds {sorted(tensors)}; expected the key '
                f'{EMBEDDING_KEY!r} or a single tensor'
            )
    if not isinstance(tensors, torch.Tensor):
        raise TypeError(f'{path} holds a {type(tensors).__name__}, not a tensor')
    return _as_batch_of_one(tensors, path)


def save_text_embedding(embedding: torch.Tensor, path: str) -> None:
    """Save an empty-prompt embedding (1, S, D) as float32 in the format of ``path``'s
    extension: ``.safetensors``, ``.npy``, or anything else with ``torch.save``.
    """
    embedding = _as_batch_of_one(embedding.detach().cpu(), 'the caller').contiguous()
    if path.endswith('.safetensors'):
        from safetensors.torch import save_file

        save_file({EMBEDDING_KEY: embedding}, path)
    elif path.endswith('.npy'):
        np.save(path, embedding.numpy())
    else:
        torch.save(embedding, path)


@torch.no_grad()
def encode_empty_prompt(
    model_path: str, prompt: str = '', device: Union[str, torch.device] = 'cpu'
) -> torch.Tensor:
    """Encode the (empty) prompt with the model's CLIP tokenizer and text encoder.

    Like GenPercept's and Marigold's pipelines, the prompt is tokenized without
    padding, so the empty prompt is the two tokens ``[BOS, EOS]``.

    Args:
        model_path (str): folder with ``tokenizer/`` and ``text_encoder/``.
        prompt (str): the prompt, ``''`` for GenPercept and Marigold.
        device (str | torch.device): where the text encoder runs (once).

    Returns:
        Tensor: (1, S, D) float32 on the CPU.
    """
    if not transformers_available():
        raise MissingExtraError(
            'computing the empty-prompt embedding needs transformers '
            f'(not installed): {install_hint("transformers")}'
        )
    from transformers import CLIPTextModel, CLIPTokenizer

    check_model_folder(
        model_path,
        ['tokenizer/', 'text_encoder/config.json'],
        'text encoder',
        'the tokenizer/ and text_encoder/ subfolders of '
        'stabilityai/stable-diffusion-2-1 (or give the teacher a saved '
        'empty_text_embedding file instead)',
    )
    tokenizer = CLIPTokenizer.from_pretrained(
        osp.join(model_path, 'tokenizer'), local_files_only=True
    )
    text_encoder = (
        CLIPTextModel.from_pretrained(osp.join(model_path, 'text_encoder'), local_files_only=True)
        .to(device)
        .eval()
    )
    ids = tokenizer(
        prompt,
        padding='do_not_pad',
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors='pt',
    ).input_ids
    embedding = text_encoder(ids.to(device))[0]
    return embedding.float().cpu()


def processing_size(
    height: int, width: int, processing_res: int, multiple: int = 8
) -> Tuple[int, int]:
    """The size at which a diffusion teacher processes an image.

    The longest edge becomes ``processing_res`` (``0`` keeps the input size), the
    aspect ratio is kept, and each side is rounded to the nearest multiple of
    ``multiple`` (the VAE's downscaling factor), at least ``multiple``.

    Returns:
        tuple: (height, width).
    """
    scale = 1.0 if processing_res == 0 else processing_res / max(height, width)

    def _round(side: int) -> int:
        return max(multiple, int(round(side * scale / multiple)) * multiple)

    return _round(height), _round(width)


def resize_to_processing(
    images: torch.Tensor, processing_res: int, multiple: int = 8
) -> torch.Tensor:
    """Resize (B, C, H, W) images to :func:`processing_size` (bilinear, anti-aliased)."""
    size = processing_size(images.shape[-2], images.shape[-1], processing_res, multiple)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode='bilinear', align_corners=False, antialias=True)


def affine_depth_to_disparity(depth: torch.Tensor, offset: float = 0.1) -> torch.Tensor:
    """Turn affine-invariant depth in [0, 1] into disparity in [0, 1].

    Marigold and GenPercept's depth checkpoints are trained on depth normalized per
    image to ``d = (D - D_near) / (D_far - D_near)`` (near and far: the 2nd and 98th
    percentiles of the true depth ``D``), so ``D`` is proportional to
    ``d + D_near / (D_far - D_near)``. Disparity ``1 / D`` is therefore
    ``1 / (d + offset)`` up to scale, with ``offset = 1 / (D_far / D_near - 1)``: a
    property of each scene that a single depth map does not reveal. A fixed
    ``offset`` stands for a typical far/near ratio, ``D_far / D_near = 1 + 1 / offset``
    (0.1 <-> 11, between indoor scenes, about 5-10, and street scenes, about 20).

    ``1 / (d + offset)`` is then mapped affinely (the same map for every image) so
    that ``d = 0`` (near) -> 1 and ``d = 1`` (far) -> 0::

        disparity = offset * (1 - d) / (d + offset)

    This keeps the exact inverse-depth shape for the assumed ratio and the
    [0, 1] range of GenPercept's disparity checkpoint. A large ``offset`` tends to
    ``1 - d`` (no inversion); a small one to pure ``1 / d``. The distiller's losses
    are invariant to the remaining scale and shift of disparity.

    Args:
        depth (Tensor): affine-invariant depth, any shape, values in [0, 1]
            (clamped to it).
        offset (float): ``1 / (D_far / D_near - 1)``, > 0.

    Returns:
        Tensor: disparity in [0, 1], same shape, 1 nearest and 0 farthest.
    """
    if offset <= 0:
        raise ValueError(f'offset must be > 0, got {offset}')
    depth = depth.clamp(0.0, 1.0)
    return offset * (1.0 - depth) / (depth + offset)
