r"""Compute a diffusion model's empty-prompt embedding once and save it.

GenPercept and Marigold condition their UNet on the CLIP embedding of the empty
prompt. Saving it lets ``GenPerceptTeacher`` / ``MarigoldTeacher`` run without the
text encoder in memory (and without ``transformers``)::

    python tools/model_converters/save_empty_text_embedding.py \\
        checkpoints/genpercept checkpoints/genpercept/empty_text_embedding.safetensors

MODEL_DIR needs ``tokenizer/`` and ``text_encoder/`` (Stable Diffusion 2.1's, for
both GenPercept and Marigold); this script needs ``transformers``. The output format
follows OUT's extension: ``.safetensors`` (key ``empty_text_embedding``), ``.npy``, or
anything else with ``torch.save``. The tensor is (1, S, D) float32, S = 2 for the
empty prompt (``[BOS, EOS]``, not padded, as both pipelines tokenize it).
"""

import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

from mmdistilldepth.models.teachers.diffusion_utils import encode_empty_prompt, save_text_embedding


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model_dir', help='folder with tokenizer/ and text_encoder/')
    parser.add_argument('out', help='output file (.safetensors, .npy, or .pt)')
    parser.add_argument('--prompt', default='', help="the prompt to encode (default: '')")
    parser.add_argument('--device', default='cpu', help='where the text encoder runs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    embedding = encode_empty_prompt(args.model_dir, prompt=args.prompt, device=args.device)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    save_text_embedding(embedding, args.out)
    print(
        f'saved the embedding of {args.prompt!r} from {args.model_dir}, shape '
        f'{tuple(embedding.shape)}, to {args.out}'
    )


if __name__ == '__main__':
    sys.exit(main())
