"""tools/demo.py as a person uses it: the command line, the served API, the page in a browser.

The server test runs the command of issue 20 (DAv2-S from the reference fixture) in a
subprocess on a free port of 127.0.0.1. The browser test drives the system Chromium
through Playwright (``executable_path``; ``playwright install`` is not needed) and
saves a screenshot; ``MDD_SAVE_SCREENSHOT=1`` also writes it to docs/_static/demo.png.
"""

import os
import os.path as osp
import shutil
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, free_port, load_tool, require_fixture

SCREENSHOT = osp.join(REPO_ROOT, 'docs', '_static', 'demo.png')


def _tool():
    return load_tool('demo.py')


def test_missing_gradio_fails_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'gradio', None)  # import gradio -> ImportError
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(['configs/_base_/models/dav2_vits.py'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0
    assert 'pip install "mmdistilldepth[demo]"' in err and err.startswith('demo: error:')


def test_no_arguments_without_a_trained_job(tmp_path, monkeypatch, capsys):
    tool = _tool()
    monkeypatch.setattr(tool, 'require_gradio', lambda: None)  # fails before gradio matters
    monkeypatch.chdir(tmp_path)  # no work_dirs/cross_context_synthetic here
    with pytest.raises(SystemExit) as exit_info:
        tool.main([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert 'run python tools/train.py configs/quickstart/cross_context_synthetic.py first' in err


def test_compare_takes_at_most_two_values(capsys):
    tool = _tool()
    args = tool.parse_args(['a.py', 'a.pth', '--compare', 'b.py'])
    assert tool.model_specs(args) == [('a.py', 'a.pth'), ('b.py', None)]
    with pytest.raises(SystemExit):
        tool.parse_args(['a.py', '--compare', 'b.py', 'b.pth', 'extra'])
    assert '--compare takes CONFIG [CHECKPOINT]' in capsys.readouterr().err


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """``python tools/demo.py configs/_base_/models/dav2_vits.py FIXTURE --port P``."""
    pytest.importorskip(
        'gradio_client',
        reason='the demo extra is not installed: pip install "mmdistilldepth[demo]"',
    )
    weights = require_fixture('dav2_vits', 'weights_fp16.safetensors')
    port = free_port()
    log = tmp_path_factory.mktemp('server') / 'demo.log'
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False', PYTHONUNBUFFERED='1')
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                osp.join(REPO_ROOT, 'tools', 'demo.py'),
                osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dav2_vits.py'),
                weights,
                '--port',
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f'tools/demo.py exited with {proc.returncode}:\n{log.read_text()}')
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f'tools/demo.py did not answer on {url}:\n{log.read_text()}')
                time.sleep(0.5)
        yield url, weights
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope='module')
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


def test_predict_equals_inference_depth(server, client):
    from gradio_client import handle_file

    from mmdistilldepth.apis import inference_depth, init_model
    from mmdistilldepth.apis.outputs import colorize_disparity

    image = require_fixture('dav2_vits', 'input.png')
    color_path, npy_path = client.predict(handle_file(image), api_name='/predict')
    served = np.load(npy_path)
    model = init_model(
        osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dav2_vits.py'), server[1]
    )
    expected = inference_depth(model, image, 518, 2044)
    assert served.shape == (480, 640) and served.dtype == np.float32
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(cv2.imread(color_path), colorize_disparity(served))


def test_bad_files_are_errors_and_the_server_keeps_answering(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    text = tmp_path / 'readme.png'
    text.write_text('not an image at all')
    with pytest.raises(AppError, match='readme.png cannot be used: not a decodable image'):
        client.predict(handle_file(str(text)), api_name='/predict')
    dot = tmp_path / 'dot.png'
    cv2.imwrite(str(dot), np.full((1, 1, 3), 128, np.uint8))
    with pytest.raises(AppError, match='1x1 px; the demo needs at least 14 px'):
        client.predict(handle_file(str(dot)), api_name='/predict')
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.random.default_rng(0).integers(0, 256, (30, 50, 3), np.uint8))
    _, npy_path = client.predict(handle_file(str(good)), api_name='/predict')
    assert np.load(npy_path).shape == (30, 50)


def _chromium() -> str:
    path = os.environ.get('MDD_CHROMIUM') or next(
        (p for p in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if p), None
    )
    if path is None:
        pytest.skip(
            'no Chromium for the browser test: install the system package '
            '(apt-get install chromium) or set MDD_CHROMIUM to its executable'
        )
    return path


def test_page_in_a_browser(server, tmp_path):
    sync_api = pytest.importorskip(
        'playwright.sync_api', reason='playwright is not installed (the tests extra)'
    )
    executable = _chromium()
    from mmdistilldepth.demo.core import write_examples

    image = write_examples(str(tmp_path / 'examples'))[0]
    shot = tmp_path / 'demo.png'
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=['--no-sandbox'])
        try:
            page = browser.new_page(viewport={'width': 1100, 'height': 800})
            page.goto(server[0])
            page.locator('input[type=file]').first.set_input_files(image)
            page.wait_for_selector('#depth-map img', timeout=60_000)
            page.wait_for_selector('.mdd-colorbar', timeout=30_000)
            assert (
                page.locator('a', has_text='room.ply').count() >= 1 or 'room.ply' in page.content()
            )
            page.wait_for_timeout(500)  # let the slider's images paint
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    from PIL import Image

    with Image.open(shot) as full:
        assert full.width == 1100 and full.height >= 800
        small = full.convert('RGB').quantize(colors=128)  # keeps the PNG small
    small.save(shot, optimize=True)
    assert osp.getsize(shot) < 300_000
    if os.environ.get('MDD_SAVE_SCREENSHOT') == '1':
        shutil.copyfile(shot, SCREENSHOT)
