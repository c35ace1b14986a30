"""`planctl init` writes a plan that validates and carries the schema modeline."""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from onnx_stub import stub_model  # noqa: E402

from planctl.cli.main import main  # noqa: E402
from planctl.documents.load import validate_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_init_writes_a_valid_plan_with_relative_modeline(tmp_path, monkeypatch):
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "resnet"]) == 0
    text = (tmp_path / "plans" / "resnet.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../schemas/plan.schema.json"
    assert hashlib.sha256(b"onnx").hexdigest() in text
    assert validate_file(tmp_path / "plans" / "resnet.yaml") == []


def test_init_outside_a_repo_names_where_schema_dump_writes_the_schema(tmp_path, monkeypatch, capsys):
    """helper-39: the modeline named https://planctl.dev/..., where nothing is published."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "x"]) == 0
    first = (tmp_path / "plans" / "x.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/plan.schema.json"
    assert "`planctl schema dump schemas` writes it" in capsys.readouterr().err
    assert validate_file(tmp_path / "plans" / "x.yaml") == []
    assert main(["schema", "dump", "schemas"]) == 0 and (tmp_path / "schemas" / "plan.schema.json").is_file()


def test_init_writes_a_gitignore_for_builds_and_the_cache_or_says_what_one_lacks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "x"]) == 0
    assert (tmp_path / ".gitignore").read_text().splitlines()[1:] == ["/out/", "/.planctl/"]
    (tmp_path / ".gitignore").write_text("out/\n*.pyc\n")
    capsys.readouterr()
    assert main(["init", "y"]) == 0
    err = capsys.readouterr().err
    assert ".gitignore does not ignore /.planctl/" in err and "/out/" not in err.split("ignore")[-1]
    assert (tmp_path / ".gitignore").read_text() == "out/\n*.pyc\n"   # the user's file is left as it was


def test_init_refuses_to_overwrite_and_bad_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "x", "-o", "p.yaml"]) == 0
    assert main(["init", "x", "-o", "p.yaml"]) == 2
    assert main(["init", "x", "-o", "p.yaml", "--force"]) == 0
    assert main(["init", "Bad_Name"]) == 2


def test_init_then_check_has_only_placeholder_findings(tmp_path, monkeypatch, capsys):
    """The skeleton is a legal plan: check reports only the TODOs a person must fill in (no
    PLN201: operator-fusion comes with the autotuning it enables for a compute bottleneck)."""
    import json

    for folder in ("schemas", "targets"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet.onnx").write_bytes(stub_model([("pixels", "float32", ["n", 3, 224, 224]),
                                                                  ("scale", "int64", [1]),
                                                                  ("attention_mask", "int64", ["n", 8])]))
    monkeypatch.chdir(tmp_path)
    assert main(["init", "resnet"]) == 0
    first = (tmp_path / "plans" / "resnet.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/plan.schema.json"
    capsys.readouterr()
    assert main(["check", "-o", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {f["rule"] for f in findings} == {"PLN221"}   # the inputs, read from the graph, match it (PLN224)
    assert all("TODO" in f["message"] or "guessed" in f["message"] for f in findings)
    text = (tmp_path / "plans" / "resnet.yaml").read_text()
    assert "- name: pixels" in text and "shape: [n, 3, 224, 224]" in text and "n: {min: 1" in text
    assert "domain: {kind: attention-mask}   # from the name and dtype: 0/1, each row's ones first" in text
    # what init guessed is a finding until a person sets it and deletes the annotation
    # (at the guessed values' own lines, not at the annotation that lists them)
    guessed = [f["pointer"] for f in findings if f["message"] == "planctl init guessed this value"]
    assert guessed == ["/spec/workload/inputs/0/domain", "/spec/workload/inputs/1/domain",
                       "/spec/workload/production_shapes/n"]
    assert "/spec/workload/inputs/0/domain (pixels), /spec/workload/inputs/1/domain (scale)" in text
    assert all("then delete the planctl.dev/guessed annotation" in f["help"] for f in findings
               if f["pointer"] in guessed)
    assert "n: {min: 1, opt: 1, max: 8, values: [1, 8]}   # TODO: guessed" in text


def test_init_warns_when_the_target_document_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "resnet", "--target", "x86-64-avx2"]) == 0
    assert "warning: targets/x86-64-avx2.yaml does not exist here" in capsys.readouterr().err
    shutil.copytree(REPO / "targets", tmp_path / "targets")
    assert main(["init", "resnet", "--force"]) == 0
    assert "does not exist" not in capsys.readouterr().err


def test_init_without_a_readable_model_writes_an_example_input_and_warns(tmp_path, monkeypatch, capsys):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet.onnx").write_bytes(b"not onnx")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "resnet"]) == 0
    assert "# TODO: the model's graph inputs" in (tmp_path / "plans" / "resnet.yaml").read_text()
    assert "warning: models/resnet.onnx is not an ONNX model planctl can read" in capsys.readouterr().err


def test_init_names_an_absolute_model_path_relative_to_the_root_or_refuses_one_outside(tmp_path, monkeypatch, capsys):
    (tmp_path / "repo" / "models").mkdir(parents=True)
    (tmp_path / "repo" / "models" / "m.onnx").write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "repo")
    assert main(["init", "m", "--model", str(tmp_path / "repo" / "models" / "m.onnx")]) == 0
    assert "onnx: models/m.onnx" in (tmp_path / "repo" / "plans" / "m.yaml").read_text()
    (tmp_path / "elsewhere.onnx").write_bytes(b"x")
    assert main(["init", "n", "--model", str(tmp_path / "elsewhere.onnx")]) == 2
    assert "is outside this folder" in capsys.readouterr().err and not (tmp_path / "repo" / "plans" / "n.yaml").exists()


def test_init_refuses_a_model_path_that_does_not_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "m", "--model", "models/typo.onnx"]) == 2
    assert "--model models/typo.onnx: no such file" in capsys.readouterr().err
    assert not (tmp_path / "plans").exists()


def test_init_bounds_an_input_that_indexes_an_embedding_table_by_the_tables_rows(tmp_path, monkeypatch):
    """An integer input used as a Gather's indices over an initializer (directly or through a Cast)
    gets 0 .. rows - 1 from the table; one that indexes another axis, or nothing, stays a guess."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.zeros((100, 4), np.float32), "word_embeddings")
    types = numpy_helper.from_array(np.zeros((2, 4), np.float32), "token_type_embeddings")
    nodes = [helper.make_node("Cast", ["input_ids"], ["ids32"], to=TensorProto.INT32),
             helper.make_node("Gather", ["word_embeddings", "ids32"], ["words"]),
             helper.make_node("Gather", ["token_type_embeddings", "token_type_ids"], ["kinds"], axis=0),
             helper.make_node("Gather", ["word_embeddings", "columns"], ["picked"], axis=1),
             helper.make_node("Cast", ["other"], ["other_f"], to=TensorProto.FLOAT)]
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "s"])
            for n in ("input_ids", "token_type_ids", "columns", "other")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("words", "kinds", "picked", "other_f")]
    graph = helper.make_graph(nodes, "g", ints, outs, initializer=[table, types])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bert.onnx").write_bytes(model.SerializeToString())
    monkeypatch.chdir(tmp_path)
    assert main(["init", "bert", "--model", "models/bert.onnx"]) == 0
    text = (tmp_path / "plans" / "bert.yaml").read_text()
    assert ("domain: {kind: integer-range, min: 0, max: 99}   # from the model: it indexes the 100-row table "
            "word_embeddings") in text
    assert "domain: {kind: integer-range, min: 0, max: 1}   # from the model: it indexes the 2-row table" in text
    guessed = "domain: {kind: integer-range, min: 0, max: 1}   # TODO: guessed from the dtype"
    assert text.count(guessed) == 2   # columns (axis 1) and other
