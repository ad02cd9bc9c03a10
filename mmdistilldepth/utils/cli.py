"""Small helpers shared by the command-line tools."""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config


class UserInputError(Exception):
    """A problem with what the user gave (a path, a config value), said in one line."""


def add_runner_args(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """The flags every runner tool takes, last: ``--launcher``, ``--local-rank`` and
    ``--cfg-options`` (last of all, as in OpenMMLab tools).
    """
    from mmengine.config import DictAction

    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='how processes are launched (pytorch = torchrun)',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override config values, e.g. {cfg_example}; a key that the '
        'config does not have must be an argument of the component it '
        'goes to, and a top-level variable (max_iters=...) re-reads the '
        'config with it (docs/get_started.md, command-line conventions)',
    )


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local-rank``."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config and apply ``--cfg-options``, or fail with one line saying why.

    Args:
        path (str): the config file.
        cfg_options (dict, optional): ``--cfg-options`` as ``DictAction`` parses
            them, checked and applied by :func:`apply_cfg_options`.
    """
    if not osp.isfile(path):
        raise UserInputError(
            f'config file {path} does not exist; give the path of a config '
            'such as configs/quickstart/cross_context_synthetic.py'
        )
    return apply_cfg_options(Config.fromfile(path), cfg_options, path)


def check_file(path: str, what: str, fix: str) -> None:
    if not osp.isfile(path):
        raise UserInputError(f'{what} {path} does not exist; {fix}')


@contextmanager
def one_line_errors(tool: str) -> Iterator[None]:
    """Print expected failures (missing files, bad input) as one line and exit 2."""
    from mmdistilldepth.models.checkpoint_loading import CheckpointError

    try:
        yield
    except (UserInputError, FileNotFoundError, CheckpointError) as exc:
        message = f'missing file: {exc}' if isinstance(exc, FileNotFoundError) else str(exc)
        print(f'{tool}: error: {message}', file=sys.stderr)
        sys.exit(2)


# --cfg-options: checked keys, and top-level variables that take effect ----------------
#
# The rules (docs/get_started.md, "Command-line conventions"):
# 1. A key that the config has is always accepted (its value is replaced).
# 2. A new top-level key must be a field the runner reads (RUNNER_FIELDS).
# 3. A new key inside a component dict (one with ``type``) must be an argument of
#    that component's constructor, found through the registries; a component that
#    cannot be resolved, or whose constructor takes ``**kwargs``, accepts any key.
# 4. A new key inside a plain dict (no ``type``) is accepted where MMEngine gives the
#    dict a meaning (dataloader arguments, env_cfg, randomness, named hooks, ...);
#    elsewhere (e.g. ``model.student.encoder``) the dict's keys are fixed.
# 5. A top-level variable of a config file (``max_iters = 600``, not a runner field)
#    is used to fill other fields while the file is read; overriding it re-reads the
#    config files with the new value, so that every field it fills follows.

#: Top-level keys that MMEngine's Runner (or a tool) reads, beyond its arguments.
EXTRA_RUNNER_FIELDS = frozenset(
    {
        'runner_type',
        'model_wrapper_cfg',
        'find_unused_parameters',
        'sync_bn',
        'compile',
        'strategy',
        'activation_checkpointing',
        'efficient_conv_bn_eval',
        'custom_imports',
        'work_dir',
        'launcher',
        'auto_scale_lr',
        'cfg',
    }
)
#: Keys a builder takes out of a component dict before calling its constructor.
BUILDER_KEYS = frozenset(
    {
        'type',
        '_scope_',
        '_delete_',
        'priority',
        'constructor',
        'paramwise_cfg',
        'convert_to_iter_based',
    }
)
#: Plain (``type``-less) dicts whose keys MMEngine defines: path -> keys, None = any.
PLAIN_DICT_KEYS = {
    ('env_cfg',): {'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'},
    ('env_cfg', 'mp_cfg'): {'mp_start_method', 'opencv_num_threads'},
    ('env_cfg', 'dist_cfg'): None,
    ('randomness',): {'seed', 'diff_rank_seed', 'deterministic'},
    ('auto_scale_lr',): {'enable', 'base_batch_size'},
    ('default_hooks',): None,
    ('model_wrapper_cfg',): None,
}
#: Plain top-level dicts that MMEngine builds as this type when ``type`` is absent.
IMPLIED_TYPES = dict(
    log_processor='LogProcessor',
    visualizer='Visualizer',
    optim_wrapper='OptimWrapper',
    val_cfg='ValLoop',
    test_cfg='TestLoop',
    train_cfg='IterBasedTrainLoop',
)


def runner_fields() -> frozenset:
    """The top-level keys a config may add: the Runner's arguments and what it reads."""
    import inspect

    from mmengine.runner import Runner

    return frozenset(inspect.signature(Runner.__init__).parameters) - {'self'} | EXTRA_RUNNER_FIELDS


def _nearest(word: str, candidates, n: int = 3):
    import difflib

    candidates = sorted({str(c) for c in candidates})
    close = difflib.get_close_matches(word, candidates, n=n, cutoff=0.5)
    return close or candidates[:n]


def _constructor_params(type_name) -> Optional[frozenset]:
    """Argument names of the registered ``type_name``; None when any key may do."""
    import inspect

    from mmdistilldepth import registry

    if isinstance(type_name, str):
        found = [
            r.get(type_name) for r in vars(registry).values() if type(r).__name__ == 'Registry'
        ]
        found = [f for f in found if f is not None]
    else:
        found = [type_name] if callable(type_name) else []
    if not found:
        return None
    params = set()
    for obj in found:
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):
            return None
        if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            return None
        params.update(signature.parameters)
    return frozenset(params)


def _dataloader_params() -> frozenset:
    import inspect

    from torch.utils.data import DataLoader

    return frozenset(inspect.signature(DataLoader).parameters)


def _accepted_new_keys(node: dict, path: Tuple[str, ...]) -> Optional[frozenset]:
    """What a new key of ``node`` (at ``path``) may be; None = anything."""
    type_name = node.get('type')
    if type_name is None and len(path) == 1:
        type_name = IMPLIED_TYPES.get(path[0])
    if type_name is not None:
        params = _constructor_params(type_name)
        if params is not None and path == ('train_cfg',) and 'type' not in node:
            params = (
                params | (_constructor_params('EpochBasedTrainLoop') or frozenset()) | {'by_epoch'}
            )
        return None if params is None else params | BUILDER_KEYS
    if path in PLAIN_DICT_KEYS:
        keys = PLAIN_DICT_KEYS[path]
        return None if keys is None else frozenset(keys)
    if len(path) == 1 and path[0].endswith('_dataloader'):
        return _dataloader_params()
    if node and all(isinstance(v, dict) and 'type' in v for v in node.values()):
        return None  # a collection of named components: a new name adds one
    return frozenset()


def check_override_key(cfg: Config, key: str, value=None) -> None:
    """Raise :class:`UserInputError` when ``--cfg-options key=...`` names nothing.

    Applies rules 1-4 of this module (see the comment above ``EXTRA_RUNNER_FIELDS``).

    Raises:
        UserInputError: one line naming the key, where it failed and the nearest
            valid keys.
    """
    parts = key.split('.')
    option = f'--cfg-options {key}'
    if parts[0] not in cfg:
        fields = runner_fields()
        if parts[0] in fields:
            return
        nearest = ' or '.join(_nearest(parts[0], set(cfg) | fields))
        raise UserInputError(
            f'{option}: the config has no top-level key {parts[0]!r} and the runner reads '
            f'none of that name; did you mean {nearest}?'
        )
    node, path = cfg.to_dict(), ()
    for part in parts:
        where = '.'.join(path) or 'the config'
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UserInputError(
                    f'{option}: {where} is a list of {len(node)} items; '
                    f'index it with 0..{len(node) - 1}, not {part!r}'
                )
            node, path = node[int(part)], path + (part,)
            continue
        if not isinstance(node, dict):
            shown = repr(node) if len(repr(node)) < 60 else repr(node)[:56] + ' ...'
            raise UserInputError(
                f'{option}: {where} is a {type(node).__name__} ({shown}), '
                f'not a dict; set it whole, e.g. --cfg-options {where}=...'
            )
        if part in node:
            node, path = node[part], path + (part,)
            continue
        accepted = _accepted_new_keys(node, path)
        if accepted is None or part in accepted:
            return  # a new argument of a component, or a new entry of an open dict
        owner = node.get('type') or (IMPLIED_TYPES.get(path[0]) if len(path) == 1 else None)
        candidates = set(node) | set(accepted) - BUILDER_KEYS
        hint = ', '.join(f'{where}.{c}' for c in _nearest(part, candidates))
        if owner:
            why = f'{where} has no key {part!r}, and {owner} takes no argument of that name'
        else:
            why = (
                f'{where} has no key {part!r} (its keys are fixed by the config: add new ones '
                'in a config that inherits it)'
            )
        raise UserInputError(f'{option}: {why}; nearest valid: {hint}')


def config_files(path: str) -> List[str]:
    """A config file and all its ``_base_`` files (recursively), the file first."""
    import ast

    files, todo = [], [osp.abspath(path)]
    while todo:
        current = todo.pop(0)
        if current in files:
            continue
        files.append(current)
        with open(current, encoding='utf-8') as f:
            tree = ast.parse(f.read(), current)
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets
            ):
                try:
                    bases = ast.literal_eval(node.value)
                except ValueError:
                    continue
                for base in [bases] if isinstance(bases, str) else bases:
                    if '::' not in base:
                        todo.append(osp.normpath(osp.join(osp.dirname(current), base)))
    return files


def _assignments(source: str, names) -> Dict[str, list]:
    """``{name: [value nodes]}`` of the plain top-level assignments ``name = ...``."""
    import ast

    found: Dict[str, list] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found.setdefault(target.id, []).append(node.value)
    return found


def _rewrite(source: str, values: Dict[str, object]) -> str:
    """``source`` with the value of each top-level ``name = ...`` replaced by ``values``."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode('utf-8')))
    data = source.encode('utf-8')
    edits = sorted(
        (
            (
                offsets[v.lineno - 1] + v.col_offset,
                offsets[v.end_lineno - 1] + v.end_col_offset,
                repr(values[name]),
            )
            for name, nodes in _assignments(source, values).items()
            for v in nodes
        ),
        reverse=True,
    )
    for start, end, text in edits:
        data = data[:start] + text.encode('utf-8') + data[end:]
    return data.decode('utf-8')


def reload_with_variables(path: str, values: Dict[str, object]) -> Config:
    """Read a config again with its top-level variables set to ``values``.

    Every file of the config (the file and its ``_base_`` files) that assigns one
    of the variables at top level is copied, with that assignment's value
    replaced, into a temporary tree of the same layout, and the copy is read; so
    every field that a variable fills follows it (``max_iters`` fills
    ``train_cfg.max_iters`` and the scheduler's ``end``).

    Raises:
        UserInputError: a variable is assigned by no file of the config (it cannot
            be set this way).
    """
    import tempfile

    files = config_files(path)
    sources = {}
    for name in files:
        with open(name, encoding='utf-8') as f:
            sources[name] = f.read()
    assigned = set()
    for source in sources.values():
        assigned.update(_assignments(source, values))
    missing = [name for name in values if name not in assigned]
    if missing:
        raise UserInputError(
            f'--cfg-options {missing[0]}: no file of {path} assigns {missing[0]} at top '
            'level, so it cannot be set from the command line; set the fields it fills'
        )
    root = osp.commonpath([osp.dirname(f) for f in files])
    with tempfile.TemporaryDirectory(prefix='cfg-options-') as tmp:
        for name, source in sources.items():
            target = osp.join(tmp, osp.relpath(name, root))
            os.makedirs(osp.dirname(target), exist_ok=True)
            with open(target, 'w', encoding='utf-8') as f:
                f.write(_rewrite(source, values))
        reloaded = Config.fromfile(osp.join(tmp, osp.relpath(osp.abspath(path), root)))
    return Config(reloaded.to_dict(), filename=path)


def _paths_of_value(node, value, skip: str, path: str = '') -> List[str]:
    """Dotted paths below ``node`` whose value equals ``value`` (``skip``: a top key)."""
    found = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, (list, tuple))
        else ()
    )
    for key, child in items:
        child_path = f'{path}.{key}' if path else str(key)
        if child_path == skip:
            continue
        if child == value and type(child) is type(value):
            found.append(child_path)
        elif isinstance(child, (dict, list, tuple)):
            found.extend(_paths_of_value(child, value, skip, child_path))
    return found


def check_schedulers(cfg: Config, variables: Dict[str, object]) -> None:
    """Refuse, in one line, variables that leave a scheduler ending before it begins.

    A schedule written with a fixed warm-up (``begin=50``) and ``end=max_iters``
    cannot follow ``max_iters=3``; MMEngine would fail deep in the runner.

    Raises:
        UserInputError: naming the scheduler and the field to set instead.
    """
    schedulers = cfg.get('param_scheduler') or []
    for index, scheduler in enumerate([schedulers] if isinstance(schedulers, dict) else schedulers):
        begin, end = scheduler.get('begin', 0), scheduler.get('end')
        if isinstance(begin, (int, float)) and isinstance(end, (int, float)) and end <= begin:
            given = ' '.join(f'{k}={v!r}' for k, v in variables.items())
            fields = [
                f'{p}={v!r}'
                for k, v in variables.items()
                for p in _paths_of_value(cfg.to_dict(), v, skip=k)
                if p.endswith('.' + k)
            ]
            instead = (
                f'set {" ".join(fields)} instead, which changes only that field'
                if fields
                else 'set the fields you mean directly'
            )
            raise UserInputError(
                f'--cfg-options {given}: the config read with it has param_scheduler.{index} '
                f'({scheduler.get("type")}) from iteration {begin} to {end}, which cannot '
                f'run; {instead}, or give param_scheduler.{index}.begin as well'
            )


def apply_cfg_options(cfg: Config, options: Optional[dict], path: str) -> Config:
    """Check ``--cfg-options`` and apply them; returns the resulting config.

    Top-level variables of the config files (rule 5) are set by reading the files
    again (:func:`reload_with_variables`); the other keys are checked
    (:func:`check_override_key`) and merged with ``Config.merge_from_dict``.

    Raises:
        UserInputError: a key that names nothing, in one line with the nearest keys.
    """
    if not options:
        return cfg
    fields = runner_fields()
    variables = {k: v for k, v in options.items() if '.' not in k and k in cfg and k not in fields}
    for key in options:
        head = key.split('.')[0]
        if '.' in key and head in cfg and head not in fields:
            uses = ', '.join(_paths_of_value(cfg.to_dict(), cfg[head], skip=head)[:4])
            raise UserInputError(
                f'--cfg-options {key}: {head} is a variable of the config, used only while '
                f'the file is read (to fill {uses or "other fields"}); give it whole '
                f'(--cfg-options {head}=...) or set the fields it fills'
            )
    if variables:
        cfg = reload_with_variables(path, variables)
    others = {k: v for k, v in options.items() if k not in variables}
    for key, value in others.items():
        check_override_key(cfg, key, value)
    cfg.merge_from_dict(others)
    if variables:
        check_schedulers(cfg, variables)
    return cfg
