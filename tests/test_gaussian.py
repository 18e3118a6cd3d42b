"""The PCA Gaussian x = mu_hat + E Lambda^(1/2) z."""

import numpy as np
import pytest

from maqamgen import gaussian


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    A = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.1]])
    return rng.standard_normal((n, 3)) @ A.T + np.array([1.0, -2.0, 0.5]), A @ A.T


def test_fit_recovers_mean_and_covariance():
    X, Sigma = _data()
    g = gaussian.fit(X)
    assert np.allclose(g.mu_hat, [1.0, -2.0, 0.5], atol=0.1)
    Sigma_hat = g.E @ np.diag(g.Lambda) @ g.E.T
    assert np.allclose(Sigma_hat, np.cov(X.T), atol=1e-8)
    assert np.allclose(Sigma_hat, Sigma, rtol=0.1, atol=0.1)
    assert np.allclose(g.E.T @ g.E, np.eye(3), atol=1e-10)
    assert np.all(np.diff(g.Lambda) <= 0)
    assert g.explained_variance_ratio.sum() == pytest.approx(1.0)


def test_samples_have_the_fitted_statistics():
    X, _ = _data()
    g = gaussian.fit(X)
    S = gaussian.sample(g, 20000, seed=1)
    assert S.shape == (20000, 3)
    assert np.allclose(S.mean(0), g.mu_hat, atol=0.05)
    assert np.allclose(np.cov(S.T), np.cov(X.T), rtol=0.05, atol=0.03)
    assert np.array_equal(S, gaussian.sample(g, 20000, seed=1))


def test_variance_selects_components_and_encode_decode_roundtrip():
    X, _ = _data()
    g = gaussian.fit(X, variance=0.95)
    assert g.k == 2 and g.sigma2 > 0
    z = gaussian.encode(g, X[:5])
    assert z.shape == (5, 2)
    full = gaussian.fit(X)
    assert np.allclose(gaussian.decode(full, gaussian.encode(full, X[:5])), X[:5])


def test_log_likelihood_matches_scipy_for_full_rank():
    from scipy.stats import multivariate_normal

    X, _ = _data()
    g = gaussian.fit(X)
    ref = multivariate_normal(g.mu_hat, np.cov(X.T)).logpdf(X[:10])
    assert np.allclose(gaussian.log_likelihood(g, X[:10]), ref)


def test_probabilistic_pca_likelihood_for_low_rank():
    X, _ = _data()
    g = gaussian.fit(X, k=1)
    cov = g.E @ np.diag(g.Lambda) @ g.E.T + g.sigma2 * (np.eye(3) - g.E @ g.E.T)
    from scipy.stats import multivariate_normal

    assert np.allclose(gaussian.log_likelihood(g, X[:10]), multivariate_normal(g.mu_hat, cov).logpdf(X[:10]))


def test_more_dimensions_than_vectors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 1000))
    g = gaussian.fit(X)
    assert g.k == 49
    assert np.allclose(gaussian.eigen_spectrum(X), g.Lambda)


@pytest.mark.parametrize("bad, kwargs", [(np.ones((1, 3)), {}), (np.full((3, 2), np.nan), {}),
                                         (np.ones((5, 3)), {"k": 9}), (np.ones((5, 3)), {"variance": 1.5})])
def test_bad_input(bad, kwargs):
    with pytest.raises(ValueError):
        gaussian.fit(bad, **kwargs)


def test_gram_path_matches_the_svd_when_n_is_below_d():
    X = np.random.default_rng(7).standard_normal((30, 200)) @ np.diag(np.linspace(3, 0.1, 200))
    Xc = X - X.mean(0)
    lam, E = gaussian.principal_axes(Xc)  # n < d: via the 30 x 30 Gram matrix
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    assert np.allclose(lam[:29], s[:29] ** 2 / 29)
    assert np.allclose(np.abs(np.sum(E[:, :29] * Vt[:29].T, axis=0)), 1.0, atol=1e-8)
    g = gaussian.fit(X, k=10)
    assert g.k == 10 and np.allclose(g.E.T @ g.E, np.eye(10), atol=1e-8)


def test_constant_data_is_rejected():
    with pytest.raises(ValueError, match="no variance"):
        gaussian.fit(np.ones((5, 3)))
