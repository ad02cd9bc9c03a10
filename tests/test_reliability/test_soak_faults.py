"""tools/analysis/soak_faults.py: its plan and its bookkeeping (the run itself is CI's)."""

from tests.conftest import load_tool

soak = load_tool('analysis', 'soak_faults.py')


def test_the_plan_is_seeded_covers_every_kind_and_puts_full_disks_on_saves():
    plan = soak.make_plan(12, 48, 4, seed=0, kinds=soak.KINDS)
    assert plan == soak.make_plan(12, 48, 4, seed=0, kinds=soak.KINDS)
    assert plan != soak.make_plan(12, 48, 4, seed=1, kinds=soak.KINDS)
    assert len(plan) == 12 and {f['kind'] for f in plan} == set(soak.KINDS)
    assert len({f['iter'] for f in plan}) == 12  # one fault per iteration
    assert all(2 <= f['iter'] < 48 for f in plan)
    for fault in plan:
        if fault['kind'] == 'enospc':
            assert fault['iter'] % 4 == 0 and fault['rank'] == 0
        if fault['kind'] == 'truncate':
            assert fault['rank'] == 0


def _progress(k, n=12):
    return f'Iter(train) [{k:2d}/{n}]  lr: 1e-4'


def test_the_books_count_lost_iterations_and_check_each_resume():
    start = 'config: x.py; environment, config and hooks: x.log'
    log = [start, *[_progress(k) for k in (1, 2, 3)], 'checkpoint saved: /w/iter_2.pth']
    log += [_progress(4), 'checkpoint saved: /w/iter_4.pth', _progress(5)]
    log += ['Saving checkpoint at 6 iterations', _progress(6)]  # the save did not complete
    log += [_progress(7)]  # killed here: the last whole save is 4
    log += [start, 'Advance dataloader 4 steps', *[_progress(k) for k in (5, 6, 7, 8)]]
    log += ['fault injection: truncate after iteration 8', 'checkpoint saved: /w/iter_8.pth']
    log += [start, 'Advance dataloader 6 steps', _progress(7)]  # wrong: 6 was not saved
    books = soak.account('\n'.join(log))
    assert books['rounds'] == 3
    assert books['resumes'][0] == dict(reached=7, resumed_from=4, last_whole_save=4)
    assert books['resumes'][1] == dict(reached=8, resumed_from=6, last_whole_save=4)
    assert books['iterations_lost'] == (7 - 4) + (8 - 6)
