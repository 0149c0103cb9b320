# %% [markdown]
# # 04 · Locality: every pixel decides for itself
#
# *Local Rules, Creative Machines*: lesson 04 of 10.
#
# Lesson 03 ended with a perfect denoiser that only copies. A convolutional network cannot
# be that denoiser, for a simple reason: each of its output pixels is computed from a small
# window of the input, its *receptive field*. Here we ask what the *best* denoiser with that
# restriction is, compute it in closed form (Kamb & Ganguli's **local score machine**, LS),
# and sample with it. The copies break apart: every pixel now picks its own training digits.
# Alan Turing's local rules (lesson 01) made spots and stripes from purely local
# interactions; here local decisions make new digits.
#
# **Learning goals.** After this lesson you can
# 1. measure the receptive field of any denoiser, network or machine, with an influence map;
# 2. derive the LS machine: one Bayesian posterior per pixel, over training digits, given
#    only the pixel's $k \times k$ window; and implement it with `unfold`;
# 3. sample with it and measure what locality does to memorisation, as a function of $k$;
# 4. relate it to classical patch-based denoising (non-local means) and say what differs.
#
# Three exercises have instant checks; skipped ones are replaced by the library's version,
# and passed ones are used by the rest of the lesson.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_utils import data, diffusion, metrics, plots, scores
from course_utils.grading import use_passing

torch.manual_seed(0)
# The lesson runs on the shipped real MNIST digits at 16 x 16 (4,500 training, 500 held
# out). Set DATASET to "digits" (the small UCI set), or to "mnist", "fashion_mnist" or
# "cifar10" to rerun it on an optional download (README, "Data"): resized to 16 x 16 and
# cut to the same counts, so that it costs the same.
DATASET = "mnist5k"
train, train_labels = data.lesson_data(DATASET, "train")  # (4500, 1, 16, 16) in [-1, 1]
test, _ = data.lesson_data(DATASET, "test")               # (500, 1, 16, 16) held-out digits

# %% [markdown]
# ## 1. Receptive fields
#
# A $3 \times 3$ convolution computes each output pixel from the $3 \times 3$ input pixels
# around it. Stack a second one and each output pixel sees $5 \times 5$ input pixels; each
# stride-1 layer of kernel size $k_\ell$ widens the view by $k_\ell - 1$. Kamb & Ganguli's
# ResNets stack eight $3 \times 3$ layers on $32 \times 32$ images: a
# $17 \times 17$ field, about half the image side (printed):

# %%
layers, kernel, side = 8, 3, 32  # Kamb & Ganguli's ResNets
paper_field = 1 + layers * (kernel - 1)
print(f"receptive field: 1 + {layers}*{kernel - 1} = {paper_field}, {paper_field}/{side} = {paper_field / side:.2f}")

# %% [markdown]
# A network's layers can be counted, but the LS and IS machines below have no layers, and a
# trained network may use less of its field than its layers allow. One measurement works
# for all of them: nudge one input pixel $q$ by a small $\delta$ and see how far output
# pixel $p$ moves. Repeated for every $q$, this gives an *influence map* of $p$: zero
# outside what $p$ can see.
#
# **Exercise 1** (about 15 min, medium). Write `influence_map(denoiser, x, noise_var, row,
# col, delta)` for one one-channel image `x` of shape $(1, 1, H, W)$: an $(H, W)$ tensor
# whose entry $q$ is $|D(x + \delta e_q)[p] - D(x)[p]|$, with $p$ = `(row, col)` and $e_q$
# the image that is 1 at pixel $q$ and 0 elsewhere. Nudge a fresh copy of `x` for each
# $q$ (`x.clone()`), or build all $HW$ nudged copies as one batch.

# %%
def influence_map(denoiser, x, noise_var, row, col, delta):
    """denoiser(x, b), (1, 1, H, W) x, float b, output pixel, float delta -> (H, W) |change of D(x)[row, col]| per nudged input pixel."""
    ### BEGIN SOLUTION
    height, width = x.shape[2:]
    nudges = delta * torch.eye(height * width, dtype=x.dtype).reshape(-1, 1, height, width)
    moved = denoiser(x + nudges, noise_var)[:, 0, row, col]           # (HW,)
    return (moved - denoiser(x, noise_var)[0, 0, row, col]).abs().reshape(height, width)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("04.influence_map", influence_map)

# %% [markdown]
# Three denoisers, one output pixel $p = (8, 8)$: a network of four random $3 \times 3$
# layers (untrained: the field is a property of the architecture, not of the weights), the
# LS machine with $k = 5$ that section 2 derives, and lesson 03's IS machine. The CNN's and
# the LS machine's fields are fixed by construction (by the layers, by $k$), whatever the
# data; the IS machine's field is the whole image, but how much of it measurably moves the
# output depends on the data. It uses 200 training digits here, and we also measure it
# on a second noisy digit and on 200 other training digits. Float64
# keeps rounding noise from passing for influence: a pixel counts when it moves the output
# by more than $10^{-9}$ of the largest move.
#
# **Predict.** How many input pixels can move output pixel $(8, 8)$ of each?

# %%
from course_utils.grading import lesson04

influence = use_passing("04.influence_map", influence_map, lesson04.influence_map)

torch.manual_seed(1)
cnn = torch.nn.Sequential(*[layer for i in range(4) for layer in (
    torch.nn.Conv2d(1 if i == 0 else 16, 1 if i == 3 else 16, 3, padding=1), torch.nn.Tanh())]).double()
b = diffusion.cosine_noise_var(0.5).item()
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(2))
x = diffusion.add_noise(test[:1], b, eps).double()
few = train[:200].double()
denoisers = {
    "CNN, 4 layers of 3x3": lambda x, b: cnn(x).detach(),
    "LS machine, k = 5": lambda x, b: scores.local_denoise(x, few, b, 5),
    "IS machine": lambda x, b: scores.ideal_denoise(x, few, b),
}
fields = {name: influence(denoiser, x, b, 8, 8, 0.1) for name, denoiser in denoisers.items()}


def moving_pixels(field):
    """(H, W) influence map -> (H, W) bool: the pixels that move the output by more than 1e-9 of the largest move."""
    return field > 1e-9 * field.max()


fig, axes = plt.subplots(1, 3, figsize=(8.4, 3))
for ax, (name, field) in zip(axes, fields.items()):
    ax.imshow(moving_pixels(field), cmap="Blues", vmin=0, vmax=1.3)
    ax.plot(8, 8, "r+", ms=10, mew=2)
    ax.set(title=name, xticks=[], yticks=[])
fig.suptitle("input pixels that move output pixel (8, 8) (red cross) when nudged by 0.1", y=1.02)
plt.show()
for name, field in fields.items():
    moving = moving_pixels(field)
    print(f"{name:>21}: {int(moving.sum())} input pixels move it (by > 1e-9 of the largest move), "
          f"{int(moving.any(dim=0).sum())} x {int(moving.any(dim=1).sum())}")
still = ~moving_pixels(fields["IS machine"])
is_weights = torch.softmax(-((x - (1 - b) ** 0.5 * few) ** 2).flatten(1).sum(1) / (2 * b), 0)
heaviest = is_weights.argsort(descending=True)
black = few[heaviest, 0] == few.min()                          # (200, H, W), heaviest digit first
n_black = int(black.int().cumprod(0)[:, still].all(1).sum())   # heaviest digits black at every still pixel
print(f"IS machine: {int(still.sum())} input pixels do not move it; all are black in its {n_black} "
      f"heaviest training digits, which leave {is_weights[heaviest[n_black:]].sum().item():.3g} "
      f"of the softmax weight to the other {len(few) - n_black}")
always_black = int((few[:, 0] == few.min()).all(dim=0).sum())
print(f"pixels black in all 200 training digits: {always_black}")


def is_moving(x, library):
    """(1, 1, H, W) noisy, (N, 1, H, W) training -> input pixels that move IS output pixel (8, 8)."""
    return int(moving_pixels(influence(lambda x, b: scores.ideal_denoise(x, library, b),
                                       x, b, 8, 8, 0.1)).sum())


print(f"IS machine, input pixels that move it: {int((~still).sum())} here, "
      f"{is_moving(diffusion.add_noise(test[1:2], b, eps).double(), few)} for held-out digit 1 "
      f"(same noise), {is_moving(x, train[200:400].double())} with training digits 200-399")

# %% [markdown]
# The network's field is the $9 \times 9$ square, $1 + 4 \cdot 2$: whatever it learns,
# that pixel can never know what happens outside the square. The LS machine's field is the
# $5 \times 5$ window, like a small CNN's. The IS machine reads the whole image before
# deciding anything: its field is the whole image, not a window, and how much of it
# measurably moves the output is not fixed by construction: 171 pixels here, 217 for
# another noisy digit, 158 with 200 other training digits (printed). The 85 pixels that do
# not move it (light in the map), mostly near the border, are all black in the 25 training
# digits that carry almost all the weight of its softmax (they leave 3.07e-08 to the other
# 175; all printed): nudging such a pixel changes those digits' distances
# $\|x - a\varphi_\mu\|^2$ by the same amount, and a softmax ignores a common shift. Only
# 31 of the 85 are black in all 200 digits; the others are black where it matters, in the
# digits the softmax trusts.

# %% [markdown]
# ## 2. The local score machine
#
# Suppose the denoiser's output at pixel $p$ may depend only on $x_{[p]}$, the $k \times k$
# window of the noisy image centred on $p$ (zero-padded at the border). The best such
# function is again a posterior mean, now given the window only:
# $D_p(x) = \mathbb E[\,x_0(p) \mid x_{t,[p]} = x_{[p]}\,]$. The same Bayes computation as in
# lesson 03, with whole images replaced by windows, gives
#
# $$D_p(x) = \sum_{\mu=1}^N w_\mu(p)\,\varphi_\mu(p), \qquad
#   w_\mu(p) = \operatorname{softmax}_\mu\!\Big(-\frac{\|x_{[p]} - a\,\varphi_{\mu,[p]}\|^2}{2b}\Big),
#   \qquad a = \sqrt{1-b}.$$
#
# One softmax *per pixel*: pixel $p$ weighs each training digit $\mu$ by how well that
# digit's window **at the same position** $p$ explains the noisy window. Neighbouring
# pixels see overlapping but different windows, so they may trust different digits. With
# $k$ large enough that every window covers the whole image wherever it is centred (an odd
# $k \ge 2H - 1$ for an $H \times H$ image: the corner pixel's window must reach the far
# corner) the LS machine becomes the IS machine of lesson 03.
#
# **Think.** Pixel $p$ only ever copies pixel $p$ of some training digit. What must then be
# true of where strokes can appear in an LS sample? Keep your answer for section 3.
#
# **Exercise 2** (about 20 min, medium). Write `local_denoiser(x, train, noise_var, k)` for one-channel images
# with zero padding. `F.unfold(images, k, padding=k // 2)` returns every window as a
# column: shape $(N, k^2, HW)$; transpose it to $(N, HW, k^2)$. For each batch image,
# pixel and training digit you need a squared distance: shape $(B, HW, N)$.

# %%
def local_denoiser(x, train, noise_var, k):
    """(B, 1, H, W) noisy, (N, 1, H, W) training, float b, odd k -> (B, 1, H, W) LS estimate."""
    ### BEGIN SOLUTION
    a = (1 - noise_var) ** 0.5
    queries = F.unfold(x, k, padding=k // 2).transpose(1, 2)           # (B, HW, kk)
    patches = F.unfold(train, k, padding=k // 2).transpose(1, 2)       # (N, HW, kk)
    d2 = ((queries[:, :, None] - a * patches.transpose(0, 1)[None]) ** 2).sum(-1)  # (B, HW, N)
    weights = torch.softmax(-d2 / (2 * noise_var), dim=2)
    centres = train.flatten(1).T                                       # (HW, N)
    return (weights * centres[None]).sum(-1).reshape(x.shape)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("04.local_denoiser", local_denoiser)

# %% [markdown]
# A direct version holds a $(B, HW, N, k^2)$ tensor: fine for a check, far too big for 4,500
# digits. The library's `course_utils.scores.local_denoise(x, train, noise_var, k,
# boundary="zeros")` streams over chunks of training digits with a running log-sum-exp, so
# memory stays small and the result does not depend on the chunk size.
#
# ## 3. Sampling with the LS machine
#
# Same sampler, same noise seeds as lesson 03, only the denoiser changes. We try patch sizes
# $k = 3, 7, 11$ and put the IS samples from the same seeds underneath. To keep the lesson
# quick we draw 6 samples per machine and give every machine the
# same 300 of the 4,500 training digits (each LS step compares every window of every
# sample with the 300 training windows at the same position). Under each machine's row
# stands the training digit nearest to each of its samples.
#
# **Predict.** Lesson 03's IS samples were copies. Which row will be closest to its
# nearest training digits, and which farthest?

# %%
subset = train[:300]
print(f"every machine below uses {len(subset)} of the {len(train):,} training digits")
noise = torch.randn(6, *train.shape[1:], generator=torch.Generator().manual_seed(5))
patch_sizes = [3, 7, 11]
samples = {}
for k in patch_sizes:
    samples[f"LS k={k}"] = diffusion.ddim_sample(lambda x, b: scores.local_denoise(x, subset, b, k), noise)
samples["IS"] = diffusion.ddim_sample(lambda x, b: scores.ideal_denoise(x, subset, b), noise)
nearest = {name: metrics.nearest_image(images, subset) for name, images in samples.items()}

# %%
fig, axes = plt.subplots(2 * len(samples), 1, figsize=(4.6, 1.05 * 2 * len(samples)))
for row, (name, images) in enumerate(samples.items()):
    plots.show_images(images, ncols=6, ax=axes[2 * row])
    axes[2 * row].text(-1, 8, name, ha="right", va="center", fontsize=9)
    plots.show_images(subset[nearest[name]["index"]], ncols=6, ax=axes[2 * row + 1])
    axes[2 * row + 1].text(-1, 8, "its nearest\ntraining digit", ha="right", va="center",
                           fontsize=8, color="0.35")
plt.show()

# %% [markdown]
# The IS row and the row under it are the same digits: each IS sample *is* a training
# digit. Small windows give blotchy, broken strokes; larger windows give cleaner digits,
# closer and closer to copies. The distances say it in numbers, with the held-out digits
# (real digits that no machine has seen) as the yardstick of a genuinely new digit.

# %%
yardstick = metrics.nearest_image(test, subset)["dist"]
low, high = yardstick.quantile(torch.tensor([0.25, 0.75], dtype=yardstick.dtype)).tolist()
print(f"{'held-out digits':>16}: distance to nearest training digit, median {yardstick.median().item():.3g}, "
      f"middle half {low:.3g} to {high:.3g} ({len(test)} digits)")
for name, found in nearest.items():
    print(f"{name:>16}: median {found['dist'].median().item():.3g}, "
          f"per sample {', '.join(f'{d:.3g}' for d in found['dist'].tolist())}")

# %% [markdown]
# At $k = 3$ every LS sample is farther from its nearest training digit than the median
# held-out digit (0.343 to 0.421 against 0.302): small windows end memorisation. At
# $k = 7$ the samples spread from 0.194 to 0.407 (median 0.325), about as far as genuinely
# new digits are (the middle half of the held-out digits lies between 0.24 and 0.354). At
# $k = 11$ two of the six (0.0123 and 0.0136) are as close as the IS machine's copies
# (0.0116 to 0.0126): as $k$ grows towards the image size, the samples fall back to
# copies. Six samples per machine are few; these are a demonstration, not a measurement.
# But look again at the samples: strokes stay where strokes are in the training digits,
# because pixel $p$ only ever copies pixel $p$ of some training digit. The LS machine is
# **position-locked**.
#
# Which digit did each pixel copy? At the end of sampling the noise is almost gone, and
# pixel $p$'s softmax is dominated by the training digit whose window at $p$ is nearest
# (`course_utils.metrics.nearest_patches_in_place`). Colour each pixel by that digit (one
# colour per training digit). On the black background that question has no answer: a
# blank window is matched by hundreds of digits equally well and noise picks the winner,
# so background pixels (darker than $-0.5$) are greyed out and only ink pixels are counted.
# The same question asked of five held-out digits, which no machine made, is the baseline:
# any image's windows have *some* nearest training windows, so the count alone proves
# nothing; what a copy adds is that the pixel's value *is* its source digit's value there.

# %%
k = 7
sampled = samples[f"LS k={k}"][:5]
source = metrics.nearest_patches_in_place(sampled, subset, k)["image"]       # (5, 16, 16)
ink = sampled[:, 0] > -0.5                                            # (5, 16, 16)
rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
colours = plots.source_colors(source, rows.expand_as(source), cols.expand_as(source), "image")
colours[~ink.numpy()] = 0.85
fig, axes = plt.subplots(2, 5, figsize=(7, 3.1))
for i in range(5):
    plots.show_images(sampled[i:i + 1], ax=axes[0, i])
    axes[1, i].imshow(colours[i], interpolation="nearest")
    axes[1, i].set_axis_off()
    axes[1, i].set_title(f"{len(source[i][ink[i]].unique())} digits", fontsize=8)
fig.suptitle(f"LS samples (k = {k}) and the training digit each ink pixel copies "
             f"(grey: background)", fontsize=10)
plt.show()
print(f"training digits per LS sample, counting the background too: {[len(s.unique()) for s in source]}")
for name, images in {"LS samples": sampled, "held-out digits": test[:5]}.items():
    nearest_in_place = metrics.nearest_patches_in_place(images, subset, k)["image"]
    on_ink = images[:, 0] > -0.5
    gap = (images[:, 0] - subset[nearest_in_place, 0, rows, cols]).abs()[on_ink]
    print(f"{name:>15}: training digits per image, ink pixels {[len(s[m].unique()) for s, m in zip(nearest_in_place, on_ink)]}; "
          f"|pixel - that digit's pixel| on ink, median {gap.median().item():.2g}")

# %% [markdown]
# On the ink, each sample is a patchwork of 4 to 13 training digits (printed), glued in
# pieces from a few pixels to most of a stroke, each piece in its original place. Counting
# the background too would have suggested dozens (the first list), but those are ties
# broken by noise. The count alone does not make the patchwork: the held-out digits' ink
# is also best matched, window by window, by 4 to 20 training digits. The copying does:
# an LS sample's ink pixel differs from its source digit's pixel by a median of 0.02, a
# held-out digit's by 0.25 (printed). Lesson 05 releases the position lock.
#
# ## 4. A classical cousin: non-local means
#
# Patch-based denoising is older than diffusion models. **Non-local means** (Buades, Coll &
# Morel, 2005) denoises an image $y$ with the image itself as patch library: pixel $p$
# becomes a weighted average of all pixels $q$ whose surrounding patch looks like $p$'s,
#
# $$\hat y_p = \sum_q w_{pq}\, y_q .$$
#
# Its weights $w_{pq}$ are the LS machine's softmax over patch distances, with two
# differences: the library is the *noisy image itself* instead of clean training digits
# (so its windows are not scaled by $a$), and the match may come from *any position* $q$,
# not only from $p$. The temperature $2b$ becomes $h^2$, a width set by hand. The second
# difference is the step from LS to the ELS machine of lesson 05: a clean library,
# searched at every position.
#
# **Exercise 3** (about 10 min, easy). First write $w_{pq}$ out from the LS formula and
# these changes: which windows are compared, and over which index does the softmax run?
# Then write `nonlocal_means(y, k, h)` for a batch of one-channel images, with zero-padded
# $k \times k$ windows (`F.unfold` again): one distance for every pair of windows of the
# same image.

# %%
def nonlocal_means(y, k, h):
    """(B, 1, H, W) noisy, odd k, float h -> (B, 1, H, W): each pixel a patch-weighted mean of y."""
    ### BEGIN SOLUTION
    windows = F.unfold(y, k, padding=k // 2).transpose(1, 2)           # (B, HW, kk)
    weights = torch.softmax(-torch.cdist(windows, windows) ** 2 / h ** 2, dim=2)
    return (weights @ y.flatten(2).transpose(1, 2)).reshape(y.shape)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("04.nonlocal_means", nonlocal_means)

# %% [markdown]
# Now the three denoisers on eight held-out digits at $t = 0.3$ ($b = 0.213$, printed). For
# non-local means we first undo the signal scaling, $y = x / a$, so that the pixel noise has
# standard deviation $\sigma = \sqrt{b/(1-b)}$, and take $h = \sigma k$: two patches of the same
# clean content then differ by about $2\sigma^2 k^2$, weight $e^{-2}$.

# %%
from course_utils.grading import lesson04

nlm = use_passing("04.nonlocal_means", nonlocal_means, lesson04.nonlocal_means)

clean = test[:8]
b = diffusion.cosine_noise_var(0.3).item()
a, sigma = (1 - b) ** 0.5, (b / (1 - b)) ** 0.5
print(f"t = 0.3: b = {b:.3g}, sigma = sqrt(b / (1 - b)) = {sigma:.3g}")
x = diffusion.add_noise(clean, b, torch.randn(8, *train.shape[1:],
                                              generator=torch.Generator().manual_seed(1)))
results = {
    "noisy (x / a)": x / a,
    "non-local means, k = 5": nlm(x / a, 5, sigma * 5),
    "LS machine, k = 5": scores.local_denoise(x, train, b, 5),
    "IS machine": scores.ideal_denoise(x, train, b),
    "clean": clean,
}
errors = {name: ((images - clean) ** 2).mean().sqrt().item() for name, images in results.items()}
fig, axes = plt.subplots(len(results), 1, figsize=(6, 1.2 * len(results)))
for ax, (name, images) in zip(axes, results.items()):
    plots.show_images(images, ncols=8, ax=ax)
    ax.text(-1, 8, f"{name}\nRMS error {errors[name]:.3g}", ha="right", va="center", fontsize=9)
plt.show()
print("RMS error against the clean digits: "
      + "; ".join(f"{name}: {error:.3g}" for name, error in errors.items() if name != "clean"))

# %% [markdown]
# Non-local means cuts the RMS error from 0.536 to 0.305 (printed) but has no clean patches
# to copy, so strokes stay grainy.
# The IS machine returns clean digits, but each one is a whole training digit, the nearest it
# knows rather than the one we noised, and its error shows it. The LS machine has the lowest
# error: clean local pieces, chosen pixel by pixel, can reassemble a digit it has never seen. That is
# the double edge of locality: it generalises, and it creates.
#
# ## Summary
# - A stack of stride-1 convolutions sees a $(1 + \sum_\ell (k_\ell - 1))$-wide window: each
#   output pixel is blind to the rest of the image. An influence map (nudge each input
#   pixel, watch one output pixel) measures that field for any denoiser.
# - The best denoiser under that constraint is the LS machine: an independent softmax over
#   training digits at every pixel, using only the $k \times k$ window there.
# - LS samples with small windows are not copies: at $k = 3$ each is farther from its nearest
#   training digit than the median held-out digit, at $k = 7$ about as far as held-out digits
#   are. At $k = 11$ some are copies again, as every IS sample is (its nearest training digit
#   is itself). The new ones are position-locked patchworks, stitched from several digits.
# - Non-local means shares the LS machine's softmax over patch distances but differs twice:
#   its library is the noisy image itself, and a match may come from any position $q$.
#   Searching every position is the step to the ELS machine.
#
# **Further reading.**
# - M. Kamb, S. Ganguli, *An analytic theory of creativity in convolutional diffusion
#   models*, ICML 2025, [arXiv:2412.20292](https://arxiv.org/abs/2412.20292): section 3
#   (the LS machine).
# - A. Buades, B. Coll, J.-M. Morel, *A non-local algorithm for image denoising*, CVPR 2005,
#   [doi:10.1109/CVPR.2005.38](https://doi.org/10.1109/CVPR.2005.38).
# - W. Luo, Y. Li, R. Urtasun, R. Zemel, *Understanding the effective receptive field in deep
#   convolutional neural networks*, NeurIPS 2016, [arXiv:1701.04128](https://arxiv.org/abs/1701.04128).
#
# **Next.** Convolutions are also *translation equivariant*: shift the input and the output
# shifts with it, so a good local pattern is good anywhere. Lesson 05 adds that constraint
# and gets the ELS machine: patch mosaics that Kamb & Ganguli show predict what trained
# networks generate. → [05_equivariance.ipynb](05_equivariance.ipynb)
