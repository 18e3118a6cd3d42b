"""The report's PCA Gaussian: x = mu_hat + E Lambda^(1/2) z,  z ~ N(0, I),  x ~ N(mu_hat, Sigma).

``Sigma = E Lambda E^T`` is the sample covariance of the training vectors (flattened log-mel
patches or note-sequence windows), diagonalised by PCA: ``E`` holds the eigenvectors
(principal directions) as columns and ``Lambda`` the eigenvalues (variances along them).
Keeping the ``k`` largest eigenpairs gives a low-rank Gaussian; the discarded variance is
spread isotropically (``sigma2``, probabilistic PCA, Tipping & Bishop 1999) so that held-out
data has a proper log-likelihood.

The eigenpairs come from the centred data matrix without forming the ``d x d`` covariance
(``d`` can be tens of thousands while ``n`` is a few thousand): see :func:`principal_axes`.

Used in: book/part1/03_pca_gaussian.md
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCAGaussian:
    """A fitted PCA Gaussian.

    Attributes:
        mu_hat: sample mean, shape (d,).
        E: principal directions as columns, shape (d, k), orthonormal.
        Lambda: eigenvalues (variances along ``E``), descending, shape (k,).
        sigma2: mean of the discarded eigenvalues (isotropic residual variance; 0 if none).
        total_variance: trace of the sample covariance (sum of all eigenvalues).
        n_train: number of training vectors.

    Used in: book/part1/03_pca_gaussian.md
    """

    mu_hat: np.ndarray
    E: np.ndarray
    Lambda: np.ndarray
    sigma2: float
    total_variance: float
    n_train: int

    @property
    def d(self) -> int:
        """Dimension of x."""
        return self.mu_hat.shape[0]

    @property
    def k(self) -> int:
        """Number of kept components."""
        return self.Lambda.shape[0]

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        """Fraction of the total variance along each kept direction, shape (k,)."""
        return self.Lambda / self.total_variance


def principal_axes(Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of the covariance of centred rows.

    With ``n`` rows of dimension ``d``: when ``n < d`` the ``n x n`` Gram matrix
    ``G = Xc Xc^T = U S^2 U^T`` is diagonalised and ``E = Xc^T U S^-1`` (one ``n x n``
    eigendecomposition instead of the SVD of an ``n x d`` matrix: seconds instead of a minute
    for ``n = 1700, d = 16384`` on a 2-core CPU); otherwise the SVD ``Xc = U S V^T`` gives
    ``E = V``. Either way ``Lambda = S^2 / (n - 1)``. Directions with an eigenvalue below
    ``1e-12`` of the largest are dropped (they carry no variance).

    Returns:
        ``(Lambda, E)``, shapes (r,) and (d, r), ``r <= min(n, d)``.
    """
    n, d = Xc.shape
    if n < d:
        w, U = np.linalg.eigh(Xc @ Xc.T)
        order = np.argsort(w)[::-1]
        w, U = w[order], U[:, order]
    else:
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        w = s ** 2
    keep = w > 1e-12 * max(w[0], np.finfo(float).tiny)
    if n < d:
        w, U = w[keep], U[:, keep]
        return w / (n - 1), (Xc.T @ U) / np.sqrt(w)
    return w[keep] / (n - 1), Vt[keep].T


def eigen_spectrum(X: np.ndarray) -> np.ndarray:
    """All eigenvalues of the sample covariance of ``X`` (shape (n, d)), descending, shape (min(n-1, d),)."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    if X.shape[0] < X.shape[1]:
        lam = np.clip(np.linalg.eigvalsh(Xc @ Xc.T)[::-1], 0, None) / (X.shape[0] - 1)
    else:
        lam = np.linalg.svd(Xc, compute_uv=False) ** 2 / (X.shape[0] - 1)
    return lam[: min(X.shape[0] - 1, X.shape[1])]


def fit(X: np.ndarray, k: int | None = None, variance: float | None = None) -> PCAGaussian:
    """Fit x = mu_hat + E Lambda^(1/2) z to the rows of ``X``.

    Args:
        X: training vectors, shape (n, d), n >= 2.
        k: number of components to keep; default: all (up to ``min(n - 1, d)``).
        variance: alternatively, keep the fewest components explaining this fraction (0, 1].

    Returns:
        The fitted :class:`PCAGaussian`.

    Raises:
        ValueError: fewer than two vectors, non-finite values, or an invalid ``k``/``variance``.

    Used in: book/part1/03_pca_gaussian.md
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must have shape (n >= 2, d), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf")
    n, d = X.shape
    mu_hat = X.mean(axis=0)
    lam_all, V = principal_axes(X - mu_hat)
    rank = min(n - 1, d, lam_all.size)
    if rank == 0:
        raise ValueError("X has no variance (every row is the same)")
    lam_all, V = lam_all[:rank], V[:, :rank]
    total = float(lam_all.sum())
    if variance is not None:
        if not 0 < variance <= 1:
            raise ValueError(f"variance must be in (0, 1], got {variance}")
        k = int(np.searchsorted(np.cumsum(lam_all) / total, variance - 1e-12) + 1)
    k = rank if k is None else int(k)
    if not 1 <= k <= rank:
        raise ValueError(f"k must be between 1 and {rank} (rank of the data), got {k}")
    rest = lam_all[k:]
    # discarded variance, spread over all d - k remaining directions (including the null space)
    sigma2 = float(rest.sum() / (d - k)) if d > k else 0.0
    return PCAGaussian(mu_hat=mu_hat, E=V[:, :k].copy(), Lambda=lam_all[:k].copy(),
                       sigma2=sigma2, total_variance=total, n_train=n)


def sample(g: PCAGaussian, n: int, seed: int = 0, residual: bool = False) -> np.ndarray:
    """Draw ``n`` vectors x = mu_hat + E Lambda^(1/2) z (z ~ N(0, I_k)).

    Args:
        g: a fitted Gaussian.
        n: number of samples.
        seed: seed of z.
        residual: also add the isotropic residual N(0, sigma2 I) of the discarded directions.

    Returns:
        shape (n, d).

    Used in: book/part1/03_pca_gaussian.md
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, g.k))
    x = g.mu_hat + (z * np.sqrt(g.Lambda)) @ g.E.T
    if residual and g.sigma2 > 0:
        x = x + rng.standard_normal(x.shape) * np.sqrt(g.sigma2)
    return x


def encode(g: PCAGaussian, X: np.ndarray) -> np.ndarray:
    """Whitened coordinates z = Lambda^(-1/2) E^T (x - mu_hat), shape (n, k)."""
    return ((np.asarray(X, dtype=np.float64) - g.mu_hat) @ g.E) / np.sqrt(g.Lambda)


def decode(g: PCAGaussian, z: np.ndarray) -> np.ndarray:
    """x = mu_hat + E Lambda^(1/2) z, shape (n, d): the inverse of :func:`encode` on the kept subspace."""
    return g.mu_hat + (np.asarray(z, dtype=np.float64) * np.sqrt(g.Lambda)) @ g.E.T


def log_likelihood(g: PCAGaussian, X: np.ndarray) -> np.ndarray:
    """Log-density of each row of ``X`` under N(mu_hat, E Lambda E^T + sigma2 (I - E E^T)), nats.

    Requires ``sigma2 > 0`` when ``k < d`` (otherwise the density is degenerate).

    Returns:
        shape (n,).
    """
    X = np.asarray(X, dtype=np.float64)
    xc = X - g.mu_hat
    proj = xc @ g.E
    maha = np.sum(proj ** 2 / g.Lambda, axis=1)
    logdet = np.sum(np.log(g.Lambda))
    rest_dims = g.d - g.k
    if rest_dims > 0:
        if g.sigma2 <= 0:
            raise ValueError("log_likelihood needs sigma2 > 0 when k < d (keep fewer components)")
        resid = np.sum(xc ** 2, axis=1) - np.sum(proj ** 2, axis=1)
        maha = maha + resid / g.sigma2
        logdet = logdet + rest_dims * np.log(g.sigma2)
    return -0.5 * (g.d * np.log(2 * np.pi) + logdet + maha)
