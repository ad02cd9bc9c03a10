"""Soak run: the tiny quickstart on 2 processes meets faults at random iterations.

    python tools/analysis/soak_faults.py [--faults 12] [--seed 0] [--max-iters 48]
                                         [--interval 4] [--work-dir work_dirs/soak_faults]
    python tools/analysis/soak_faults.py --short     # CI: 3 faults, 12 iterations

1. A fault-free run (``tools/dist_train.sh``, 2 CPU processes, gloo) gives the
   reference weights.
2. A plan of faults (seeded) from docs/reliability.md's table is drawn: a rank killed
   (SIGKILL), SIGTERM and SIGUSR1 (preemption) on one rank, a data-loading worker
   killed, the newest checkpoint truncated as the node dies, a full disk at a
   checkpoint save. ``FaultInjectionHook`` injects each once, at its iteration and rank.
3. The faulty run is restarted as a cluster would: ``torchrun --max-restarts``
   restarts the group (which resumes by itself), and when torchrun gives up the job is
   "requeued" (the same command with ``--resume``), until the schedule is finished.
4. The report: faults injected and survived, group restarts and requeues, iterations
   lost (trained twice) and whether each restart resumed from the last whole
   checkpoint before its fault, and whether the final weights equal the reference's.

The report is printed as Markdown and written to ``WORK_DIR/report.md`` and
``report.json``; the exit status is 1 when a check failed. docs/reliability.md shows
a full run's report.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import random
import re
import shutil
import socket
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from tests.test_reliability.tiny_quickstart import (  # noqa: E402
    QUICKSTART,
    child_env,
    different_tensors,
    fault_config,
    fault_options,
    student_weights,
)

#: Fault kinds in the soak (FaultInjectionHook); all keep the run deterministic.
KINDS = ('kill', 'sigterm', 'sigusr1', 'kill_worker', 'truncate', 'enospc')
SHORT_KINDS = ('kill', 'sigterm', 'truncate')
PROGRESS = re.compile(r'Iter\(train\) \[\s*(\d+)/(\d+)\]')
ADVANCE = re.compile(r'Advance dataloader (\d+) steps')
SAVED = re.compile(r'checkpoint saved: .*iter_(\d+)\.pth')  # complete (AtomicCheckpointHook)
INJECTED = re.compile(r'fault injection: (\w+) after iteration (\d+)')
ROUND_START = 'environment, config and hooks:'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--faults', type=int, default=12, help='faults to inject (>= 1)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the plan')
    parser.add_argument('--max-iters', type=int, default=48)
    parser.add_argument('--interval', type=int, default=4, help='checkpoint interval')
    parser.add_argument('--max-restarts', type=int, default=2, help='torchrun --max-restarts')
    parser.add_argument('--work-dir', default='work_dirs/soak_faults')
    parser.add_argument(
        '--short', action='store_true', help='CI: 3 faults (kill, sigterm, truncate), 12 iterations'
    )
    args = parser.parse_args(argv)
    if args.short:
        args.faults, args.max_iters, args.interval = len(SHORT_KINDS), 12, 2
    if args.max_iters < args.faults + 3:
        parser.error('--max-iters must leave room for the faults (>= faults + 3)')
    return args


def make_plan(num_faults: int, max_iters: int, interval: int, seed: int, kinds) -> list:
    """Seeded faults at distinct iterations; every kind at least once when there is room.

    A full disk is planned at a checkpoint iteration (where it has a save to spoil)
    and, like a truncated checkpoint, on rank 0 (the rank that writes them).
    """
    rng = random.Random(seed)
    chosen = [kinds[i % len(kinds)] for i in range(num_faults)]
    rng.shuffle(chosen)
    saves = [i for i in range(interval, max_iters, interval)]
    free = list(range(2, max_iters))
    plan = []
    for fault_id, kind in enumerate(chosen):
        if kind == 'enospc':
            options = [i for i in saves if i in free] or free
        else:
            options = free
        step = rng.choice(options)
        free.remove(step)
        rank = 0 if kind in ('truncate', 'enospc') else rng.randrange(2)
        plan.append(dict(id=fault_id, iter=step, rank=rank, kind=kind))
    return sorted(plan, key=lambda f: f['iter'])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(config, work_dir, options, max_restarts, resume, log_path, timeout=900):
    """One job: tools/dist_train.sh with 2 processes; returns (exit status, log text)."""
    env = dict(
        child_env(),
        MASTER_ADDR='127.0.0.1',
        PORT=str(_free_port()),
        MAX_RESTARTS=str(max_restarts),
        PATH=os.pathsep.join([osp.dirname(sys.executable), os.environ.get('PATH', '')]),
        PYTHONPATH=os.pathsep.join([REPO_ROOT, os.environ.get('PYTHONPATH', '')]),
    )
    command = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2']
    command += ['--work-dir', work_dir] + (['--resume'] if resume else [])
    command += ['--cfg-options', *options]
    with open(log_path, 'w') as log:
        result = subprocess.run(
            command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
        )
    with open(log_path, errors='replace') as f:
        return result.returncode, f.read()


def account(log: str) -> dict:
    """Rounds, iterations trained twice, and whether each resume was the last whole save.

    Reads rank 0's console lines in order: a round starts with the runner's
    ``environment, config and hooks`` line; ``Iter(train) [k/N]`` is progress;
    ``Advance dataloader N steps`` is where a resumed round starts; ``checkpoint
    saved: .../iter_N.pth`` is a save that completed.
    """
    rounds, lost, resumes = 0, 0, []
    reached, good_saves, cut = 0, [0], set()
    pending_start = False
    for line in log.splitlines():
        if ROUND_START in line:
            rounds += 1
            pending_start = rounds > 1
            continue
        match = ADVANCE.search(line)
        if match or (pending_start and PROGRESS.search(line)):
            start = int(match.group(1)) if match else 0
            expected = max(s for s in good_saves if s <= reached) if good_saves else 0
            resumes.append(dict(reached=reached, resumed_from=start, last_whole_save=expected))
            lost += reached - start
            reached, pending_start = start, False
            good_saves = [s for s in good_saves if s <= start]
        match = PROGRESS.search(line)
        if match:
            reached = max(reached, int(match.group(1)))
        match = SAVED.search(line)
        if match and int(match.group(1)) not in cut:
            good_saves.append(int(match.group(1)))
        match = INJECTED.search(line)  # rank 0's own faults: its last log line is missing
        if match:
            step = int(match.group(2))
            if match.group(1) != 'enospc':  # armed before its iteration
                reached = max(reached, step)
            if match.group(1) == 'truncate':  # saved (logged next), then cut in half
                cut.add(step)
    return dict(rounds=rounds, iterations_lost=lost, resumes=resumes)


def main(argv=None) -> int:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    options = fault_options(args.max_iters, args.interval, 1)  # 1 worker: kill_worker
    final_name = f'iter_{args.max_iters}.pth'
    began = time.time()

    print(f'soak: fault-free reference run ({args.max_iters} iterations, 2 processes)')
    status, _ = dist_train(
        QUICKSTART, osp.join(work_dir, 'reference'), options, 0, False,
        osp.join(work_dir, 'reference.log'),
    )  # fmt: skip
    if status != 0:
        print(f'soak: the reference run failed (status {status}): {work_dir}/reference.log')
        return 1
    reference = student_weights(osp.join(work_dir, 'reference', final_name))
    reference_s = time.time() - began

    kinds = SHORT_KINDS if args.short else KINDS
    plan = make_plan(args.faults, args.max_iters, args.interval, args.seed, kinds)
    config = fault_config(work_dir, plan)
    run_dir = osp.join(work_dir, 'run')
    jobs, logs = [], []
    for job in range(args.faults + 3):
        log_path = osp.join(work_dir, f'job_{job}.log')
        print(f'soak: job {job} (torchrun --max-restarts {args.max_restarts}, --resume)')
        status, log = dist_train(config, run_dir, options, args.max_restarts, True, log_path)
        jobs.append(status)
        logs.append(log)
        if status == 0 and osp.isfile(osp.join(run_dir, final_name)):
            break
    finished = osp.isfile(osp.join(run_dir, final_name))
    done_path = osp.join(work_dir, 'plan.json.done')
    done = set()
    if osp.isfile(done_path):
        with open(done_path) as f:
            done = {int(line) for line in f if line.strip()}
    injected = [f for f in plan if f['id'] in done]
    equal = finished and not different_tensors(
        student_weights(osp.join(run_dir, final_name)), reference
    )
    books = account('\n'.join(logs))
    exact_resumes = all(r['resumed_from'] == r['last_whole_save'] for r in books['resumes'])
    report = dict(
        seed=args.seed,
        max_iters=args.max_iters,
        checkpoint_interval=args.interval,
        faults_planned=len(plan),
        faults_injected=len(injected),
        faults_survived=len(injected) if finished else 0,
        by_kind={k: sum(f['kind'] == k for f in injected) for k in kinds},
        jobs=len(jobs),
        requeues=len(jobs) - 1,
        group_starts=books['rounds'],
        iterations_lost=books['iterations_lost'],
        every_resume_from_the_last_whole_checkpoint=exact_resumes,
        finished=finished,
        final_weights_equal_fault_free=equal,
        plan=plan,
        resumes=books['resumes'],
        reference_s=round(reference_s, 1),
        total_s=round(time.time() - began, 1),
    )
    ok = finished and equal and exact_resumes and len(injected) == len(plan)
    markdown = render(report, ok)
    print(markdown)
    with open(osp.join(work_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(work_dir, 'report.md'), 'w') as f:
        f.write(markdown)
    return 0 if ok else 1


def render(report: dict, ok: bool) -> str:
    lines = [
        f'Soak run: seed {report["seed"]}, {report["max_iters"]} iterations, checkpoint '
        f'every {report["checkpoint_interval"]}, 2 CPU processes (gloo).',
        '',
        '| | |',
        '|---|---|',
        f'| faults injected / planned | {report["faults_injected"]} / {report["faults_planned"]} |',
        f'| faults survived | {report["faults_survived"]} |',
        '| by kind | ' + ', '.join(f'{k} {n}' for k, n in report['by_kind'].items()) + ' |',
        f'| jobs (1 + requeues) | {report["jobs"]} |',
        f'| process-group starts (torchrun restarts included) | {report["group_starts"]} |',
        f'| iterations lost (trained twice) | {report["iterations_lost"]} |',
        '| every resume from the last whole checkpoint before its fault | '
        f'{report["every_resume_from_the_last_whole_checkpoint"]} |',
        f'| schedule finished | {report["finished"]} |',
        f"| final weights equal the fault-free run's (torch.equal) | "
        f'{report["final_weights_equal_fault_free"]} |',
        f'| wall time (reference run / all) | {report["reference_s"]} s / {report["total_s"]} s |',
        '',
        'Faults (iteration: kind on rank): '
        + ', '.join(f'{f["iter"]}: {f["kind"]} on {f["rank"]}' for f in report['plan']),
        '',
        'Resumes (reached -> resumed from, last whole checkpoint): '
        + ', '.join(
            f'{r["reached"]} -> {r["resumed_from"]} ({r["last_whole_save"]})'
            for r in report['resumes']
        ),
        '',
        f'soak: {"PASSED" if ok else "FAILED"}',
        '',
    ]
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
