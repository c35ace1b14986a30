"""import_tvm keeps torch out of TVM's import, and leaves ``import torch`` working afterwards."""
from __future__ import annotations

import subprocess
import sys
from importlib.util import find_spec

import pytest

pytestmark = pytest.mark.tvm


@pytest.mark.skipif(find_spec("torch") is None or find_spec("tvm") is None, reason="needs torch and tvm installed")
def test_tvm_imports_without_torch_and_torch_still_imports_after():
    code = ("import sys\n"
            "from planctl.lowering.tvm_env import import_tvm\n"
            "import_tvm()\n"
            "assert 'torch' not in sys.modules, 'tvm-ffi imported torch'\n"
            "import torch\n"
            "assert torch.ones(2).sum().item() == 2.0\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.skipif(find_spec("torch") is None or find_spec("tvm") is None, reason="needs torch and tvm installed")
def test_a_process_that_imported_torch_first_keeps_it():
    code = ("import sys, torch\n"
            "from planctl.lowering.tvm_env import import_tvm\n"
            "import_tvm()\n"
            "assert sys.modules['torch'] is torch\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
