# %% [markdown]
# # 03 · Diffusion from scratch: the ideal denoiser memorises
#
# *Local Rules, Creative Machines*: lesson 03 of 10.
#
# Lesson 00 showed the paradox on five points in the plane: the perfect denoiser can only
# return its training points. Now we do the same with real images, 1,700 handwritten
# digits, and build every piece of an image diffusion model by hand: the noising process,
# the sampler, and the best possible denoiser. At the end we *measure* memorisation.
# Lessons 04 and 05 then break the memorisation with two constraints that every
# convolutional network obeys.
#
# **Learning goals.** After this lesson you can
# 1. noise an image to any time $t$ of the cosine schedule, and say what the schedule does;
# 2. derive and compute the ideal denoiser (the *ideal score machine*, IS) of an image
#    training set: a softmax over training images;
# 3. write the deterministic DDIM sampler step by step and check it against the library;
# 4. measure memorisation with nearest-neighbour distances, against held-out digits as a
#    baseline.
#
# Three exercises have instant checks. If you skip one, the lesson still runs: it goes on
# with the library's version.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils.data import lesson_data
from course_utils.diffusion import add_noise, ddim_sample, sampling_noise_vars
from course_utils.grading import use_passing
from course_utils.metrics import nearest_image
from course_utils.plots import show_images, show_trajectory

torch.manual_seed(0)
# The lesson runs on the bundled digits. Set DATASET to "mnist", "fashion_mnist" or
# "cifar10" to rerun it on an optional download (README, "Data"): resized to 16 x 16,
# cut to 1,700 training and 97 held-out images so that it costs the same.
DATASET = "digits"
train, train_labels = lesson_data(DATASET, "train")  # (1700, 1, 16, 16) in [-1, 1]
test, test_labels = lesson_data(DATASET, "test")     # (97, 1, 16, 16): never seen by any denoiser
print(f"training digits: {tuple(train.shape)}, held out: {tuple(test.shape)}")
print(f"pixel range: [{train.min().item():.0f}, {train.max().item():.0f}]")

# %% [markdown]
# ## 1. The data
#
# The UCI handwritten digits (the set scikit-learn ships), upsampled from 8 x 8 to
# 16 x 16 pixels, with values in $[-1, 1]$: $-1$ is black paper, $+1$ white ink. Small
# images keep every computation of this course exact and fast on a laptop CPU.

# %%
show_images(train[:40], ncols=20, title="40 of the 1,700 training digits")
plt.show()

# %% [markdown]
# ## 2. The forward process and the cosine schedule
#
# A clean image $x_0$ is drowned in Gaussian noise $\varepsilon \sim \mathcal N(0, I)$:
#
# $$x_t = \sqrt{1-b_t}\;x_0 + \sqrt{b_t}\;\varepsilon , \qquad t \in [0, 1].$$
#
# $b_t$ is the noise variance. Every pixel is mixed independently; the factor
# $\sqrt{1-b_t}$ shrinks the image so that the total variance stays near 1. Kamb & Ganguli
# use the *cosine schedule* (Nichol & Dhariwal, 2021) with offset $s = 0.008$:
#
# $$b(t) = 1 - \cos^2\!\Big(\frac{t + s}{1 + s}\cdot\frac{\pi}{2}\Big).$$
#
# The offset keeps $b(0) \approx 1.6\cdot 10^{-4}$ slightly above zero, so even the last
# step of the sampler divides by a positive number.
#
# **Exercise 1.** Write `cosine_noise_var(t)` for a tensor of times `t`.

# %%
def cosine_noise_var(t):
    """(T,) times in [0, 1] -> (T,) noise variances b(t) of the cosine schedule."""
    ### BEGIN SOLUTION
    offset = 0.008
    return 1 - torch.cos((t + offset) / (1 + offset) * torch.pi / 2) ** 2
    ### END SOLUTION


# %%
from course_utils.grading import check
check("03.cosine_noise_var", cosine_noise_var)

# %% [markdown]
# From now on the lesson uses your `cosine_noise_var` once its check has passed, else
# `course_utils.diffusion.cosine_noise_var` (which also knows the paper code's "legacy"
# variant); the cell says which. One digit, noised to ten times with the *same* noise
# $\varepsilon$, and the schedule beside it. The signal-to-noise ratio
# $\mathrm{SNR} = (1-b)/b$ falls from about 6,400 at $t = 0$ to 0 at $t = 1$ and crosses 1
# at $t \approx 0.5$; the digit is still recognisable there and gone by $t \approx 0.8$.

# %%
from course_utils import diffusion

schedule = use_passing("03.cosine_noise_var", cosine_noise_var, diffusion.cosine_noise_var)

times = torch.linspace(0, 1, 10, dtype=torch.float64)
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(3))
noisy = torch.cat([add_noise(train[:1], schedule(t).item(), eps) for t in times])

fig = plt.figure(figsize=(11, 2.6))
left = fig.add_axes([0.0, 0.1, 0.62, 0.8])
show_images(noisy, ncols=10, ax=left, title="one digit at t = 0, 1/9, ..., 1 (same noise)")
right = fig.add_axes([0.7, 0.2, 0.28, 0.7])
grid = torch.linspace(0, 1, 201, dtype=torch.float64)
b_grid = schedule(grid)
right.plot(grid, b_grid, label="noise variance $b$")
right.plot(grid, 1 - b_grid, label="signal variance $1-b$")
right.set(xlabel="t", title="cosine schedule")
right.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 3. The ideal denoiser of a training set
#
# A diffusion network $D_\theta(x, b)$ is trained to predict the clean image from the noisy
# one, minimising $\mathbb E\,\|D_\theta(x_t, b_t) - x_0\|^2$ over training images and noise.
# The best possible answer is the posterior mean $D(x) = \mathbb E[x_0 \mid x_t = x]$. For a
# training set $\{\varphi_\mu\}_{\mu = 1}^N$ of equally likely images, Bayes' rule gives it in
# closed form. With $a = \sqrt{1 - b}$, the likelihood of $x$ given $x_0 = \varphi_\mu$ is the
# Gaussian $\mathcal N(x;\, a\varphi_\mu,\, bI)$, so
#
# $$D(x) = \sum_{\mu=1}^N w_\mu(x)\,\varphi_\mu, \qquad
#   w_\mu(x) = \frac{\exp\!\big(-\|x - a\varphi_\mu\|^2 / 2b\big)}
#                   {\sum_\nu \exp\!\big(-\|x - a\varphi_\nu\|^2 / 2b\big)} .$$
#
# Kamb & Ganguli call this the **ideal score machine (IS)** (the score is
# $s(x) = -(x - aD(x))/b$). It is the optimum of the training objective, so a network with
# unlimited capacity trained to convergence *is* this function.
#
# **Exercise 2.** Write `ideal_weights(x, train, noise_var)`: the $(B, N)$ matrix of weights
# $w_\mu(x)$ for a batch `x` of shape $(B, C, H, W)$. Flatten each image to a vector.
# At small $b$ the exponents are around $-10^4$: `exp` underflows to $0/0$, `torch.softmax`
# subtracts the maximum first and stays exact.

# %%
def ideal_weights(x, train, noise_var):
    """(B, C, H, W) noisy, (N, C, H, W) training, float b -> (B, N) weights w_mu(x)."""
    ### BEGIN SOLUTION
    a = (1 - noise_var) ** 0.5
    d2 = torch.cdist(x.flatten(1), a * train.flatten(1)) ** 2
    return torch.softmax(-d2 / (2 * noise_var), dim=1)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("03.ideal_weights", ideal_weights)

# %% [markdown]
# The library's `course_utils.scores.ideal_denoise(x, train, noise_var)` computes
# $D(x) = \sum_\mu w_\mu \varphi_\mu$ streaming over chunks of the training set, so memory does
# not grow with $N$. Below we use the library's weights (in float64) to ask: *how many
# training digits does the denoiser still consider?* The effective number
# $N_\text{eff} = 1 / \sum_\mu w_\mu^2$ is $N$ when all weights are equal and 1 when one
# digit takes all.
#
# We noise a **held-out** digit, one the machine has never seen, to five noise levels and
# denoise it.

# %%
from course_utils.grading import lesson03
from course_utils.scores import ideal_denoise

weights_of = use_passing("03.ideal_weights", ideal_weights, lesson03.ideal_weights)

clean = test[:1]
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(4))
levels = [0.9, 0.6, 0.4, 0.25, 0.1]
rows, n_eff = [], []
for t in levels:
    b = schedule(torch.tensor(t)).item()
    x = add_noise(clean, b, eps)
    rows.append(torch.cat([x, ideal_denoise(x, train, b)]))
    n_eff.append(1 / (weights_of(x.double(), train.double(), b) ** 2).sum().item())
show_images(torch.stack(rows, 1).flatten(0, 1), ncols=len(levels),
            title="top: a held-out digit noised to t = " + ", ".join(map(str, levels))
            + "\nbottom: the ideal denoiser's answer D(x)", scale=1.0)
plt.show()
print("effective number of training digits:", [float(f"{n:.3g}") for n in n_eff])
print("nearest training digit to the bottom-right answer: distance",
      f"{nearest_image(rows[-1][1:], train)['dist'].item():.3g} (RMS per pixel)")

# %% [markdown]
# At high noise the IS answers with a blurry average of hundreds of digits; as the noise
# falls, the weights collapse onto a single training digit, and the answer at low noise
# *is* that training digit (RMS distance ~0), not the held-out digit we started from. The
# ideal denoiser cannot return an image it has not seen: it snaps to the nearest memory.
#
# ## 4. The DDIM sampler, step by step
#
# To generate, we run the noising process backwards in 20 steps $t_i = i / 20$, from pure
# noise $x_{t_{20}} \sim \mathcal N(0, I)$ to $t_0 = 0$. The deterministic DDIM update (Song et
# al., 2021) first reads off the noise that the denoiser believes is in $x$,
#
# $$\hat\varepsilon = \frac{x - \sqrt{1-b}\;D(x)}{\sqrt b},$$
#
# then re-noises the clean estimate to the next, lower noise level $b' = b(t_{i-1})$ with
# that same noise:
#
# $$x' = \sqrt{1-b'}\;D(x) + \sqrt{b'}\;\hat\varepsilon .$$
#
# No fresh randomness enters: the starting noise alone decides the sample.
#
# **Exercise 3.** Write one update, `ddim_step(x, denoised, noise_var, noise_var_prev)`.

# %%
def ddim_step(x, denoised, noise_var, noise_var_prev):
    """(B, C, H, W) x at noise b, its denoised estimate -> (B, C, H, W) x at noise b_prev."""
    ### BEGIN SOLUTION
    eps_hat = (x - (1 - noise_var) ** 0.5 * denoised) / noise_var ** 0.5
    return (1 - noise_var_prev) ** 0.5 * denoised + noise_var_prev ** 0.5 * eps_hat
    ### END SOLUTION


# %%
from course_utils.grading import check
check("03.ddim_step", ddim_step)

# %% [markdown]
# With your step (once its check has passed; else the library's) the whole sampler is a
# loop of four lines. We run it with the ideal denoiser from 64 noise seeds, keeping every
# intermediate $x$ and $D(x)$, and check that `course_utils.diffusion.ddim_sample`, the one
# sampler every later lesson uses, gives the same samples: bit for bit with the library's
# step, to float32 rounding (about $10^{-5}$) with a step written another way.

# %%
ddim_update = use_passing("03.ddim_step", ddim_step, diffusion.ddim_step)


def is_denoiser(x, noise_var):
    """(B, 1, 16, 16) -> (B, 1, 16, 16): the ideal score machine on the training digits."""
    return ideal_denoise(x, train, noise_var)


noise = torch.randn(64, *train.shape[1:], generator=torch.Generator().manual_seed(5))
b = sampling_noise_vars(20).tolist()  # b[i] = b(i / 20), i = 0 .. 20
x, xs, ds = noise, [noise], []
for i in range(20, 0, -1):
    denoised = is_denoiser(x, b[i])
    x = ddim_update(x, denoised, b[i], b[i - 1])
    xs.append(x)
    ds.append(denoised)
is_samples = x
library = ddim_sample(is_denoiser, noise, 20)
print(f"largest difference to ddim_sample: {(library - is_samples).abs().max().item():.3g}")

# %%
shown = [0, 4, 8, 10, 12, 14, 16, 18, 20]
t_labels = [f"{(20 - i) / 20:.2f}" for i in shown]
show_trajectory(torch.stack([xs[i] for i in shown])[:, :6], times=t_labels,
                title="x along 6 reverse trajectories (columns: t)")
plt.show()
show_trajectory(torch.stack([ds[i - 1] for i in shown[1:]])[:, :6], times=t_labels[1:],
                title="the denoiser's guess D(x) at the same steps")
plt.show()

# %% [markdown]
# Read the second strip: by $t \approx 0.5$ the denoiser's guess has already settled on one
# training digit, and the rest of the trajectory only sharpens it. The choice is made early,
# at high noise, and it is a choice *among the 1,700 training digits*.
#
# ## 5. Memorisation, measured
#
# For each of the 64 samples we find the nearest training digit and its root-mean-square
# pixel distance (pixels span $[-1, 1]$). As a yardstick we do the same for the 97 held-out
# digits: they are real, new digits, so their distance is what "new but plausible" looks
# like.

# %%
is_nearest = nearest_image(is_samples, train)
test_nearest = nearest_image(test, train)
print(f"IS samples:       median distance {is_nearest['dist'].median().item():.3g}, "
      f"largest {is_nearest['dist'].max().item():.3g}")
print(f"held-out digits:  median distance {test_nearest['dist'].median().item():.3g}, "
      f"smallest {test_nearest['dist'].min().item():.3g}")
copies = (is_nearest["dist"] < 0.05).float().mean().item()
print(f"IS samples within 0.05 of a training digit: {100 * copies:.0f} %")
print(f"distinct training digits reproduced: {len(is_nearest['index'].unique())} of 64 samples")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
bins = torch.logspace(-3, 0, 31).numpy()
axes[0].hist(is_nearest["dist"].clamp_min(1e-3).numpy(), bins=bins, label="64 IS samples")
axes[0].hist(test_nearest["dist"].numpy(), bins=bins, alpha=0.7, label="97 held-out digits")
axes[0].set(xscale="log", xlabel="RMS distance to the nearest training digit", ylabel="count",
            title="memorisation")
axes[0].legend(fontsize=8)
pairs = torch.stack([is_samples[:12], train[is_nearest["index"][:12]]], 1).transpose(0, 1)
show_images(pairs.flatten(0, 1), ncols=12, ax=axes[1],
            title="top: IS samples; bottom: their nearest training digits")
plt.tight_layout()
plt.show()

# %% [markdown]
# The two populations do not even overlap. Every IS sample sits on a training digit, more than
# ten times closer than a genuinely new digit ever gets. Even the small residue is no
# difference of shape: it is $\sqrt{b(0)} = 0.0125$, the noise that the last DDIM step
# leaves on purpose because the schedule stops at $b(0) \approx 1.6 \cdot 10^{-4}$, not 0. This is lesson 00's
# paradox for images: the denoiser that wins the training objective generates nothing new.
# Trained convolutional networks, however, do make new digits. Something stops them from
# being ideal.
#
# ## Summary
# - The forward process $x_t = \sqrt{1-b_t}\,x_0 + \sqrt{b_t}\,\varepsilon$ with the cosine
#   schedule takes a digit to pure noise; it is recognisable down to SNR $\approx 1$.
# - The ideal denoiser (IS) of a training set is a softmax-weighted average of training
#   images; its effective number of images collapses from hundreds to one as noise falls.
# - DDIM reads off $\hat\varepsilon$ and re-noises $D(x)$ to the next level: four lines of code,
#   no fresh randomness.
# - IS samples are copies: RMS distance 0.012 to a training digit (the last step's
#   leftover noise), versus 0.18 (median) for held-out digits.
#
# **Next.** A convolutional network cannot compute the IS: each output pixel sees only a
# small window of its input. Lesson 04 builds the best denoiser under that constraint, the
# *local score machine*, and watches the copies start to break apart.
# → `04_locality.ipynb`
