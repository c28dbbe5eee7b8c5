"""Quality on real text: a clinc150 subsample, embedded with the bundled model.

Skips cleanly when ../shared/datasets/clinc150 (or $TRENDMINE_CLINC150_DIR) is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mining import Embedder, ThemeModel
from mining.evaluate import evaluate, load_labelled_csv

REPO = Path(__file__).resolve().parents[1]
CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))
N_INTENTS = 40  # 40 intents x 30 requests + 120 out-of-scope: ~1,300 items, < 30 s here


@pytest.fixture(scope="module")
def clinc_subsample(request: pytest.FixtureRequest) -> tuple[list[str], np.ndarray, np.ndarray]:
    if not (CLINC / "test.csv").is_file():
        pytest.skip(f"clinc150 not found at {CLINC} (set TRENDMINE_CLINC150_DIR)")
    texts, intents = load_labelled_csv(CLINC / "test.csv")
    keep_intents = sorted({i for i in intents if i != "oos"})[:N_INTENTS]
    rows = [k for k, i in enumerate(intents) if i in keep_intents]
    rows += [k for k, i in enumerate(intents) if i == "oos"][:120]
    texts = [texts[k] for k in rows]
    y = np.array([intents[k] for k in rows])
    cache = Path(request.config.cache.mkdir("trendmine-mining")) / f"clinc_{len(rows)}.npy"
    if cache.is_file():
        emb = np.load(cache)
    else:
        emb = Embedder().encode(texts)
        np.save(cache, emb)
    return texts, y, emb


def test_embedder_offline_and_normalised(clinc_subsample) -> None:
    texts, _, emb = clinc_subsample
    e = Embedder()
    assert e.model_id == "all-MiniLM-L6-v2" and e.dim == 384
    got = e.encode(texts[:8])
    assert got.dtype == np.float32 and got.shape == (8, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(got, emb[:8], atol=1e-4)  # same as the cached batch embedding
    with pytest.raises(ValueError, match="model"):
        Embedder(model="/nonexistent/model-dir").encode(["x"])


def test_clinc_quality_and_order_independence(clinc_subsample) -> None:
    texts, y, emb = clinc_subsample
    model = ThemeModel().fit(emb, texts=texts, groups=[i % 50 for i in range(len(texts))])
    r = evaluate(y, model.labels_)
    assert r["nmi"] >= 0.85, r
    assert r["noise_share"] <= 0.10, r
    assert 0.5 * N_INTENTS <= r["n_themes"] <= 2 * N_INTENTS, r
    assert all("[" not in k for kws in model.keywords_.values() for k in kws)

    # Shuffled input -> the identical partition and numbering, with the default UMAP reducer.
    perm = np.random.default_rng(0).permutation(len(texts))
    shuffled = ThemeModel().fit(emb[perm], texts=[texts[i] for i in perm], label=False)
    back = np.empty_like(shuffled.labels_)
    back[perm] = shuffled.labels_
    np.testing.assert_array_equal(back, model.labels_)


def test_eval_scores_labels_against_the_label_names(clinc_subsample, tmp_path) -> None:
    """`compare(..., encoder=...)` (what `trendmine eval --labels` prints): phrase labels
    found in member texts, 2-6 words, naming most themes' majority intent, and a candidate
    pool at least as good as its first pick."""
    import csv

    from typer.testing import CliRunner

    from mining.evaluate import compare
    from trendmine.cli import app

    texts, y, emb = clinc_subsample
    [row] = compare(texts, y, emb, compare_with=(), encoder=Embedder(), unnamed=("oos",))
    assert row["label_in_text"] == 1.0 and row["label_2_6_words"] == 1.0, row
    assert 0.75 <= row["label_acc"] <= row["label_pool"] <= 1.0, row  # 0.85 here
    assert row["label_seconds"] > 0 and row["nmi"] >= 0.85, row

    path = tmp_path / "clinc.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "intent"])
        out.writerows(zip(texts[:300], y[:300], strict=True))
    res = CliRunner().invoke(app, ["eval", "--dataset", str(path), "--labels",
                                   "--unnamed", "oos"])
    assert res.exit_code == 0, res.output
    assert "label_acc" in res.output and "trendmine" in res.output
    res = CliRunner().invoke(app, ["eval", "--dataset", str(path), "--unnamed", "oos"])
    # a TrendmineError: trendmine.cli.main prints it as one "error: ..." line
    assert res.exit_code != 0 and "add --labels" in str(res.exception), res
