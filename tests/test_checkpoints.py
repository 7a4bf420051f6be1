"""Checkpoint layouts, conversion, presets, downloads and safe loading."""

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hyenadna_kipoi import CheckpointError, ConfigError, DownloadError, HyenaDNA, load_model, save_model
from hyenadna_kipoi.checkpoints import PRESETS, detect_layout, fetch_preset
from hyenadna_kipoi.download import download

EXPECTED = np.load(Path(__file__).resolve().parents[1] / "data" / "fixtures" / "parity-a" / "expected.npz")
IDS = torch.from_numpy(EXPECTED["input_ids"]).long()


def _logits(model: HyenaDNA) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS)


@pytest.mark.parametrize("layout", ["own", "hf", "original"])
def test_save_load_roundtrip_is_exact(fixture_model_dir, tmp_path, layout):
    model = load_model(fixture_model_dir)
    save_model(model, tmp_path / layout, layout)
    assert detect_layout(tmp_path / layout) == layout
    reloaded = load_model(tmp_path / layout)
    assert torch.equal(_logits(model), _logits(reloaded))
    assert reloaded.config.to_dict() == model.config.to_dict() or layout != "own"


def test_hf_layout_written_like_the_release(fixture_model_dir, tmp_path):
    save_model(load_model(fixture_model_dir), tmp_path, "hf")
    ours = load_file(tmp_path / "model.safetensors")
    release = load_file(fixture_model_dir.parent / "hf" / "model.safetensors")
    assert set(ours) == set(release)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "hyenadna"


def test_checkpointed_key_variant(fixture_model_dir, tmp_path):
    """checkpoint_mixer/checkpoint_mlp wrap modules in `.layer`: the keys must load all the same."""
    ckpt = torch.load(fixture_model_dir / "weights.ckpt", weights_only=True)
    ckpt["state_dict"] = {k.replace(".mixer.", ".mixer.layer.").replace(".mlp.", ".mlp.layer."): v
                          for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, tmp_path / "weights.ckpt")
    config = json.loads((fixture_model_dir / "config.json").read_text())
    config.update(checkpoint_mixer=True, checkpoint_mlp=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    np.testing.assert_allclose(_logits(load_model(tmp_path)).numpy(), EXPECTED["logits"], atol=1e-5, rtol=0)


def test_shape_mismatch_names_tensor_and_config(fixture_model_dir, tmp_path):
    shutil.copytree(fixture_model_dir, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["d_inner"] = 128
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"mlp\.fc1\.weight has shape \(256, 64\) but the config .* \(128, 64\)"):
        load_model(tmp_path / "m")


def test_depth_mismatch_is_reported(fixture_model_dir, tmp_path):
    shutil.copytree(fixture_model_dir, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["n_layer"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "m")


def test_missing_model_and_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such model directory or preset"):
        load_model(tmp_path / "nope")
    (tmp_path / "only-config").mkdir()
    (tmp_path / "only-config" / "config.json").write_text(json.dumps({"model_type": "hyenadna", "d_model": 8}))
    with pytest.raises(CheckpointError, match="no weights file"):
        load_model(tmp_path / "only-config")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path / "empty")


def test_bad_config_json(fixture_model_dir, tmp_path):
    shutil.copytree(fixture_model_dir, tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"d_model": 64,\n "layer": }')
    with pytest.raises(ConfigError, match=r"config.json: not valid JSON \(line 2"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"n_layer": 2, "layer": {"l_max": 10}}))
    with pytest.raises(ConfigError, match="missing required key 'd_model'"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("layout,weights", [("original", "weights.ckpt"), ("hf", "model.safetensors")])
def test_truncated_weights(fixture_model_dir, tmp_path, layout, weights):
    src = fixture_model_dir.parent / layout
    shutil.copytree(src, tmp_path / "m")
    data = (src / weights).read_bytes()
    (tmp_path / "m" / weights).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(tmp_path / "m")


def test_lightning_extras_are_never_executed(fixture_model_dir, tmp_path):
    """A checkpoint whose non-tensor objects would run code on unpickling loads without running it."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    ckpt = torch.load(fixture_model_dir / "weights.ckpt", weights_only=True)
    ckpt["hyper_parameters"] = {"cfg": Evil()}
    torch.save(ckpt, tmp_path / "weights.ckpt")
    shutil.copy(fixture_model_dir / "config.json", tmp_path / "config.json")
    model = load_model(tmp_path)
    assert not marker.exists()
    np.testing.assert_allclose(_logits(model).numpy(), EXPECTED["logits"], atol=1e-5, rtol=0)


def _tiny_mirror(root: Path) -> Path:
    """A local copy of the hub layout for the tiny-1k preset (random weights of the released shape)."""
    torch.manual_seed(0)
    model = HyenaDNA(PRESETS["tiny-1k"].config())
    save_model(model, root / "LongSafari" / "hyenadna-tiny-1k-seqlen-hf" / "resolve" / "main", "hf")
    save_model(model, root / "LongSafari" / "hyenadna-tiny-1k-seqlen" / "resolve" / "main", "original")
    return root


@pytest.mark.parametrize("layout", ["hf", "original"])
def test_preset_download_from_file_url_then_offline_cache(tmp_path, monkeypatch, layout):
    mirror = _tiny_mirror(tmp_path / "mirror")
    monkeypatch.setenv("HYENADNA_HUB_URL", mirror.as_uri())
    model = load_model("tiny-1k", layout=layout, progress=False)
    assert model.config.d_model == 128 and model.l_max == 1026
    shutil.rmtree(mirror)  # the cached copy is used from now on, without any source
    again = load_model("LongSafari/hyenadna-tiny-1k-seqlen", layout=layout, progress=False)
    assert torch.equal(_logits(model), _logits(again))


def test_offline_without_cache_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HYENADNA_HUB_URL", "https://example.invalid")
    with pytest.raises(CheckpointError, match="not in the cache .* HYENADNA_OFFLINE"):
        load_model("large-1m", progress=False)


def test_download_checks_size_and_checksum(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"ACGT" * 1000)
    with pytest.raises(DownloadError, match="4000 bytes, expected 5000"):
        download(src.as_uri(), tmp_path / "a.bin", size=5000, progress=False)
    assert not (tmp_path / "a.bin").exists()
    with pytest.raises(DownloadError, match="sha256 checksum mismatch"):
        download(src.as_uri(), tmp_path / "b.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.bin.part").exists()
    import hashlib

    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert download(src.as_uri(), tmp_path / "c.bin", sha256=good, progress=False).read_bytes() == src.read_bytes()


class _FlakyRangeHandler(SimpleHTTPRequestHandler):
    """Serves files with HTTP range support; the first full request is cut off half-way."""

    cut_next = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if _FlakyRangeHandler.cut_next and start == 0:
            _FlakyRangeHandler.cut_next = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def test_interrupted_http_download_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("HYENADNA_OFFLINE")  # a loopback server only
    served = tmp_path / "served"
    served.mkdir()
    payload = np.random.default_rng(0).bytes(300_000)
    (served / "weights.bin").write_bytes(payload)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_FlakyRangeHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/weights.bin"
        dest = tmp_path / "out" / "weights.bin"
        with pytest.raises(DownloadError, match="run again to resume|bytes, expected"):
            download(url, dest, progress=False)
        assert not dest.exists() and 0 < (dest.parent / "weights.bin.part").stat().st_size < len(payload)
        download(url, dest, progress=False)
        assert dest.read_bytes() == payload and not (dest.parent / "weights.bin.part").exists()
    finally:
        server.shutdown()
