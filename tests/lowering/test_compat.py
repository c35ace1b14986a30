"""Whether this host can run a target's code: LLVM ISA features against the CPU's flags, the CUDA
arch against the GPU; the host comes from the test-only fingerprint override."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planctl.cli.main import main

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
REPO = Path(__file__).resolve().parents[2]
AVX2 = ["sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "aes", "pclmulqdq", "avx", "avx2", "fma", "f16c",
        "bmi1", "bmi2", "movbe", "adx", "abm"]
AVX512 = [*AVX2, "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni"]


@pytest.fixture
def host(tmp_path: Path, monkeypatch):
    """host(flags, gpus=None): pretend this machine has these CPU flags (and GPUs)."""
    def pretend(flags: list[str], gpus: list[dict] | None = None) -> None:
        data = {"cpu": {"model": "Test CPU", "machine": "x86_64", "flags": flags}}
        if gpus is not None:
            data["gpus"] = gpus
        path = tmp_path / "host.json"
        path.write_text(json.dumps(data))
        monkeypatch.setenv("PLANCTL_HOST_FINGERPRINT", str(path))
    return pretend


def test_an_avx2_host_runs_the_avx2_target_and_not_the_avx512_one(host):
    from planctl.lowering.compat import support

    host(AVX2)
    assert support({"kind": "llvm", "mcpu": "haswell"}).runs
    found = support({"kind": "llvm", "mcpu": "cascadelake"})
    assert not found.runs and {"avx512f", "avx512bw", "avx512vl", "avx512vnni"} <= set(found.missing)
    assert "Test CPU (x86_64) lacks" in found.reason()


def test_mattr_counts_as_well_as_mcpu(host):
    from planctl.lowering.compat import support

    host(AVX2)
    assert support({"kind": "llvm", "mcpu": "haswell", "mattr": ["+avx512f"]}).missing == ("avx512f",)


def test_an_avx512_vnni_host_runs_both_cpu_targets(host):
    from planctl.lowering.compat import support

    host(AVX512)
    assert support({"kind": "llvm", "mcpu": "cascadelake"}).runs and support({"kind": "llvm", "mcpu": "haswell"}).runs


def test_a_newer_cpus_isa_outside_the_mapping_is_checked_by_its_own_name(host):
    """``mcpu: diamondrapids`` on a Sapphire Rapids-class host said "runs here: yes" and apply died on
    an illegal instruction: APX (egpr, ndd) and AVX10 were outside FEATURE_FLAGS, so not checked."""
    from planctl.lowering.compat import support

    host([*AVX512, "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "sha_ni"])
    found = support({"kind": "llvm", "mcpu": "diamondrapids"})
    assert not found.runs and {"egpr", "ndd", "avx10.1", "amx-fp16"} <= set(found.missing)
    assert support({"kind": "llvm", "mcpu": "haswell", "mattr": ["+amx-fp16"]}).missing == ("amx-fp16",)
    assert support({"kind": "llvm", "mcpu": "cascadelake"}).runs   # LLVM's tuning flags are not ISA


def test_a_triple_for_another_system_runs_nowhere_here(host):
    """``mtriple: x86_64-apple-darwin`` on a Linux host said "runs here: yes": the Mach-O library
    apply would build cannot be loaded here."""
    from planctl.lowering.compat import support, triple_system

    host(AVX2)
    assert triple_system("x86_64-apple-darwin") == "darwin" and triple_system("x86_64-pc-windows-msvc") == "win32"
    assert triple_system("x86_64-linux-gnu") == "linux" and triple_system("x86_64") is None
    found = support({"kind": "llvm", "mcpu": "haswell", "mtriple": "x86_64-apple-darwin"})
    assert not found.runs and found.key == "mtriple"
    assert "builds a library for darwin, which this linux host cannot load" in found.reason()
    assert support({"kind": "llvm", "mcpu": "haswell", "mtriple": "x86_64-linux-gnu"}).runs


def test_cuda_arch_against_the_gpu(host):
    from planctl.lowering.compat import support

    h200 = {"kind": "cuda", "model": "NVIDIA H200", "compute": "9.0"}
    host(AVX2, gpus=[h200])
    assert support({"kind": "cuda", "arch": "sm_90a"}).runs
    assert support({"kind": "cuda", "arch": "sm_80"}).missing == ("sm_80",)  # another major version
    host(AVX2, gpus=[{**h200, "model": "NVIDIA L4", "compute": "8.9"}])
    assert support({"kind": "cuda", "arch": "sm_86"}).runs
    assert support({"kind": "cuda", "arch": "sm_89a"}).runs
    host(AVX2, gpus=[])
    assert not support({"kind": "cuda", "arch": "sm_90a"}).runs


def test_planctl_targets_lists_what_this_host_can_run(host, capsys):
    host(AVX2)
    assert main(["targets", "--root", str(REPO), "--output", "json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)["targets"]}
    assert listed["x86-64-avx2"]["runs_here"] is True
    assert listed["x86-64-avx512"]["runs_here"] is False and "avx512f" in listed["x86-64-avx512"]["missing"]
    assert main(["targets", "--root", str(REPO)]) == 0
    assert "x86-64-avx512      llvm  cascadelake    runs here: no: Test CPU (x86_64) lacks" in capsys.readouterr().out


def test_planctl_targets_keeps_its_columns_in_line_for_a_long_name(host, tmp_path, capsys):
    import shutil

    host(AVX2)
    (tmp_path / "targets").mkdir()
    long = "x86-64-avx512-sapphire-rapids-lab"
    shutil.copy(REPO / "targets" / "x86-64-avx2.yaml", tmp_path / "targets")
    text = (REPO / "targets" / "x86-64-avx512.yaml").read_text().replace("name: x86-64-avx512", f"name: {long}")
    (tmp_path / "targets" / f"{long}.yaml").write_text(text)
    assert main(["targets", "--root", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "runs here" in line]
    assert len(rows) == 2 and len({row.index("runs here") for row in rows}) == 1
    assert len({row.index("llvm") for row in rows}) == 1


def test_an_mcpu_llvm_does_not_know_runs_nowhere_and_apply_says_so_at_its_line(host, tmp_path, capfd):
    """LLVM builds an unknown mcpu for its generic CPU and says so only on stderr: a typo'd target
    must not pass the host check ("runs here: yes") and build something else."""
    from planctl.documents.load import load_target
    from planctl.errors import HostMismatchError
    from planctl.lowering.compat import require, support

    host(AVX512)
    found = support({"kind": "llvm", "mcpu": "cascadelak"})
    assert not found.runs and found.missing == () and "LLVM knows no CPU 'cascadelak'" in found.reason()
    target = tmp_path / "targets" / "x86-64-avx512.yaml"
    target.parent.mkdir()
    target.write_text((REPO / "targets/x86-64-avx512.yaml").read_text().replace("mcpu: cascadelake",
                                                                                 "mcpu: cascadelak"))
    with pytest.raises(HostMismatchError, match="LLVM knows no CPU 'cascadelak'") as caught:
        require(load_target(target), "x86-64-avx512")
    line = next(i for i, text in enumerate(target.read_text().splitlines(), 1) if "mcpu:" in text)
    assert caught.value.line == line
    assert main(["targets", "--root", str(tmp_path)]) == 0
    out, err = capfd.readouterr()
    assert "runs here: no: LLVM knows no CPU 'cascadelak'" in out
    assert "is not valid" not in err   # LLVM's own "-mcpu=cascadelak is not valid ... using generic" line


def test_an_option_tvm_refuses_is_a_target_that_runs_nowhere_not_a_crash(host, tmp_path, capsys):
    """A typo inside spec.tvm (``mcpuu``) passed check and made ``planctl targets`` an internal error."""
    from planctl.documents.load import load_target
    from planctl.errors import HostMismatchError
    from planctl.lowering.compat import require

    host(AVX512)
    target = tmp_path / "targets" / "x86-64-avx512.yaml"
    target.parent.mkdir()
    target.write_text((REPO / "targets/x86-64-avx512.yaml").read_text().replace("    mcpu: cascadelake",
                                                                                 "    mcpuu: cascadelake"))
    assert main(["targets", "--root", str(tmp_path)]) == 0
    assert "runs here: no: TVM refuses spec.tvm: Unknown config option 'mcpuu'" in capsys.readouterr().out
    with pytest.raises(HostMismatchError, match="mcpuu") as caught:
        require(load_target(target), "x86-64-avx512")
    assert caught.value.line == next(i for i, text in enumerate(target.read_text().splitlines(), 1)
                                     if "mcpuu:" in text)
