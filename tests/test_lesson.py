"""lesson.ipynb: its code runs top to bottom (short), and it is committed with its outputs and
pictures."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

NOTEBOOK = ROOT / 'lesson.ipynb'
FULL_SCALE, TEST_SCALE = 'STEP_SCALE = 1.0', 'STEP_SCALE = 0.02'


def code_cells():
    cells = json.loads(NOTEBOOK.read_text())['cells']
    return [''.join(c['source']) for c in cells if c['cell_type'] == 'code']


def test_the_lesson_runs_top_to_bottom(tmp_path):
    """Every code cell, in order, in one namespace, in a fresh process; its training runs cut short
    by the one variable the notebook defines for that. No Jupyter needed."""
    pytest.importorskip('matplotlib')
    source = '\n\n'.join(code_cells())
    assert source.count(FULL_SCALE) == 1
    script = tmp_path / 'lesson.py'
    script.write_text(source.replace(FULL_SCALE, TEST_SCALE))
    # as in Jupyter
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'TMPDIR': str(tmp_path), 'PYTHONPATH': str(ROOT)}
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'round trip' in result.stdout and 'width only' in result.stdout


def test_the_lesson_is_committed_with_its_outputs():
    cells = [c for c in json.loads(NOTEBOOK.read_text())['cells'] if c['cell_type'] == 'code']
    counts = [c['execution_count'] for c in cells]
    assert counts == list(range(1, len(cells) + 1))  # run once, top to bottom
    outputs = [o for c in cells for o in c['outputs']]
    assert not [o for o in outputs if o['output_type'] == 'error']
    # the matrices, alpha, the V-cycle
    assert sum('image/png' in o.get('data', {}) for o in outputs) >= 3
    markdown = ''.join(''.join(c['source']) for c in json.loads(NOTEBOOK.read_text())['cells'])
    exercises = re.findall(r'^\*\*\d+\.\*\*', markdown.split('## 6. Exercises')[-1], flags=re.M)
    assert exercises  # each answered, the answer hidden
    assert markdown.count('<details>') == markdown.count('</details>') == len(exercises)
