"""planctl.lowering.target: the target document's TVM target and its device; the host check
(planctl.lowering.compat.require) as apply's lowering stage makes it."""
from __future__ import annotations

from pathlib import Path

import pytest

tvm = pytest.importorskip("tvm")
from planctl.documents.load import load_target  # noqa: E402
from planctl.errors import DocumentError, HostMismatchError  # noqa: E402
from planctl.lowering.compat import require  # noqa: E402
from planctl.lowering.target import device_kind, tvm_target  # noqa: E402

pytestmark = pytest.mark.tvm
TARGETS = Path(__file__).resolve().parents[2] / "targets"


def _target(tmp_path: Path, **tvm_dict) -> "object":
    text = (TARGETS / "x86-64-avx2.yaml").read_text().replace("mcpu: haswell", f"mcpu: {tvm_dict['mcpu']}")
    (tmp_path / "targets").mkdir(exist_ok=True)
    path = tmp_path / "targets" / "x86-64-avx2.yaml"
    path.write_text(text)
    return load_target(path)


def test_the_document_dict_becomes_the_tvm_target():
    document = load_target(TARGETS / "x86-64-avx2.yaml")
    target = tvm_target(document)
    assert target.kind.name == "llvm" and str(target.attrs["mcpu"]) == "haswell"
    assert device_kind(document) == "cpu"
    assert require(document, "x86-64-avx2").runs   # this host has AVX2 and FMA (CI's hosts do)


def test_an_mcpu_llvm_does_not_know_is_a_document_error(tmp_path):
    document = _target(tmp_path, mcpu="haswel")
    with pytest.raises(DocumentError, match="LLVM does not know mcpu 'haswel'") as err:
        tvm_target(document)
    assert err.value.file.endswith("x86-64-avx2.yaml")
    assert err.value.code == "PLN118"   # bad-target-tvm, not PLN100's unparsable YAML (the new user)
    assert "mcpu: haswel" in document.path.read_text().splitlines()[err.value.line - 1]


def test_an_mattr_feature_llvm_does_not_know_is_refused_at_its_entry(tmp_path, capfd):
    """helper-40: LLVM ignored `+notafeature` with a line on stderr, and apply promoted a build without
    it; a typo such as +avx512vnn would silently lose VNNI."""
    document = _target(tmp_path, mcpu='haswell\n    mattr: ["+avx2", "+avx512vnn"]')
    with pytest.raises(DocumentError, match="LLVM knows no feature '\\+avx512vnn'") as err:
        tvm_target(load_target(document.path))
    assert err.value.code == "PLN118" and err.value.pointer == "/spec/tvm/mattr/1"
    assert '"+avx512vnn"' in document.path.read_text().splitlines()[err.value.line - 1]
    with pytest.raises(HostMismatchError, match="LLVM knows no feature"):
        require(load_target(document.path), "x86-64-avx2")
    assert "not a recognized feature" not in capfd.readouterr().err   # LLVM's own line stays off the terminal
    fine = _target(tmp_path, mcpu='haswell\n    mattr: ["+avx2", "-avx512f"]')
    assert tvm_target(load_target(fine.path)).kind.name == "llvm"


def test_an_option_tvm_refuses_is_located_at_its_key(tmp_path):
    document = _target(tmp_path, mcpu="haswell")
    document.path.write_text(document.path.read_text().replace("mcpu: haswell", "mcpuu: haswell"))
    with pytest.raises(DocumentError, match="Unknown config option 'mcpuu'") as err:
        tvm_target(load_target(document.path))
    assert "mcpuu: haswell" in document.path.read_text().splitlines()[err.value.line - 1]


def test_a_cuda_target_without_a_gpu_fails_before_any_build():
    document = load_target(TARGETS / "nvidia-h200.yaml")
    assert device_kind(document) == "cuda"
    if tvm.cuda(0).exist:
        pytest.skip("this host has a GPU")
    with pytest.raises(HostMismatchError, match="lacks a visible CUDA GPU") as err:
        require(document, "nvidia-h200")
    assert err.value.file.endswith("nvidia-h200.yaml") and err.value.pointer == "/spec/tvm/arch"
