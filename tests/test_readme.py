"""The README's promises: the set-up commands and the drop-in Cerebro example."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "examples" / "custom_cerebro.py"


def test_readme_opens_with_the_two_setup_commands():
    block = README.split("<!-- setup-commands -->", 1)[1].split("```bash", 1)[1].split("```")[0]
    lines = [x for x in block.strip().splitlines() if x.strip()]
    assert len(lines) == 2
    assert lines[0].endswith("python -m strategies.run --strategy hybrid_top5")
    assert "-c constraints.txt" in lines[0] and "-c constraints.txt" in lines[1]
    assert lines[1].endswith("python -m pytest")
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_readme_example_is_the_example_file():
    m = re.search(r"<!-- example: examples/custom_cerebro.py -->\s*```python\n(.*?)```", README,
                  re.S)
    assert m, "README must embed examples/custom_cerebro.py"
    assert m.group(1).strip() == EXAMPLE.read_text().strip()


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    """Run the example verbatim except for tiny training settings and a temporary bundle dir."""
    src = EXAMPLE.read_text()
    line = 'run = RunConfig(universe="paper", seed=0)'
    assert line in src
    tiny = ('run = RunConfig(universe="paper", seed=0, timesteps=256, progress=False, '
            f'bundle_dir={str(tmp_path)!r}, env_overrides={{"window": 4}}, '
            'ppo_overrides={"n_steps": 128, "batch_size": 64, "n_epochs": 1, '
            '"net_arch": (16, 16)}, lstm_overrides={"lookback": 8, "hidden": 8, '
            '"max_epochs": 2, "patience": 1})')
    script = tmp_path / "example.py"
    script.write_text(src.replace(line, tiny))
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    m = re.search(r"(\d+) weeks out of sample; rejected orders (\d+)", out)
    assert m and int(m.group(1)) > 100 and int(m.group(2)) == 0, out
