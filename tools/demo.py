"""Serve a local web page for depth from one's own images (Gradio).

    python tools/demo.py [CONFIG [CHECKPOINT]] [--compare CONFIG [CHECKPOINT]]
                         [--host 127.0.0.1] [--port 7860] [--device cpu]
                         [--input-size 518] [--max-size 2044] [--max-pixels N] [--share]

CONFIG and CHECKPOINT are what ``tools/infer.py`` takes (a model or distiller config;
any checkpoint layout the loader accepts). Without them it serves the newest checkpoint
of the default job (``work_dirs/cross_context_synthetic/``: ``best_*.pth``, else the
last ``iter_*.pth``). ``--compare`` adds a tab with a second model beside the first.
The page shows and offers for download exactly what ``tools/infer.py`` writes with the
same ``--input-size`` and ``--max-size``; ``/predict`` is its API (docs/demo.md).
Needs the optional extra: ``pip install "mmdistilldepth[demo]"``.
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
INSTALL_HINT = 'pip install "mmdistilldepth[demo]"'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='A local web demo: depth for your images.')
    parser.add_argument(
        'config', nargs='?', help='model or distiller config (default: the quickstart job)'
    )
    parser.add_argument('checkpoint', nargs='?', help='weights (.pth or .safetensors)')
    parser.add_argument(
        '--compare',
        nargs='+',
        metavar='ARG',
        help='CONFIG [CHECKPOINT] of a second model, shown side by side',
    )
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to listen on (default 127.0.0.1: this machine only)',
    )
    parser.add_argument('--port', type=int, default=7860, help='port (default 7860)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument(
        '--input-size',
        type=int,
        default=518,
        help='lower bound of the network input sides (as tools/infer.py)',
    )
    parser.add_argument(
        '--max-size',
        type=int,
        default=2044,
        help='upper bound of the long side of the network input (as tools/infer.py, default 2044)',
    )
    parser.add_argument(
        '--max-pixels',
        type=int,
        default=None,
        help='refuse uploads with more pixels (default 24 million)',
    )
    parser.add_argument(
        '--share',
        action='store_true',
        help='also serve through a public gradio.live link (needs internet)',
    )
    args = parser.parse_args(argv)
    if args.compare is not None and len(args.compare) > 2:
        parser.error(f'--compare takes CONFIG [CHECKPOINT], got {len(args.compare)} values')
    return args


def require_gradio() -> None:
    """Fail in one line when the optional extra is missing."""
    from mmdistilldepth.utils import UserInputError

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserInputError(
            f'the demo needs gradio (the optional extra "demo"): {INSTALL_HINT}'
        ) from None


def model_specs(args: argparse.Namespace) -> List[Tuple[str, Optional[str]]]:
    """(config, checkpoint) of the served model, then of the compared one if any."""
    from mmdistilldepth.demo.core import QUICKSTART_CONFIG, newest_checkpoint

    if args.config is None:
        specs = [(osp.join(REPO_ROOT, QUICKSTART_CONFIG), newest_checkpoint())]
    else:
        specs = [(args.config, args.checkpoint)]
    if args.compare:
        specs.append((args.compare[0], args.compare[1] if len(args.compare) > 1 else None))
    return specs


def load_models(specs: Sequence[Tuple[str, Optional[str]]], args: argparse.Namespace):
    """A :class:`DemoModel` per spec, loaded as ``tools/infer.py`` loads its model."""
    from mmdistilldepth.apis import init_model
    from mmdistilldepth.demo.core import DemoModel
    from mmdistilldepth.models.checkpoint_loading import CheckpointError
    from mmdistilldepth.utils import UserInputError, check_file, load_config

    models = []
    for config, checkpoint in specs:
        cfg = load_config(config)
        if checkpoint is not None:
            check_file(
                checkpoint,
                'checkpoint',
                'give the path of a .pth or .safetensors file (see docs/models.md)',
            )
        try:
            model = init_model(cfg, checkpoint, device=args.device)
        except CheckpointError as exc:
            raise UserInputError(str(exc)) from exc
        name = osp.basename(checkpoint) if checkpoint else osp.basename(config)
        models.append(DemoModel(name, model, args.input_size, args.max_size))
    if len(models) == 2 and models[0].name == models[1].name:
        models[0].name, models[1].name = f'A: {models[0].name}', f'B: {models[1].name}'
    return models


def main(argv: Optional[Sequence[str]] = None) -> int:
    from mmdistilldepth.utils import one_line_errors

    args = parse_args(argv)
    with one_line_errors('demo'):
        require_gradio()
        models = load_models(model_specs(args), args)

    from mmdistilldepth.demo.app import DemoApp, build_app
    from mmdistilldepth.demo.core import DEFAULT_MAX_PIXELS, OutputStore, write_examples

    store = OutputStore()
    examples = write_examples(osp.join(store.root, 'examples'))
    app = DemoApp(models, args.max_pixels or DEFAULT_MAX_PIXELS, store)
    page = build_app(app, examples)
    page.queue(default_concurrency_limit=1)  # one prediction at a time
    print(
        f'demo: serving {" and ".join(m.name for m in models)} on '
        f'http://{args.host}:{args.port} (Ctrl+C stops)',
        flush=True,
    )
    page.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        allowed_paths=[store.root],
        show_error=True,
        max_file_size='200mb',
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
