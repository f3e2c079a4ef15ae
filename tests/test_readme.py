"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict = {}
    for block in blocks:  # later blocks may use names from earlier ones, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    assert float(namespace["loss"](namespace["params"])) < 0.5  # it starts at 1.0
    # The sweep example's printed claim.
    best = namespace["result"].best("final_loss", mode="min")
    assert best == {"learning_rate": 0.1, "decay": 0.99}
