"""Regularised kernel CCA (Bach & Jordan 2002; Hardoon, Szedmak & Shawe-Taylor 2004), exact or Nyström.

Kernel CCA is linear CCA in the reproducing-kernel feature spaces of the two views. With dual weights
``alpha``, ``beta`` and centred Gram matrices ``K_x``, ``K_y`` (N, N), Hardoon et al. (2004) maximise::

    alpha' K_x K_y beta
    / sqrt((alpha' K_x^2 alpha + kappa alpha' K_x alpha) (beta' K_y^2 beta + kappa beta' K_y beta))

This module solves that problem through an explicit feature map: for any ``Phi`` with ``Phi Phi' = K_x``
(here ``Phi = U sqrt(Lambda)`` from the eigendecomposition of ``K_x``) the objective is exactly linear CCA on
``Phi`` with ridge ``C_xx = Phi'Phi / (N - 1) + reg I``, i.e. ``kappa = (N - 1) reg``. So with the linear
kernel, :class:`KernelCCA` equals :class:`~fusion_stack.align.cca.CCA` with the same ``reg``.

Exact kernel CCA costs O(N^3) time and O(N^2) memory (two N x N eigendecompositions and one SVD). With
``n_landmarks=m`` the Nyström approximation (Williams & Seeger 2001) replaces ``Phi`` by
``K(X, L) K(L, L)^{-1/2}`` for ``m`` landmark samples ``L`` drawn with a seeded generator, then runs linear
CCA on those (N, m) features: O(N m^2 + m^3) time, so tens of thousands of samples are cheap. With
``m = N`` the Nyström features span the same space and the result equals the exact one.

In the driving stack, feature-level fusion uses kernel CCA where the relation between two sensors'
descriptors is non-linear (e.g. radar cross-section and range versus camera appearance features of the same
object), typically fitted offline on logged, associated detections with the Nyström option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from fusion_stack.align._array_checks import FloatArray, describe, float_array, positive_float, positive_int
from fusion_stack.align.cca import canonical_directions, orient, top_singular_triplets
from fusion_stack.align.errors import AlignmentError

__all__ = ["KernelCCA", "KernelName", "kernel_matrix"]

KernelName = Literal["rbf", "polynomial", "linear"]
IntArray = npt.NDArray[np.int64]
_KERNELS = ("rbf", "polynomial", "linear")
_EIG_RTOL = 1e-12  # eigenvalues below this fraction of the largest are treated as zero (rank truncation)


def kernel_matrix(
    A: FloatArray,
    B: FloatArray,
    *,
    kernel: KernelName,
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 1.0,
) -> FloatArray:
    """Gram matrix (n, m) between rows of ``A`` (n, D) and ``B`` (m, D), float64.

    ``rbf``: ``exp(-gamma ||a - b||^2)``; ``polynomial``: ``(gamma a.b + coef0)^degree``; ``linear``: ``a.b``.
    Inputs are trusted (callers check them); use :class:`KernelCCA` for checked entry points.
    """
    if kernel == "linear":
        return A @ B.T
    if kernel == "polynomial":
        return (gamma * (A @ B.T) + coef0) ** degree
    sq = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :] - 2.0 * (A @ B.T)
    np.maximum(sq, 0.0, out=sq)
    return np.exp(-gamma * sq)


class KernelCCA:
    """Regularised kernel CCA with ``n_components`` canonical pairs, exact or with a Nyström approximation.

    Parameters
    ----------
    n_components:
        Number ``k`` of canonical pairs.
    kernel:
        ``"rbf"`` (default), ``"polynomial"`` or ``"linear"``, used for both views.
    gamma:
        Kernel scale. ``None`` uses ``1 / (D var(X))`` per view for ``rbf`` (scikit-learn's ``"scale"``) and
        ``1 / D`` for ``polynomial``; ignored by ``linear``.
    degree, coef0:
        Polynomial kernel ``(gamma a.b + coef0)^degree``.
    reg:
        Ridge on each view's feature covariance (``kappa = (N - 1) reg`` in Hardoon et al.'s notation).
        Kernel CCA without enough regularisation overfits: with ``N`` free dual weights per view the training
        correlations go to 1 whatever the data. Increase ``reg`` until held-out correlations stop improving.
    n_landmarks:
        ``None`` for exact kernel CCA; otherwise the number ``m`` of Nyström landmarks (clipped to ``N``).
    seed:
        Seed of the landmark draw (``numpy.random.default_rng(seed)``, sampling without replacement; the same
        sample indices are landmarks for both views).

    Fitted attributes: ``correlations_`` (k,) descending (on the training data), ``landmarks_`` (m,) int64
    sample indices or ``None`` when exact, ``gamma_x_``, ``gamma_y_`` (resolved kernel scales), ``rank_x_``,
    ``rank_y_`` (feature dimensions kept after dropping numerically-zero kernel eigenvalues).
    """

    def __init__(
        self,
        n_components: int,
        *,
        kernel: KernelName = "rbf",
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
        reg: float = 1e-3,
        n_landmarks: int | None = None,
        seed: int = 0,
    ) -> None:
        self.n_components = positive_int(n_components, name="n_components")
        if kernel not in _KERNELS:
            raise AlignmentError(f"expected one of {_KERNELS}, got {kernel!r}", field="kernel")
        self.kernel: KernelName = kernel
        self.gamma = None if gamma is None else positive_float(gamma, name="gamma")
        self.degree = positive_int(degree, name="degree")
        self.coef0 = float(coef0)
        if not np.isfinite(self.coef0):
            raise AlignmentError(f"expected a finite number, got {coef0!r}", field="coef0")
        self.reg = positive_float(reg, name="reg", allow_zero=True)
        self.n_landmarks = None if n_landmarks is None else positive_int(n_landmarks, name="n_landmarks")
        self.seed = int(seed)
        self.correlations_: FloatArray | None = None
        self.landmarks_: IntArray | None = None
        self.gamma_x_: float | None = None
        self.gamma_y_: float | None = None
        self.rank_x_: int | None = None
        self.rank_y_: int | None = None
        self._x: _ViewMap | None = None
        self._y: _ViewMap | None = None

    def __repr__(self) -> str:
        return (
            f"KernelCCA(n_components={self.n_components}, kernel={self.kernel!r}, gamma={self.gamma}, "
            f"reg={self.reg}, n_landmarks={self.n_landmarks})"
        )

    def fit(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> KernelCCA:
        """Fit on paired samples ``X`` (N, p) and ``Y`` (N, q), real, finite, ``N >= 2``; returns ``self``."""
        x = float_array(X, name="X", ndim=2, layout="(N, p)")
        y = float_array(Y, name="Y", ndim=2, layout="(N, q)")
        if x.shape[0] != y.shape[0] or x.shape[0] < 2 or x.shape[1] < 1 or y.shape[1] < 1:
            raise AlignmentError(
                f"expected paired views (N, p), (N, q) with N >= 2; got X {describe(x)} and Y {describe(y)}",
                field="Y",
            )
        self.gamma_x_ = self._resolve_gamma(x)
        self.gamma_y_ = self._resolve_gamma(y)
        if self.n_landmarks is None:
            self.landmarks_ = None
            vx = self._exact_view(x, self.gamma_x_)
            vy = self._exact_view(y, self.gamma_y_)
        else:
            rng = np.random.default_rng(self.seed)
            n = x.shape[0]
            idx = np.sort(rng.choice(n, size=min(self.n_landmarks, n), replace=False)).astype(np.int64)
            self.landmarks_ = idx
            vx = self._nystroem_view(x, idx, self.gamma_x_)
            vy = self._nystroem_view(y, idx, self.gamma_y_)
        self.rank_x_, self.rank_y_ = vx.features.shape[1], vy.features.shape[1]
        k = self.n_components
        if k > min(self.rank_x_, self.rank_y_):
            raise AlignmentError(
                f"n_components={k} exceeds the kernel feature ranks (X: {self.rank_x_}, Y: {self.rank_y_})",
                field="n_components",
            )
        if self.n_landmarks is None:
            wx, wy, self.correlations_ = self._exact_directions(vx, vy)
        else:
            wx, wy, self.correlations_ = self._linear_directions(vx, vy)
        mx, my = vx.features.mean(axis=0), vy.features.mean(axis=0)
        wx, wy = orient(wx, wy, (vx.features - mx) @ wx)
        self._x, self._y = vx.fitted(mx, wx), vy.fitted(my, wy)
        return self

    def transform(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Canonical variates (N, k) of both views (new samples allowed; same N for both)."""
        return self.transform_x(X), self.transform_y(Y)

    def transform_x(self, X: npt.ArrayLike) -> FloatArray:
        """Canonical variates (N, k) of the first view alone."""
        if self._x is None:
            raise AlignmentError("KernelCCA is not fitted; call fit(X, Y) first", field="transform_x")
        return self._x(float_array(X, name="X", ndim=2, layout="(N, p)"), "X")

    def transform_y(self, Y: npt.ArrayLike) -> FloatArray:
        """Canonical variates (N, k) of the second view alone."""
        if self._y is None:
            raise AlignmentError("KernelCCA is not fitted; call fit(X, Y) first", field="transform_y")
        return self._y(float_array(Y, name="Y", ndim=2, layout="(N, q)"), "Y")

    def fit_transform(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """:meth:`fit` then :meth:`transform` on the same data."""
        return self.fit(X, Y).transform(X, Y)

    # -- internals -------------------------------------------------------------------------------------------

    def _linear_directions(self, vx: _ViewFeatures, vy: _ViewFeatures) -> tuple[FloatArray, ...]:
        """Linear CCA on the (Nyström) features."""
        fx, fy = vx.features, vy.features
        n = fx.shape[0]
        fxc, fy_c = fx - fx.mean(axis=0), fy - fy.mean(axis=0)
        cov_xx = fxc.T @ fxc / (n - 1) + self.reg * np.eye(fx.shape[1])
        cov_yy = fy_c.T @ fy_c / (n - 1) + self.reg * np.eye(fy.shape[1])
        cov_xy = fxc.T @ fy_c / (n - 1)
        return canonical_directions(cov_xx, cov_yy, cov_xy, self.n_components)

    def _exact_directions(self, vx: _ViewFeatures, vy: _ViewFeatures) -> tuple[FloatArray, ...]:
        """Linear CCA on the exact features ``U sqrt(Lambda)``, whose covariance is already diagonal.

        The features are centred and mutually orthogonal, so ``C_xx = Lambda / (N - 1) + reg I`` and the
        whitened cross-covariance is ``T = D_x U_x' U_y D_y`` with ``D = sqrt(Lambda / (N - 1) / (...))``.
        """
        n = vx.features.shape[0]
        var_x, var_y = vx.eigenvalues / (n - 1), vy.eigenvalues / (n - 1)
        scale_x, scale_y = 1.0 / np.sqrt(var_x + self.reg), 1.0 / np.sqrt(var_y + self.reg)
        ux = vx.features / np.sqrt(vx.eigenvalues)
        uy = vy.features / np.sqrt(vy.eigenvalues)
        T = (np.sqrt(var_x) * scale_x)[:, None] * (ux.T @ uy) * (np.sqrt(var_y) * scale_y)[None, :]
        u, s, v = top_singular_triplets(T, self.n_components)
        return scale_x[:, None] * u, scale_y[:, None] * v, np.clip(s, 0.0, 1.0)

    def _resolve_gamma(self, data: FloatArray) -> float:
        if self.gamma is not None:
            return self.gamma
        d = data.shape[1]
        if self.kernel == "rbf":
            var = float(data.var())
            return 1.0 / (d * var) if var > 0 else 1.0
        return 1.0 / d

    def _kernel_of(self, gamma: float) -> _Kernel:
        return _Kernel(self.kernel, gamma, self.degree, self.coef0)

    def _exact_view(self, data: FloatArray, gamma: float) -> _ViewFeatures:
        """Features ``U sqrt(Lambda)`` of the centred Gram; new samples map via ``K_c U Lambda^{-1/2}``."""
        kernel = self._kernel_of(gamma)
        gram = kernel(data, data)
        col_mean = gram.mean(axis=0)
        total_mean = float(col_mean.mean())
        centred = gram - col_mean[None, :] - col_mean[:, None] + total_mean
        del gram
        w, v = np.linalg.eigh(centred)
        keep = w > _EIG_RTOL * max(float(w[-1]), 0.0)
        w, v = w[keep], v[:, keep]
        features = v * np.sqrt(w)
        to_features = v / np.sqrt(w)
        return _ViewFeatures(kernel, data, to_features, features, (col_mean, total_mean), w)

    def _nystroem_view(self, data: FloatArray, idx: IntArray, gamma: float) -> _ViewFeatures:
        """Features ``K(X, L) K(L, L)^{-1/2}`` for landmarks ``L = X[idx]``."""
        landmarks = data[idx]
        kernel = self._kernel_of(gamma)
        k_mm = kernel(landmarks, landmarks)
        w, v = np.linalg.eigh(k_mm)
        keep = w > _EIG_RTOL * max(float(w[-1]), 0.0)
        to_features = v[:, keep] / np.sqrt(w[keep])
        features = kernel(data, landmarks) @ to_features
        return _ViewFeatures(kernel, landmarks, to_features, features, None, w[keep])


@dataclass(frozen=True)
class _Kernel:
    """A kernel with its resolved parameters."""

    name: KernelName
    gamma: float
    degree: int
    coef0: float

    def __call__(self, A: FloatArray, B: FloatArray) -> FloatArray:
        return kernel_matrix(A, B, kernel=self.name, gamma=self.gamma, degree=self.degree, coef0=self.coef0)


@dataclass(frozen=True)
class _ViewFeatures:
    """One view's training features (N, r) and how to compute them for new samples."""

    kernel: _Kernel
    basis: FloatArray  # training samples (exact) or landmarks (Nyström), (n_basis, D)
    to_features: FloatArray  # (n_basis, r): centred Gram row @ to_features = feature vector
    features: FloatArray  # (N, r) on the training data
    centring: tuple[FloatArray, float] | None  # (column means, grand mean) of the training Gram (exact only)
    eigenvalues: FloatArray  # (r,) kept eigenvalues of the (centred, exact) Gram or of K(L, L) (Nyström)

    def fitted(self, feature_mean: FloatArray, weights: FloatArray) -> _ViewMap:
        return _ViewMap(
            kernel=self.kernel,
            basis=self.basis,
            centring=self.centring,
            projection=self.to_features @ weights,
            offset=feature_mean @ weights,
        )


@dataclass(frozen=True)
class _ViewMap:
    """Maps new samples of one view to canonical variates: ``centre(K(new, basis)) @ projection - offset``."""

    kernel: _Kernel
    basis: FloatArray
    centring: tuple[FloatArray, float] | None
    projection: FloatArray  # (n_basis, k)
    offset: FloatArray  # (k,)

    def __call__(self, data: FloatArray, name: str) -> FloatArray:
        if data.shape[1] != self.basis.shape[1]:
            expected = f"(N, {self.basis.shape[1]})"
            raise AlignmentError(f"expected {expected} as in fit, got {describe(data)}", field=name)
        gram = self.kernel(data, self.basis)
        if self.centring is not None:
            col_mean, total_mean = self.centring
            gram = gram - col_mean[None, :] - gram.mean(axis=1, keepdims=True) + total_mean
        return gram @ self.projection - self.offset
