"""The throughput benchmark: every loop trains and predicts, and bad options are refused."""

from __future__ import annotations

import json

import pytest

from unlearnlab import bench


def test_benchmark_times_the_library_beside_the_tuned_loop(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--model", "tiny_cnn", "--device", "cpu", "--images", "512",
                       "--batch-size", "64", "--shape", "1,8,8", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "library" in printed and "tuned" in printed
    results = json.loads(out.read_text())["results"]
    assert [r["loop"] for r in results] == ["library", "tuned"]
    assert all(r["train_images_per_s"] > 0 and r["predict_images_per_s"] > 0 for r in results)


def test_the_library_and_tuned_loops_take_the_same_steps():
    """The tuned loop is a faster route to the same update, not another algorithm: one
    SGD epoch of each on the same model moves the weights by comparable amounts."""
    import torch

    from unlearnlab import models

    x, y = bench.synthetic_data(256, (1, 8, 8), 10)
    deltas = []
    for loop in (bench.library_loop, bench.tuned_loop):
        model = models.create_model("tiny_cnn", 10, in_channels=1, image_size=8, seed=0)
        before = [p.detach().clone() for p in model.parameters()]
        loop(model, x, y, batch_size=64, epochs=1, device=torch.device("cpu"))
        deltas.append(sum(float((p.detach() - b).norm()) for p, b in zip(model.parameters(), before, strict=True)))
    assert deltas[0] > 0 and deltas[1] > 0
    assert 0.5 < deltas[0] / deltas[1] < 2.0


@pytest.mark.parametrize("args", [["--shape", "3,32"], ["--batch-size", "0"],
                                  ["--images", "10", "--batch-size", "64"], ["--width", "0"]])
def test_benchmark_refuses_bad_options(args):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--model", "tiny_cnn", *args])
    assert exc.value.code == 2


def test_cuda_asked_for_and_absent_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit, match="CUDA was asked for"):
        bench.run("tiny_cnn", "cuda", 64, 128, (1, 8, 8))
