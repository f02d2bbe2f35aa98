"""Linear CCA: agreement with scikit-learn, planted correlations, retrieval, inverse transform, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import cross_decomposition

from fusion_stack.align.cca import CCA
from fusion_stack.align.errors import AlignmentError


def planted(n: int, rho: np.ndarray, p: int, q: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Views with population canonical correlations ``rho`` (then zeros), mixed by random invertible maps."""
    rng = np.random.default_rng(seed)
    k = len(rho)
    z = rng.standard_normal((n, k))
    x0 = np.c_[z, rng.standard_normal((n, p - k))]
    y0 = np.c_[rho * z + np.sqrt(1 - rho**2) * rng.standard_normal((n, k)), rng.standard_normal((n, q - k))]
    return x0 @ rng.standard_normal((p, p)), y0 @ rng.standard_normal((q, q)) + 3.0


def test_recovers_planted_correlations() -> None:
    rho = np.array([0.9, 0.6, 0.3])
    X, Y = planted(20_000, rho, p=6, q=5, seed=1)
    cca = CCA(4).fit(X, Y)
    assert cca.correlations_ is not None
    np.testing.assert_allclose(cca.correlations_[:3], rho, atol=0.02)
    assert cca.correlations_[3] < 0.05
    assert np.all(np.diff(cca.correlations_) <= 0)


def test_matches_scikit_learn_up_to_sign() -> None:
    X, Y = planted(1000, np.array([0.85, 0.5, 0.25]), p=5, q=4, seed=2)
    ours = CCA(3, reg=0.0).fit(X, Y)  # scikit-learn's CCA is unregularised
    xs, ys = ours.transform(X, Y)
    ref = cross_decomposition.CCA(n_components=3, max_iter=5000, tol=1e-12).fit(X, Y)
    rx, ry = ref.transform(X, Y)
    ref_corr = [np.corrcoef(rx[:, i], ry[:, i])[0, 1] for i in range(3)]
    our_corr = [np.corrcoef(xs[:, i], ys[:, i])[0, 1] for i in range(3)]
    np.testing.assert_allclose(our_corr, ref_corr, atol=1e-5)
    assert ours.correlations_ is not None
    np.testing.assert_allclose(ours.correlations_, ref_corr, atol=1e-5)
    for i in range(3):  # the same directions, up to sign and scale
        assert abs(np.corrcoef(xs[:, i], rx[:, i])[0, 1]) > 1 - 1e-6
        assert abs(np.corrcoef(ys[:, i], ry[:, i])[0, 1]) > 1 - 1e-6


def test_variates_are_whitened_and_paired() -> None:
    X, Y = planted(3000, np.array([0.8, 0.4]), p=4, q=3, seed=3)
    cca = CCA(2, reg=0.0).fit(X, Y)
    xs, ys = cca.transform(X, Y)
    cov = np.cov(np.c_[xs, ys].T)
    np.testing.assert_allclose(cov[:2, :2], np.eye(2), atol=1e-4)
    np.testing.assert_allclose(cov[2:, 2:], np.eye(2), atol=1e-4)
    assert cca.correlations_ is not None
    np.testing.assert_allclose(cov[:2, 2:], np.diag(cca.correlations_), atol=1e-4)
    np.testing.assert_allclose(xs, cca.transform_x(X))
    np.testing.assert_allclose(ys, cca.transform_y(Y))


def test_inverse_transform_is_exact_at_full_rank_and_least_squares_otherwise() -> None:
    X, Y = planted(500, np.array([0.9, 0.5, 0.2]), p=3, q=5, seed=4)
    cca = CCA(3).fit(X, Y)
    xs, ys = cca.transform(X, Y)
    x_back, y_back = cca.inverse_transform(xs, ys)
    np.testing.assert_allclose(x_back, X, atol=1e-9)  # p == k: exact
    residual = Y - y_back
    np.testing.assert_allclose(ys.T @ residual, 0.0, atol=1e-7)  # q > k: residual orthogonal to the variates
    assert np.linalg.norm(Y - y_back) < np.linalg.norm(Y - Y.mean(axis=0))


def test_cross_modal_retrieval_beats_chance_and_raw_features() -> None:
    """Two noisy views of a shared latent: CCA space makes nearest-neighbour retrieval work."""
    rng = np.random.default_rng(5)
    n_train, n_test, k = 2000, 200, 8
    A, B = rng.standard_normal((k, 20)), rng.standard_normal((k, 30))

    def views(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, k))
        return z @ A + 1.0 * rng.standard_normal((n, 20)), z @ B + 1.0 * rng.standard_normal((n, 30))

    def top1(queries: np.ndarray, gallery: np.ndarray) -> float:
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        gn = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
        return float(np.mean(np.argmax(qn @ gn.T, axis=1) == np.arange(len(queries))))

    X_train, Y_train = views(n_train)
    X_test, Y_test = views(n_test)
    cca = CCA(k).fit(X_train, Y_train)
    aligned = top1(cca.transform_x(X_test), cca.transform_y(Y_test))
    raw = top1(X_test, Y_test[:, :20])  # no alignment: raw features truncated to a common width
    chance = 1.0 / n_test
    assert aligned > 0.5
    assert aligned > raw + 0.4
    assert aligned > 50 * chance


@pytest.mark.parametrize(
    ("X", "Y", "shown"),
    [
        (np.zeros(10), np.zeros((10, 2)), "shape (10,)"),
        (np.zeros((10, 2)), np.zeros((9, 2)), "shape (9, 2)"),
        (np.full((10, 2), np.nan), np.zeros((10, 2)), "shape (10, 2) dtype float64"),
        (np.zeros((10, 2), dtype=complex), np.zeros((10, 2)), "complex128"),
        (np.zeros((1, 2)), np.zeros((1, 2)), "shape (1, 2)"),
    ],
)
def test_bad_input_raises_with_what_came_in(X: np.ndarray, Y: np.ndarray, shown: str) -> None:
    with pytest.raises(AlignmentError, match=r"\(") as info:
        CCA(1).fit(X, Y)
    assert shown in str(info.value)


def test_bad_use_raises() -> None:
    X, Y = planted(50, np.array([0.5]), p=3, q=2, seed=6)
    with pytest.raises(AlignmentError, match="not fitted"):
        CCA(1).transform(X, Y)
    with pytest.raises(AlignmentError, match=r"min\(3, 2\)"):
        CCA(3).fit(X, Y)
    cca = CCA(2).fit(X, Y)
    with pytest.raises(AlignmentError, match=r"shape \(50, 4\)"):
        cca.transform_x(np.zeros((50, 4)))
    with pytest.raises(AlignmentError, match=r"shape \(5, 3\)"):
        cca.inverse_transform(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(AlignmentError, match="n_components"):
        CCA(0)
    with pytest.raises(AlignmentError, match="reg"):
        CCA(1, reg=-1.0)
