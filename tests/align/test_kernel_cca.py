"""Kernel CCA: linear kernel equals CCA, Nyström approaches exact, non-linear relations, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.align.cca import CCA
from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.kernel_cca import KernelCCA, kernel_matrix


def linear_views(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((n, 4))
    return X, Y


def curved_views(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``Y`` depends on ``X`` only through even functions: linear CCA sees (almost) nothing."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-2, 2, (n, 1))
    X = np.c_[z, 0.3 * rng.standard_normal((n, 1))] + 0.05 * rng.standard_normal((n, 2))
    Y = np.c_[z**2, np.cos(2 * z)] + 0.1 * rng.standard_normal((n, 2))
    return X, Y


@pytest.mark.parametrize("n_landmarks", [None, 60])
def test_linear_kernel_equals_cca(n_landmarks: int | None) -> None:
    X, Y = linear_views(300, seed=0)
    cca = CCA(3, reg=1e-3).fit(X, Y)
    kcca = KernelCCA(3, kernel="linear", reg=1e-3, n_landmarks=n_landmarks).fit(X, Y)
    assert kcca.correlations_ is not None and cca.correlations_ is not None
    np.testing.assert_allclose(kcca.correlations_, cca.correlations_, atol=1e-9)
    X_new, Y_new = linear_views(40, seed=1)
    for ours, ref in zip(kcca.transform(X_new, Y_new), cca.transform(X_new, Y_new)):
        np.testing.assert_allclose(ours, ref, atol=1e-7)
    assert kcca.rank_x_ == 5 and kcca.rank_y_ == 4


def test_nystroem_with_all_samples_equals_exact() -> None:
    X, Y = curved_views(200, seed=2)
    exact = KernelCCA(2, reg=1e-2).fit(X, Y)
    full = KernelCCA(2, reg=1e-2, n_landmarks=10_000).fit(X, Y)  # clipped to N
    assert full.landmarks_ is not None and len(full.landmarks_) == 200
    assert exact.correlations_ is not None and full.correlations_ is not None
    np.testing.assert_allclose(full.correlations_, exact.correlations_, atol=1e-8)
    X_new, Y_new = curved_views(30, seed=3)
    for a, b in zip(full.transform(X_new, Y_new), exact.transform(X_new, Y_new)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_nystroem_approaches_exact_as_landmarks_grow() -> None:
    X, Y = curved_views(600, seed=4)
    exact = KernelCCA(2, reg=1e-2).fit(X, Y).correlations_
    assert exact is not None
    errors = []
    for m in (5, 20, 80):
        approx = KernelCCA(2, reg=1e-2, n_landmarks=m, seed=7).fit(X, Y).correlations_
        assert approx is not None
        assert np.all(approx <= exact + 1e-9)  # a subspace of the exact features: never more correlated
        errors.append(float(np.abs(approx - exact).max()))
    assert errors[0] > errors[2]
    assert errors[2] < 1e-3


def test_rbf_kernel_finds_a_nonlinear_relation_on_held_out_data() -> None:
    X, Y = curved_views(800, seed=5)
    X_test, Y_test = curved_views(400, seed=6)
    linear = CCA(1).fit(X, Y)
    lx, ly = linear.transform(X_test, Y_test)
    kcca = KernelCCA(1, kernel="rbf", reg=1e-2, n_landmarks=200).fit(X, Y)
    kx, ky = kcca.transform(X_test, Y_test)
    assert abs(np.corrcoef(lx[:, 0], ly[:, 0])[0, 1]) < 0.3
    assert np.corrcoef(kx[:, 0], ky[:, 0])[0, 1] > 0.85
    poly = KernelCCA(1, kernel="polynomial", degree=2, reg=1e-2).fit(X, Y)
    px, py = poly.transform(X_test, Y_test)
    assert np.corrcoef(px[:, 0], py[:, 0])[0, 1] > 0.85  # z^2 is in the degree-2 feature space


def test_kernel_matrix_definitions() -> None:
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    i, j = 2, 3
    rbf = kernel_matrix(A, B, kernel="rbf", gamma=0.7)
    assert rbf[i, j] == pytest.approx(np.exp(-0.7 * np.sum((A[i] - B[j]) ** 2)))
    poly = kernel_matrix(A, B, kernel="polynomial", gamma=0.5, degree=3, coef0=2.0)
    assert poly[i, j] == pytest.approx((0.5 * A[i] @ B[j] + 2.0) ** 3)
    np.testing.assert_allclose(kernel_matrix(A, B, kernel="linear"), A @ B.T)


def test_landmarks_are_seeded() -> None:
    X, Y = curved_views(100, seed=9)
    a = KernelCCA(1, n_landmarks=20, seed=3).fit(X, Y)
    b = KernelCCA(1, n_landmarks=20, seed=3).fit(X, Y)
    c = KernelCCA(1, n_landmarks=20, seed=4).fit(X, Y)
    assert a.landmarks_ is not None and b.landmarks_ is not None and c.landmarks_ is not None
    np.testing.assert_array_equal(a.landmarks_, b.landmarks_)
    assert not np.array_equal(a.landmarks_, c.landmarks_)


def test_bad_input_raises_with_what_came_in() -> None:
    X, Y = curved_views(50, seed=10)
    with pytest.raises(AlignmentError, match=r"shape \(49, 2\)"):
        KernelCCA(1).fit(X, Y[:49])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(AlignmentError, match=r"NaN.*shape \(50, 2\) dtype float64"):
        KernelCCA(1).fit(bad, Y)
    with pytest.raises(AlignmentError, match="'sigmoid'"):
        KernelCCA(1, kernel="sigmoid")  # type: ignore[arg-type]
    with pytest.raises(AlignmentError, match="not fitted"):
        KernelCCA(1).transform_x(X)
    kcca = KernelCCA(1, n_landmarks=10).fit(X, Y)
    with pytest.raises(AlignmentError, match=r"shape \(5, 3\)"):
        kcca.transform_x(np.zeros((5, 3)))
    with pytest.raises(AlignmentError, match="n_components=3"):
        KernelCCA(3, kernel="linear").fit(X, Y)
