# %% [markdown]
# # 00 · The paradox: a perfect denoiser can only copy
#
# *Local Rules, Creative Machines* — lesson 00 of 10.
#
# Diffusion models make new images by **removing noise**, one small step at a time.
# The network at their heart is trained to do one thing: look at a noisy image and guess
# the clean image behind it. This lesson shows, with nothing but a few 2-D points, that if
# that network were *perfect* it could never make anything new. It would copy its
# training data. Real diffusion models do create. The rest of the course explains why.
#
# **Learning goals.** After this lesson you can
# 1. write the forward (noising) process $x_t = \sqrt{1-b_t}\,x_0 + \sqrt{b_t}\,\varepsilon$
#    and the cosine noise schedule;
# 2. derive the *ideal denoiser* $D(x) = \mathbb E[x_0 \mid x_t = x]$ of a finite training set
#    in closed form: a softmax-weighted average of training points;
# 3. run a deterministic DDIM sampler with any denoiser;
# 4. measure memorisation: every sample lands on a training point.
#
# Exercises have an instant check. Solve them in place: replace
# `raise NotImplementedError()` with your code and run the check cell below. If you skip
# one, the lesson still runs: it goes on with the course library's own version.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils import diffusion, reproduce, scores
from course_utils.grading import use_passing

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # a 2-D toy: exactness costs nothing here

# %% [markdown]
# ## 1. A training set of five points
#
# Our "images" are points in the plane: five of them, on a pentagon. A diffusion model
# trained on them should, ideally, generate new points *like* these. What does "like"
# mean when there are only five? Keep the question in mind.

# %%
angles = torch.arange(5) * 2 * torch.pi / 5 + torch.pi / 2
train = 1.5 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (5, 2)
colors = plt.cm.tab10(torch.arange(5).numpy())

fig, ax = plt.subplots(figsize=(3.2, 3.2))
ax.scatter(*train.T, c=colors, s=120, marker="*", edgecolor="k", zorder=3)
ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title="training set: 5 points")
plt.show()

# %% [markdown]
# ## 2. Forward process: drowning the data in noise
#
# A clean point $x_0$ is mixed with Gaussian noise $\varepsilon \sim \mathcal N(0, I)$:
#
# $$x_t = \sqrt{1-b_t}\;x_0 + \sqrt{b_t}\;\varepsilon, \qquad 0 \le b_t \le 1 .$$
#
# $b_t$ is the **noise variance** at time $t \in [0, 1]$. The factor $\sqrt{1-b_t}$ shrinks
# the signal so that the total variance stays about 1 ("variance preserving").
#
# **The noise schedule.** How fast should $b$ grow with $t$? Three facts pin it down:
# * at $t = 1$ nothing of the data may be left: $b(1) = 1$ exactly;
# * at $t = 0$ the data should be clean, or very nearly;
# * the two weights $\sqrt{1-b}$ and $\sqrt{b}$ are numbers whose squares add up to 1, so
#   they are the cosine and the sine of one angle $\theta$: $\sqrt{1-b} = \cos\theta$,
#   $\sqrt b = \sin\theta$. A schedule is a way to turn $\theta$ from (almost) 0 to a
#   quarter turn, $\pi/2$.
#
# The **cosine schedule** turns the angle at a constant rate, with a clock that starts a
# little early: $\theta$ is proportional to $t + s$, with a small offset $s = 0.008$, and
# scaled so that it reaches exactly a quarter turn at $t = 1$. So at $t = 0$ the angle is
# small but not 0, and a trace of noise remains. Why start early? Nichol & Dhariwal
# ([2021](https://arxiv.org/abs/2102.09672)), who introduced this shape, found that
# networks struggle to predict the noise accurately when the first noise levels are tiny,
# and shifted the clock by $s = 0.008$. They also divide by the value at $t = 0$ so that
# their $b(0) = 0$. The schedule as Kamb & Ganguli's paper writes it, used throughout this
# course, does not, so here $b(0)$ is small but positive. The default of their code, a
# "legacy" variant, drops the offset from the numerator instead: it starts at $b(0) = 0$
# but ends just short of pure noise, $b(1) < 1$; both are printed after Exercise 1. That
# breaks the first fact, which is why the course uses the schedule as the paper writes
# it; lesson 03 comes back to it.
#
# **Predict.** Before you write it: is $b(t)$ a straight line in $t$? Where does it change
# fastest: near $t = 0$, in the middle, or near $t = 1$?
#
# **Exercise 1** (about 10 min, easy). Write `cosine_schedule(t, offset)`: `t` is a tensor
# of times in $[0, 1]$ of any shape (a single time, a row, a grid), `offset` is the float
# $s$; return the noise variances $b(t)$, a tensor of the same shape. Build it from the
# three facts above: find the angle $\theta(t)$, then $b$ from it.

# %%
def cosine_schedule(t, offset):
    """(...) times in [0, 1], float offset s -> (...) noise variances b(t)."""
    ### BEGIN SOLUTION
    angle = (t + offset) / (1 + offset) * torch.pi / 2
    return torch.sin(angle) ** 2
    ### END SOLUTION


# %%
from course_utils.grading import check
check("00.cosine_schedule", cosine_schedule)

# %% [markdown]
# From here on the lesson draws the schedule with your `cosine_schedule` once its check
# has passed, else with the library's `course_utils.diffusion.cosine_noise_var` (the cell
# says which; the sampler of section 4 always uses the library's, the same function).
# The ends of the schedule, and its steepest point:

# %%
noise_var_at = use_passing("00.cosine_schedule", cosine_schedule, diffusion.cosine_noise_var)
OFFSET = diffusion.COSINE_OFFSET
ends = noise_var_at(torch.tensor([0.0, 1.0]), OFFSET)
grid = torch.linspace(0, 1, 201)
slope = noise_var_at(grid, OFFSET).diff() / grid.diff()
print(f"offset s = {OFFSET}:  b(0) = {ends[0].item():.2e}  (noise amplitude sqrt(b(0)) = "
      f"{ends[0].sqrt().item():.4f}),  b(1) = {ends[1].item():.6f}")
print(f"b(t) rises fastest at t = {grid[slope.argmax()].item():.2f}, "
      f"slope {slope.max().item():.2f}; slope near t = 0: {slope[0].item():.3f}, "
      f"near t = 1: {slope[-1].item():.3f}")
legacy_ends = diffusion.cosine_noise_var(torch.tensor([0.0, 1.0]), OFFSET, legacy=True)
print(f"the paper code's legacy variant (diffusion.cosine_noise_var(t, legacy=True)): "
      f"b(0) = {legacy_ends[0].item():.2g}, b(1) = {legacy_ends[1].item():.6f}")

# %% [markdown]
# Not a straight line: $b$ starts flat (slope 0.051 near $t = 0$), rises fastest in the
# middle (slope 1.56 at $t = 0.49$), and flattens again as it reaches 1 (slope 0.012 near
# $t = 1$). The angle itself turns at a constant rate; the squares make the ends flat:
# near $t = 0$, $b = \sin^2\theta \approx \theta^2$ is the square of a small number, and
# near $t = 1$ so is $1 - b = \cos^2\theta$. Little noise is added at first, so the fine
# detail of the data survives for a while.
#
# **Exercise 2** (about 5 min, easy). Write `add_noise(x0, noise_var, eps)` for a batch of
# points `x0` of shape `(B, 2)`, a float `noise_var` $= b$ and noise `eps` of the same shape
# as `x0`.

# %%
def add_noise(x0, noise_var, eps):
    """(B, 2) clean points, float b, (B, 2) noise -> (B, 2) noisy points."""
    ### BEGIN SOLUTION
    return (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps
    ### END SOLUTION


# %%
from course_utils.grading import check
check("00.add_noise", add_noise)

# %% [markdown]
# From here on the lesson uses your `add_noise` once its check has passed, else the
# library's `course_utils.diffusion.add_noise` (which also takes one noise level per batch
# element); the cell says which. Watch the five points dissolve.

# %%
noise_points = use_passing("00.add_noise", add_noise, diffusion.add_noise)

ts = [0.0, 0.3, 0.6, 0.8, 1.0]
x0 = train[torch.arange(500) % 5]
eps = torch.randn_like(x0)
fig, axes = plt.subplots(1, len(ts) + 1, figsize=(15, 2.8))
for ax, t in zip(axes, ts):
    b = noise_var_at(torch.tensor(t), OFFSET).item()
    xt = noise_points(x0, b, eps)
    ax.scatter(*xt.T, c=colors[torch.arange(500) % 5], s=4)
    ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal", xticks=[], yticks=[],
           title=f"t = {t:.1f},  b = {b:.2g}")
axes[-1].plot(grid, noise_var_at(grid, OFFSET), label="noise $b$")
axes[-1].plot(grid, 1 - noise_var_at(grid, OFFSET), "--", label="signal $1-b$")
axes[-1].set(xlabel="t", title="cosine schedule")
axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(0, 0.6), handlelength=1.5)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The ideal denoiser
#
# A denoiser is trained to minimise $\mathbb E\,\|D(x_t) - x_0\|^2$ over training points
# $x_0$ and noise. The minimiser is the posterior mean $D(x) = \mathbb E[x_0 \mid x_t = x]$.
# For a training set $\{\varphi_\mu\}_{\mu=1}^N$ (each equally likely) Bayes' rule gives it in
# closed form. With $a = \sqrt{1-b}$, the likelihood of $x$ given $x_0 = \varphi_\mu$ is
# $\mathcal N(x;\, a\varphi_\mu,\, b I)$, so
#
# $$D(x) = \sum_\mu w_\mu(x)\,\varphi_\mu, \qquad
#   w_\mu(x) = \operatorname{softmax}_\mu\!\Big(-\frac{\|x - a\,\varphi_\mu\|^2}{2b}\Big).$$
#
# This is the **ideal score machine (IS)** of Kamb & Ganguli: the score is
# $s(x) = -(x - aD(x))/b$, and no network trained on these five points can beat it on the
# training objective.
#
# **Exercise 3** (about 15 min, medium). Write `ideal_denoiser(x, train, noise_var)`: `x` is `(B, 2)`, `train` is
# `(N, 2)`, and the result is `(B, 2)`. Tip: at small $b$ the exponents are huge and
# negative; compute the weights with `torch.softmax` on the exponents, not with `exp`
# followed by a division.

# %%
def ideal_denoiser(x, train, noise_var):
    """(B, 2) noisy points, (N, 2) training points, float b -> (B, 2) E[x0 | x]."""
    ### BEGIN SOLUTION
    a = (1 - noise_var) ** 0.5
    logits = -torch.cdist(x, a * train) ** 2 / (2 * noise_var)
    return torch.softmax(logits, dim=1) @ train
    ### END SOLUTION


# %%
from course_utils.grading import check
check("00.ideal_denoiser", ideal_denoiser)

# %% [markdown]
# The library's `course_utils.scores.ideal_denoise` does the same for images of shape
# `(B, C, H, W)`. A 2-D point is simply a 1 x 1 image with 2 channels, so one function
# serves both; every machine of this course and every network has this one signature,
# `denoiser(x, noise_var) -> E[x0 | x]`.
#
# What does the ideal denoiser do to the plane? Below, each arrow points from $x$
# towards $a\,D(x)$, where the denoiser wants to go; all arrows are drawn the same
# length and their colour gives the distance $|a\,D(x) - x|$. At high noise everything is pulled
# towards the centre of the data; at low noise the plane splits into five basins, one
# per training point.

# %%


def point_denoiser(x, noise_var):
    """(B, 2) points -> (B, 2): the image machine applied to 1 x 1 images with 2 channels."""
    return scores.ideal_denoise(x.reshape(-1, 2, 1, 1), train.reshape(-1, 2, 1, 1),
                                noise_var).reshape(-1, 2)


side = torch.linspace(-3, 3, 19)
mesh = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1).reshape(-1, 2)
times = [0.9, 0.6, 0.3]
pulls = [(1 - b) ** 0.5 * point_denoiser(mesh, b) - mesh
         for b in (diffusion.cosine_noise_var(t).item() for t in times)]
# the full pulls overlap and hide their heads: draw directions, colour the distance
lengths = [pull.norm(dim=1) for pull in pulls]
distance = plt.Normalize(0, max(length.max().item() for length in lengths))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
for ax, t, pull, length in zip(axes, times, pulls, lengths):
    b = diffusion.cosine_noise_var(t).item()
    direction = 0.8 * (side[1] - side[0]) * pull / length.clamp_min(1e-12)[:, None]
    arrows = ax.quiver(*mesh.T, *direction.T, length, cmap="viridis", norm=distance,
                       angles="xy", scale_units="xy", scale=1, width=0.006)
    ax.scatter(*train.T, c=colors, s=120, marker="*", edgecolor="k", zorder=3)
    ax.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2), aspect="equal", xticks=[], yticks=[],
           title=f"t = {t},  b = {b:.2f}")
fig.suptitle("the ideal denoiser's pull, $a\\,D(x) - x$")
fig.colorbar(arrows, ax=axes, label="distance $|a\\,D(x) - x|$", shrink=0.9)
plt.show()

# %% [markdown]
# ## 4. Sampling: run the movie backwards
#
# To generate, start from pure noise at $t = 1$ and walk down to $t = 0$ in 20 steps
# $t_i = i/20$. The deterministic **DDIM** update keeps the current noise estimate
# $\hat\varepsilon = (x - aD(x))/\sqrt b$ and re-mixes it at the lower noise level:
#
# $$x_{t_{i-1}} = \sqrt{1-b_{i-1}}\;D(x_{t_i}) + \sqrt{b_{i-1}}\;\hat\varepsilon .$$
#
# `course_utils.diffusion.ddim_sample(denoiser, noise, steps)` does exactly this for any
# denoiser; read its loop. A `Trajectory` callback keeps every step: we draw 500 samples
# and follow 60 of them.
#
# **Predict.** The samples start as 500 independent Gaussian points. Where will they end:
# spread around the pentagon, on its edges, at its centre, or somewhere else? What share
# of them will you call new?

# %%
noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
path = diffusion.Trajectory()
samples = diffusion.ddim_sample(point_denoiser, noise, 20, callback=path)
nearest = torch.cdist(samples, train).min(dim=1)
spacing = torch.pdist(train).min().item()  # neighbours on the pentagon
copy_radius = spacing / 10
levels = diffusion.sampling_noise_vars(20)
print(f"noise levels b(t_i), t = 1 -> 0: {[round(b, 3) for b in levels.flip(0)[:4].tolist()]} ... "
      f"{levels[0].item():.2e}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
ax = axes[0]
for i in range(60):
    ax.plot(*path.x[:, i].T, color=colors[nearest.indices[i]], lw=0.8, alpha=0.7)
    ax.scatter(*path.x[0, i], color="0.6", s=6)
ax.scatter(*train.T, c=colors, s=160, marker="*", edgecolor="k", zorder=3)
ax.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2), aspect="equal",
       title="60 DDIM trajectories, from noise (grey) to t = 0")
ax = axes[1]
ax.hist(nearest.values.log10().numpy(), bins=30, color="C0")
ax.axvline(torch.tensor(copy_radius).log10(), color="C3", ls="--",
           label=f"copy radius {copy_radius:.3f}")
ax.axvline(torch.tensor(spacing).log10(), color="k", ls=":",
           label=f"training-point spacing {spacing:.2f}")
ax.legend(fontsize=8, loc="upper left")
ax.set(xlabel="log10 distance to the nearest training point", ylabel="samples",
       title="where the 500 samples end")
plt.tight_layout()
plt.show()

# %% [markdown]
# How many samples are new? "New" has to be measured against the scale of the data: the
# five training points are 1.76 apart (neighbours on the pentagon). Call a sample a
# **copy** if it lies within a tenth of that spacing of a training point, i.e. it is
# unmistakably *that* point and no other. The sampler itself cannot hit a point exactly:
# its last step still re-mixes noise of standard deviation $\sqrt{b(0)} \approx 0.012$
# per coordinate, so copies scatter a few hundredths around their training point.

# %%
leftover_noise = diffusion.sampling_noise_vars(20)[0].sqrt().item()
copies = (nearest.values < copy_radius).float().mean().item()
print(f"training-point spacing: {spacing:.2f};  copy radius (spacing / 10): {copy_radius:.3f}")
print(f"samples that land on a training point: {100 * copies:.1f} %")
print(f"largest distance to a training point:  {nearest.values.max().item():.3f} "
      f"({100 * nearest.values.max().item() / spacing:.1f} % of the spacing)")
print(f"noise left by the last step, sqrt(b(0)): {leftover_noise:.3f}")
counts = torch.bincount(nearest.indices, minlength=5).tolist()
print(f"samples per training point:            {counts}")
fine = torch.cdist(diffusion.ddim_sample(point_denoiser, noise, 100), train).min(dim=1).values
print(f"with 100 steps instead of 20, largest distance: {fine.max().item():.3f}")

# %% [markdown]
# Every single sample is a copy: all 500 lie within 3.7 % of the spacing of a training
# point, and the distances that remain are the sampler's own error, not new points. Part
# of it is the noise the last step leaves ($\sqrt{b(0)} = 0.012$ per coordinate), part the
# error of taking 20 finite steps: with 100 steps, and the same $b(0)$, the largest
# distance falls from 0.066 to 0.044. The histogram above shows it: one bump far to the
# left of the copy radius, nothing near the spacing.
# This is not a bug of the sampler: it is what the optimal denoiser *means*. The training objective is minimised by the posterior mean of the
# **empirical** distribution (five spikes), and running the reverse process with that
# denoiser samples from those five spikes. The same holds for images: with thousands of
# digits as training set, the ideal denoiser reproduces training digits (lesson 03
# measures it).
#
# **Think.** The copy radius is a choice. Would a radius of a fifth, or a hundredth, of
# the spacing change the verdict? Read the answer off the histogram before you go on.
#
# ## The paradox
#
# Yet diffusion models trained on finite data produce images that appear nowhere in their
# training set: new faces, new digits, and hands with six fingers. If the perfect
# solution of their training problem memorises, **why do real diffusion models create?**
#
# Kamb & Ganguli (ICML 2025) give a precise answer: convolutional networks are *local*
# (each output pixel sees only a small window) and *translation equivariant*. The best
# denoiser under those two constraints, the **equivariant local score (ELS) machine**,
# cannot memorise: it stitches new images from training patches. Kamb & Ganguli report
# that, started from the same noise, it predicts the images trained networks generate:
# the median Pearson $r$ between the machine's image and the network's is 0.77 to 0.96
# over their ten networks, where the ideal machine, which memorises, reaches only 0.15 to
# 0.80 (their Table 1, printed below). Lesson 07 tests this claim on the course's own
# networks.

# %%
print("the paper's Table 1: median r of each machine's image with the network's")
for model, (els, _, ideal) in reproduce.PAPER_MEDIAN_R.items():
    print(f"  {model:30s} ELS {els:.2f}   IS {ideal:.2f}")
els, ideal = zip(*((row[0], row[2]) for row in reproduce.PAPER_MEDIAN_R.values()))
print(f"ELS {min(els):.2f} to {max(els):.2f}, IS {min(ideal):.2f} to {max(ideal):.2f}; "
      f"ELS above IS for {sum(e > i for e, i in zip(els, ideal))} of the {len(els)} networks")

# %% [markdown]
# **Summary**
# - Forward process: $x_t = \sqrt{1-b_t}\,x_0 + \sqrt{b_t}\,\varepsilon$. The two weights
#   are the cosine and sine of one angle; the cosine schedule turns it at a constant rate
#   from almost 0 (a trace of noise left by the offset) to a quarter turn (pure noise,
#   $b = 1$).
# - The ideal denoiser of a finite training set is a softmax-weighted average of the
#   training points; its weights sharpen as the noise falls.
# - Sampling with it lands on training points: 100 % of the samples are copies (within a
#   tenth of the training points' spacing).
#
# **Further reading**
# - M. Kamb and S. Ganguli, *An analytic theory of creativity in convolutional diffusion
#   models*, ICML 2025, [arXiv:2412.20292](https://arxiv.org/abs/2412.20292): the ELS
#   machine this course builds.
# - A. Nichol and P. Dhariwal, *Improved denoising diffusion probabilistic models*, ICML
#   2021, [arXiv:2102.09672](https://arxiv.org/abs/2102.09672): the cosine schedule.
# - J. Song, C. Meng and S. Ermon, *Denoising diffusion implicit models*, ICLR 2021,
#   [arXiv:2010.02502](https://arxiv.org/abs/2010.02502): the DDIM sampler.
# - J. Ho, A. Jain and P. Abbeel, *Denoising diffusion probabilistic models*, NeurIPS 2020,
#   [arXiv:2006.11239](https://arxiv.org/abs/2006.11239).
#
# **Discussion questions (for seminars)**
# 1. The ideal denoiser is the best possible answer to the training objective, yet it
#    generates nothing new. What does that say about judging a generative model by its
#    training loss?
# 2. With 5 training points every sample is a copy. Would 5 million points change the
#    verdict? What would change, and what would not?
# 3. The copy radius was set at a tenth of the spacing of the data. Argue for a different
#    yardstick, and say what it would measure.
# 4. A network cannot represent the ideal denoiser exactly. Which of its limits could make
#    it create, rather than merely blur its copies?
#
# **Next.** Locality is the key, and it is older than deep learning. Lesson 01 starts
# with Alan Turing's *local rules*: reaction-diffusion equations whose purely local
# interactions lay out stripes, spots and the digits of a hand.
# → [01_local_rules.ipynb](01_local_rules.ipynb)
