"""Regularised linear canonical correlation analysis (Hotelling 1936), solved by whitening + SVD.

CCA finds paired directions ``w_x``, ``w_y`` that maximise ``corr(X w_x, Y w_y)``; the ``k``-th pair is
uncorrelated with the first ``k - 1`` inside each view. With the regularised covariances
``C_xx = X'X / (N - 1) + reg I`` (``X`` centred; likewise ``C_yy``) and ``C_xy = X'Y / (N - 1)``, the
whitened cross-covariance ``T = C_xx^{-1/2} C_xy C_yy^{-1/2}`` has the SVD ``T = U S V'``; the canonical
correlations are ``S`` (descending) and the weights are ``C_xx^{-1/2} U`` and ``C_yy^{-1/2} V``
(e.g. Hardoon, Szedmak & Shawe-Taylor 2004; Uurtio et al. 2017, "A Tutorial on Canonical Correlation
Methods").

In the driving stack, feature-level fusion uses CCA to project two sensors' per-object features (say camera
embeddings and lidar point-cloud descriptors) into one space where they can be compared, concatenated or
retrieved across modalities; the same code is the last step of
:class:`~fusion_stack.align.kernel_cca.KernelCCA`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion_stack.align._array_checks import FloatArray, describe, float_array, positive_float, positive_int
from fusion_stack.align.errors import AlignmentError

__all__ = ["CCA", "canonical_directions", "orient", "top_singular_triplets"]


def _inverse_sqrt(cov: FloatArray) -> FloatArray:
    """``cov^{-1/2}`` of a symmetric positive semi-definite matrix; eigenvalues floored at 1e-12 x largest."""
    w, v = np.linalg.eigh(cov)
    floor = max(float(w[-1]), 0.0) * 1e-12 + np.finfo(np.float64).tiny
    inv_sqrt = 1.0 / np.sqrt(np.maximum(w, floor))
    return (v * inv_sqrt) @ v.T


def top_singular_triplets(T: FloatArray, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The ``k`` largest singular values of ``T`` (p, q), descending, and their vectors (p, k), (q, k).

    Small matrices use the SVD; for ``min(p, q) > 256`` the eigendecomposition of the smaller of ``T T'`` and
    ``T' T`` is used instead (about 3x faster than LAPACK's SVD at a few thousand, and accurate for the
    leading, well-separated-from-zero singular values CCA needs).
    """
    p, q = T.shape
    if min(p, q) <= 256:
        u, s, vt = np.linalg.svd(T, full_matrices=False)
        return u[:, :k], s[:k], vt[:k].T
    if p > q:
        v, s, u = top_singular_triplets(T.T, k)
        return u, s, v
    w, vecs = np.linalg.eigh(T @ T.T)
    u = vecs[:, ::-1][:, :k]
    s = np.sqrt(np.maximum(w[::-1][:k], 0.0))
    v = T.T @ u
    norms = np.linalg.norm(v, axis=0)
    v = v / np.where(norms > 0, norms, 1.0)
    return u, s, v


def orient(
    x_weights: FloatArray, y_weights: FloatArray, x_variates: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Fix each pair's sign so that the training x-variate of largest magnitude is positive.

    The convention depends only on the variates, not on the basis the weights are expressed in, so CCA and
    kernel CCA (exact or Nyström) give comparable signs.
    """
    k = x_weights.shape[1]
    rows = np.argmax(np.abs(x_variates), axis=0)
    signs = np.sign(x_variates[rows, np.arange(k)])
    signs[signs == 0] = 1.0
    return x_weights * signs, y_weights * signs


def canonical_directions(
    cov_xx: FloatArray, cov_yy: FloatArray, cov_xy: FloatArray, n_components: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Canonical weights ``(p, k)``, ``(q, k)`` and correlations ``(k,)`` from (regularised) covariances.

    ``cov_xx`` (p, p) and ``cov_yy`` (q, q) must be symmetric positive (semi-)definite, ``cov_xy`` (p, q).
    Correlations are in descending order and clipped to [0, 1]; signs are arbitrary (see :func:`orient`).
    """
    kx = _inverse_sqrt(cov_xx)
    ky = _inverse_sqrt(cov_yy)
    u, s, v = top_singular_triplets(kx @ cov_xy @ ky, n_components)
    return kx @ u, ky @ v, np.clip(s, 0.0, 1.0)


class CCA:
    """Regularised linear CCA with ``n_components`` canonical pairs.

    Parameters
    ----------
    n_components:
        Number ``k`` of canonical pairs, ``1 <= k <= min(p, q)``.
    reg:
        Ridge added to each view's covariance (``C_xx + reg I``), in the units of the data's variance.
        The default (1e-6) only guards against singular covariances; larger values shrink the weights
        (regularised CCA, Vinod 1976) and help when ``N`` is not much larger than ``p + q``.

    Fitted attributes (after :meth:`fit`): ``x_mean_`` (p,), ``y_mean_`` (q,), ``x_weights_`` (p, k),
    ``y_weights_`` (q, k), ``x_loadings_`` (k, p), ``y_loadings_`` (k, q) (least-squares maps from the
    canonical variates back to the centred inputs, used by :meth:`inverse_transform`), ``correlations_`` (k,)
    descending, ``n_features_x_``, ``n_features_y_``. On the training data the canonical variates
    ``(X - x_mean_) @ x_weights_`` have (regularised) unit variance.
    """

    def __init__(self, n_components: int, *, reg: float = 1e-6) -> None:
        self.n_components = positive_int(n_components, name="n_components")
        self.reg = positive_float(reg, name="reg", allow_zero=True)
        self.x_mean_: FloatArray | None = None
        self.y_mean_: FloatArray | None = None
        self.x_weights_: FloatArray | None = None
        self.y_weights_: FloatArray | None = None
        self.x_loadings_: FloatArray | None = None
        self.y_loadings_: FloatArray | None = None
        self.correlations_: FloatArray | None = None
        self.n_features_x_: int | None = None
        self.n_features_y_: int | None = None

    def __repr__(self) -> str:
        return f"CCA(n_components={self.n_components}, reg={self.reg})"

    def fit(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> CCA:
        """Fit on paired samples ``X`` (N, p) and ``Y`` (N, q), real, finite, ``N >= 2``; returns ``self``."""
        x, y = _paired_views(X, Y)
        k = self.n_components
        if k > min(x.shape[1], y.shape[1]):
            raise AlignmentError(
                f"n_components={k} exceeds min(p, q) = min({x.shape[1]}, {y.shape[1]})", field="n_components"
            )
        self.x_mean_ = x.mean(axis=0)
        self.y_mean_ = y.mean(axis=0)
        xc = x - self.x_mean_
        yc = y - self.y_mean_
        n = x.shape[0]
        cov_xx = xc.T @ xc / (n - 1) + self.reg * np.eye(x.shape[1])
        cov_yy = yc.T @ yc / (n - 1) + self.reg * np.eye(y.shape[1])
        cov_xy = xc.T @ yc / (n - 1)
        wx, wy, self.correlations_ = canonical_directions(cov_xx, cov_yy, cov_xy, k)
        self.x_weights_, self.y_weights_ = orient(wx, wy, xc @ wx)
        self.n_features_x_, self.n_features_y_ = x.shape[1], y.shape[1]
        self.x_loadings_ = _least_squares(xc @ self.x_weights_, xc)
        self.y_loadings_ = _least_squares(yc @ self.y_weights_, yc)
        return self

    def transform(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Canonical variates ``(X - x_mean_) @ x_weights_`` (N, k) and the same for ``Y`` (N, k)."""
        x, y = _paired_views(X, Y, min_samples=1)
        return self.transform_x(x), self.transform_y(y)

    def transform_x(self, X: npt.ArrayLike) -> FloatArray:
        """Canonical variates (N, k) of the first view alone (e.g. the query of cross-modal retrieval)."""
        mean, weights, p = self._fitted("x")
        x = _view(X, "X", p)
        return (x - mean) @ weights

    def transform_y(self, Y: npt.ArrayLike) -> FloatArray:
        """Canonical variates (N, k) of the second view alone."""
        mean, weights, q = self._fitted("y")
        y = _view(Y, "Y", q)
        return (y - mean) @ weights

    def fit_transform(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """:meth:`fit` then :meth:`transform` on the same data."""
        return self.fit(X, Y).transform(X, Y)

    def inverse_transform(self, Xc: npt.ArrayLike, Yc: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Map canonical variates (N, k) back to the input spaces, (N, p) and (N, q).

        Uses the least-squares loadings fitted on the training data (the linear map from the variates to the
        centred inputs with the smallest training residual), then adds the means back. The reconstruction is
        exact for a view whose dimension equals ``n_components``; otherwise it is the part of the input the
        ``k`` canonical variates explain.
        """
        x_load, y_load = self.x_loadings_, self.y_loadings_
        if x_load is None or y_load is None or self.x_mean_ is None or self.y_mean_ is None:
            raise AlignmentError("CCA is not fitted; call fit(X, Y) first", field="inverse_transform")
        k = self.n_components
        xs = float_array(Xc, name="Xc", ndim=2, layout="(N, n_components)")
        ys = float_array(Yc, name="Yc", ndim=2, layout="(N, n_components)")
        for name, arr in (("Xc", xs), ("Yc", ys)):
            if arr.shape[1] != k:
                raise AlignmentError(f"expected (N, {k}) canonical variates, got {describe(arr)}", field=name)
        return xs @ x_load + self.x_mean_, ys @ y_load + self.y_mean_

    def _fitted(self, view: str) -> tuple[FloatArray, FloatArray, int]:
        mean = self.x_mean_ if view == "x" else self.y_mean_
        weights = self.x_weights_ if view == "x" else self.y_weights_
        dim = self.n_features_x_ if view == "x" else self.n_features_y_
        if mean is None or weights is None or dim is None:
            raise AlignmentError("CCA is not fitted; call fit(X, Y) first", field=f"transform_{view}")
        return mean, weights, dim


def _least_squares(A: FloatArray, B: FloatArray) -> FloatArray:
    """``argmin_M ||A M - B||_F`` (minimum-norm solution)."""
    return np.asarray(np.linalg.lstsq(A, B, rcond=None)[0], dtype=np.float64)


def _view(value: object, name: str, n_features: int | None = None, *, min_samples: int = 1) -> FloatArray:
    """One view as float64 (N, D); checks D against the fitted dimension when given."""
    arr = float_array(value, name=name, ndim=2, layout="(N, D)")
    if n_features is not None and arr.shape[1] != n_features:
        raise AlignmentError(f"expected (N, {n_features}) as in fit, got {describe(arr)}", field=name)
    if arr.shape[0] < min_samples:
        raise AlignmentError(f"expected at least {min_samples} samples, got {describe(arr)}", field=name)
    return arr


def _paired_views(
    X: npt.ArrayLike, Y: npt.ArrayLike, *, min_samples: int = 2
) -> tuple[FloatArray, FloatArray]:
    """Both views as float64 (N, p), (N, q) with the same N >= ``min_samples`` and p, q >= 1."""
    x = _view(X, "X", min_samples=min_samples)
    y = _view(Y, "Y", min_samples=min_samples)
    if x.shape[0] != y.shape[0]:
        raise AlignmentError(
            f"X and Y must hold the same samples (same N); got X {describe(x)} and Y {describe(y)}", field="Y"
        )
    for name, arr in (("X", x), ("Y", y)):
        if arr.shape[1] < 1:
            raise AlignmentError(f"expected at least one feature, got {describe(arr)}", field=name)
    return x, y
