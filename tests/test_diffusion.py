"""maqamgen.diffusion against diffusers' schedulers (the numerical oracle) and against the maths."""

import pytest
import torch

from maqamgen import diffusion as D
from maqamgen.errors import ConfigError

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

TOL = 1e-6


def _float64(sched):
    """Make a diffusers scheduler compute in float64 from *its own* betas (it stores float32)."""
    sched.betas = sched.betas.double()
    sched.alphas = 1.0 - sched.betas
    sched.alphas_cumprod = torch.cumprod(sched.alphas, 0)
    sched.one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(sched, "final_alpha_cumprod"):
        sched.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return sched


DIFFUSERS_NAMES = {
    # ours -> (diffusers beta_schedule, kwargs for diffusers given T)
    "linear": ("linear", lambda T: dict(beta_start=1e-4 * 1000 / T, beta_end=0.02 * 1000 / T)),
    "cosine": ("squaredcos_cap_v2", lambda T: {}),
    "sigmoid": ("sigmoid", lambda T: dict(beta_start=1e-4, beta_end=0.02)),
    "scaled_linear": ("scaled_linear", lambda T: dict(beta_start=0.00085, beta_end=0.012)),
}


def _diffusers(cls, name, T, **kw):
    bs, extra = DIFFUSERS_NAMES[name]
    return cls(num_train_timesteps=T, beta_schedule=bs, clip_sample=False, **extra(T), **kw)


@pytest.mark.parametrize("name", list(DIFFUSERS_NAMES))
@pytest.mark.parametrize("T", [1000, 200])
def test_schedule_matches_diffusers(name, T):
    ours = D.make_schedule(name, T)
    theirs = _diffusers(DDPMScheduler, name, T)
    # diffusers computes float32 betas: they agree to float32 round-off (relative 1e-6), alpha_bar to 1e-6
    assert ((ours.betas - theirs.betas.double()).abs() / ours.betas).max() < TOL
    assert (ours.alpha_bar - theirs.alphas_cumprod.double()).abs().max() < TOL
    # and, recomputed in float64 from their betas, alpha_bar agrees to float64 round-off of the betas
    ab64 = torch.cumprod(1 - theirs.betas.double(), 0)
    assert (ours.alpha_bar - ab64).abs().max() < TOL


def test_schedule_properties():
    for name in D.BETA_SCHEDULES:
        s = D.make_schedule(name, 1000)
        assert s.betas.dtype == torch.float64 and s.T == 1000
        assert bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())
        assert torch.allclose(s.sqrt_alpha_bar ** 2 + s.sqrt_one_minus_alpha_bar ** 2,
                              torch.ones(1000, dtype=torch.float64))
    cos = D.make_schedule("cosine", 1000)
    assert cos.betas.max() <= 0.999
    # linear scaled to T keeps the end of the chain noisy for any T
    assert abs(D.make_schedule("linear", 100).alpha_bar[-1] - D.make_schedule("linear", 1000).alpha_bar[-1]) < 1e-4
    with pytest.raises(ConfigError, match="known: linear"):
        D.make_schedule("quadratic")
    with pytest.raises(ConfigError, match="T > 20"):
        D.make_schedule("linear", 10)


@pytest.mark.parametrize("target,ptype", [("eps", "epsilon"), ("x0", "sample"), ("v", "v_prediction")])
@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [1000, 50])
def test_ddpm_step_matches_diffusers(target, ptype, name, steps):
    T = 1000
    sched = _float64(_diffusers(DDPMScheduler, name, T, prediction_type=ptype,
                                variance_type="fixed_small"))
    s = D.Schedule(sched.betas, name)  # the same betas, so only the step's maths is compared
    sched.set_timesteps(steps)
    ts = D.sampling_timesteps(steps, T, "leading")
    assert ts == sched.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(3, 2, 8, 8, generator=g, dtype=torch.float64)
    out = torch.randn(3, 2, 8, 8, generator=g, dtype=torch.float64)
    worst = 0.0
    for i in [0, 1, len(ts) // 2, len(ts) - 2, len(ts) - 1]:
        t = ts[i]
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        # posterior mean: diffusers' step without noise = step with t's noise removed; compare parts
        x0_hat, _ = D.x0_eps_from_output(out, x_t, t, s, target)
        mean, var = D.q_posterior(x0_hat, x_t, t, t_prev, s)
        if t > 0:
            assert abs(var.flatten()[0].item() - sched._get_variance(t).item()) < TOL
        # full step with the same noise: diffusers draws its noise from the generator
        gd = torch.Generator().manual_seed(123 + i)
        ref = sched.step(out, t, x_t, generator=gd)
        noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(123 + i), dtype=torch.float64)
        ours = D.ddpm_step(out, x_t, t, t_prev, s, target, noise=noise)
        ref_mean = ref.prev_sample - (sched._get_variance(t) ** 0.5 * noise if t > 0 else 0)
        worst = max(worst, (mean - ref_mean).abs().max().item())
        worst = max(worst, (ours.x0_hat - ref.pred_original_sample).abs().max().item(),
                    (ours.x_prev - ref.prev_sample).abs().max().item())
        if t_prev < 0:  # last step: no noise, the step is the posterior mean
            assert (mean - ref.prev_sample).abs().max() < TOL
    assert worst < TOL, worst


@pytest.mark.parametrize("target,ptype", [("eps", "epsilon"), ("x0", "sample"), ("v", "v_prediction")])
@pytest.mark.parametrize("name", ["linear", "cosine", "scaled_linear"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(target, ptype, name, eta):
    T, steps = 1000, 20
    sched = _float64(_diffusers(DDIMScheduler, name, T, prediction_type=ptype,
                                set_alpha_to_one=True, timestep_spacing="leading"))
    s = D.Schedule(sched.betas, name)
    sched.set_timesteps(steps)
    ts = D.sampling_timesteps(steps, T, "leading")
    assert ts == sched.timesteps.tolist()
    g = torch.Generator().manual_seed(1)
    x_t = torch.randn(2, 1, 16, 4, generator=g, dtype=torch.float64)
    out = torch.randn(2, 1, 16, 4, generator=g, dtype=torch.float64)
    worst = 0.0
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        noise = torch.randn(x_t.shape, generator=g, dtype=torch.float64)
        ref = sched.step(out, t, x_t, eta=eta, variance_noise=noise if eta > 0 else None)
        ours = D.ddim_step(out, x_t, t, t_prev, s, target, eta=eta, noise=noise)
        worst = max(worst, (ours.x_prev - ref.prev_sample).abs().max().item(),
                    (ours.x0_hat - ref.pred_original_sample).abs().max().item())
    assert worst < TOL, worst


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("steps", [1, 7, 50, 1000])
def test_timesteps_match_diffusers(spacing, steps):
    sched = DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    sched.set_timesteps(steps)
    assert D.sampling_timesteps(steps, 1000, spacing) == sched.timesteps.tolist()


def test_q_sample_matches_diffusers_add_noise():
    sched = _float64(DDPMScheduler(beta_schedule="squaredcos_cap_v2"))
    s = D.Schedule(sched.betas, "cosine")
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 500, 990, 999])
    assert (D.q_sample(x0, t, eps, s) - sched.add_noise(x0, eps, t)).abs().max() < TOL
    assert (D.velocity(x0, eps, t, s) - sched.get_velocity(x0, eps, t)).abs().max() < TOL


def test_forward_process_statistics():
    s = D.make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(3)
    x0 = torch.tensor([[-1.5, 0.0, 0.7, 2.0]])
    n = 200_000
    for t in [0, 100, 500, 999]:
        xt = D.q_sample(x0.expand(n, 4), t, None, s, generator=g)
        ab = s.alpha_bar[t].item()
        se = (1 - ab) ** 0.5 / n ** 0.5
        assert torch.allclose(xt.mean(0), ab ** 0.5 * x0[0], atol=5 * se + 1e-7)
        assert torch.allclose(xt.var(0), torch.full((4,), 1 - ab), rtol=0.02, atol=1e-6)
    # t = -1 is clean data
    assert torch.equal(D.q_sample(x0, -1, torch.randn(1, 4), s), x0)


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
def test_target_conversions_round_trip(name):
    s = D.make_schedule(name, 1000)
    g = torch.Generator().manual_seed(4)
    x0 = torch.randn(6, 2, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(6, 2, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 500, 900, 999])
    x_t = D.q_sample(x0, t, eps, s)
    for target in D.TARGETS:
        y = D.training_target(x0, eps, t, s, target)
        x0_hat, eps_hat = D.x0_eps_from_output(y, x_t, t, s, target)
        assert (x0_hat - x0).abs().max() < 1e-9 / s.sqrt_alpha_bar[t].min()
        assert (eps_hat - eps).abs().max() < 1e-9 / s.sqrt_one_minus_alpha_bar[t].min()
    v = D.velocity(x0, eps, t, s)
    assert torch.allclose(D.predict_x0_from_v(x_t, t, v, s), x0, atol=1e-12)
    assert torch.allclose(D.predict_eps_from_v(x_t, t, v, s), eps, atol=1e-12)
    # x_t, v are a rotation of (x0, eps): norms are preserved per element
    assert torch.allclose(x_t ** 2 + v ** 2, x0 ** 2 + eps ** 2, atol=1e-12)


def _oracle(x0, s, target="eps"):
    def model(x_t, t):
        eps = D.predict_eps_from_x0(x_t, t, x0, s)
        return D.training_target(x0, eps, t, s, target)
    return model


@pytest.mark.parametrize("target", D.TARGETS)
@pytest.mark.parametrize("steps", [1000, 25, 3])
def test_oracle_ddim_recovers_x0(target, steps):
    s = D.make_schedule("cosine", 1000)
    x0 = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out = D.ddim_sample(_oracle(x0, s, target), x0.shape, s, steps=steps, target=target,
                        dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    assert (out - x0).abs().max() < 1e-9


@pytest.mark.parametrize("steps", [None, 100])
def test_oracle_ddpm_recovers_x0(steps):
    s = D.make_schedule("linear", 1000)
    x0 = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    out = D.ddpm_sample(_oracle(x0, s), x0.shape, s, steps=steps,
                        generator=torch.Generator().manual_seed(8))
    assert (out - x0).abs().max() < 1e-3


def test_samplers_are_seeded():
    s = D.make_schedule("linear", 100)
    model = lambda x, t: 0.1 * x  # noqa: E731
    a = D.ddpm_sample(model, (2, 3), s, generator=torch.Generator().manual_seed(0))
    b = D.ddpm_sample(model, (2, 3), s, generator=torch.Generator().manual_seed(0))
    c = D.ddpm_sample(model, (2, 3), s, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    a = D.ddim_sample(model, (2, 3), s, steps=10, eta=0.5, generator=torch.Generator().manual_seed(0))
    b = D.ddim_sample(model, (2, 3), s, steps=10, eta=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    x, traj = D.ddim_sample(model, (2, 3), s, steps=10, return_trajectory=True,
                            generator=torch.Generator().manual_seed(0))
    assert len(traj) == 11 and torch.equal(traj[-1], x)


def test_diffusion_loss_and_objective():
    s = D.make_schedule("linear", 1000)
    x0 = torch.randn(4, 1, 8, 8)
    for target in D.TARGETS:
        perfect = _oracle(x0, s, target)
        assert D.diffusion_loss(lambda x, t: perfect(x, t), x0, s, target).item() < 1e-6
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    torch.manual_seed(0)
    mse = D.diffusion_loss(zero, x0, s, "eps", "mse")
    mae = D.diffusion_loss(zero, x0, s, "eps", "mae")
    assert 0.7 < mse.item() < 1.3 and 0.6 < mae.item() < 1.0  # E eps^2 = 1, E|eps| = 0.80
    seen = {}

    def cond_model(x, t, cond):
        seen["cond"] = cond
        return torch.zeros_like(x)

    obj = D.DiffusionObjective(s, p_uncond=0.5)
    torch.manual_seed(0)
    obj(cond_model, (x0.repeat(25, 1, 1, 1), torch.arange(100) % 3))
    dropped = (seen["cond"] == D.NULL_LABEL).float().mean().item()
    assert 0.3 < dropped < 0.7
    with pytest.raises(ConfigError, match="known: eps, x0, v"):
        D.diffusion_loss(zero, x0, s, "score")
    with pytest.raises(ConfigError, match="known: mse, mae"):
        D.diffusion_loss(zero, x0, s, "eps", "huber")


def test_classifier_free_guidance():
    s = D.make_schedule("linear", 100)

    def model(x, t, cond):  # conditional output 1, unconditional output 0
        return (cond != D.NULL_LABEL).to(x.dtype).reshape(-1, 1) * torch.ones_like(x)

    x = torch.zeros(3, 4)
    t = torch.zeros(3, dtype=torch.long)
    c = torch.tensor([0, 1, 2])
    assert torch.equal(D.guided_output(model, x, t, c, 1.0), torch.ones(3, 4))
    assert torch.equal(D.guided_output(model, x, t, c, 0.0), torch.zeros(3, 4))
    assert torch.allclose(D.guided_output(model, x, t, c, 3.0), torch.full((3, 4), 3.0))
    # dict conditions and vector conditions
    vec = {"label": c, "vec": torch.randn(3, 5)}
    n = D.null_cond(vec)
    assert torch.equal(n["label"], torch.full((3,), -1)) and torch.equal(n["vec"], torch.zeros(3, 5))
    dropped = D.drop_cond(vec, 1.0)
    assert torch.equal(dropped["vec"], torch.zeros(3, 5))
    assert D.drop_cond(vec, 0.0) is vec
    out = D.ddim_sample(model, (3, 4), s, steps=5, cond=c, guidance_scale=2.0,
                        generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 4)


def test_repaint_path():
    assert D.repaint_path(5) == [0, 1, 2, 3, 4, 5]
    p = D.repaint_path(10, jump_length=2, n_resample=3)
    assert p[0] == 0 and p[-1] == 10
    assert all(abs(a - b) == 1 for a, b in zip(p, p[1:]))
    assert sum(b > a for a, b in zip(p, p[1:])) - sum(b < a for a, b in zip(p, p[1:])) == 10
    assert sum(b < a for a, b in zip(p, p[1:])) == 2 * 2 * 4  # 4 jump points, 2 extra passes of 2


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
@pytest.mark.parametrize("n_resample", [1, 3])
def test_inpaint_keeps_known_region(sampler, n_resample):
    s = D.make_schedule("cosine", 200)
    g = torch.Generator().manual_seed(9)
    known = torch.randn(2, 1, 8, 16, generator=g)
    mask = torch.zeros(1, 1, 8, 16)
    mask[..., :6] = 1  # outpainting: the first 6 frames are known, continue to the right
    model = lambda x, t: 0.5 * x  # noqa: E731  (any model: the known region must stay exact)
    out = D.inpaint(model, known, mask, s, sampler=sampler, steps=20, jump_length=3,
                    n_resample=n_resample, generator=g)
    assert out.shape == known.shape
    assert torch.equal(out[..., :6], known[..., :6])
    assert not torch.allclose(out[..., 6:], known[..., 6:])
    # with the oracle, the unknown region is recovered too (DDIM, deterministic)
    oracle = _oracle(known.double(), s)
    out = D.inpaint(oracle, known.double(), mask.bool(), s, steps=20, n_resample=n_resample,
                    jump_length=3, generator=g)
    assert (out - known.double()).abs().max() < 1e-6
    with pytest.raises(ConfigError, match="does not broadcast"):
        D.inpaint(model, known, torch.ones(3, 8, 16), s)
