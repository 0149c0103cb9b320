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
# 1. compute the receptive field of a stack of convolutions and see it in a gradient map;
# 2. derive the LS machine: one Bayesian posterior per pixel, over training digits, given
#    only the pixel's $k \times k$ window; and implement it with `unfold`;
# 3. sample with it and measure what locality does to memorisation, as a function of $k$;
# 4. relate it to classical patch-based denoising (non-local means).
#
# Three exercises have instant checks; skipped ones are replaced by the library's version.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_utils.data import lesson_data
from course_utils.diffusion import add_noise, cosine_noise_var, ddim_sample
from course_utils.grading import use_passing
from course_utils.metrics import nearest_image
from course_utils.plots import show_images, source_colors
from course_utils.scores import ideal_denoise, local_denoise

torch.manual_seed(0)
# The lesson runs on the bundled digits. Set DATASET to "mnist", "fashion_mnist" or
# "cifar10" to rerun it on an optional download (README, "Data"): resized to 16 x 16,
# cut to 1,700 training and 97 held-out images so that it costs the same.
DATASET = "digits"
train, train_labels = lesson_data(DATASET, "train")  # (1700, 1, 16, 16) in [-1, 1]
test, _ = lesson_data(DATASET, "test")               # 97 held-out digits

# %% [markdown]
# ## 1. Receptive fields
#
# A $3 \times 3$ convolution computes each output pixel from the $3 \times 3$ input pixels
# around it. Stack a second one and each output pixel sees $5 \times 5$ input pixels; each
# stride-1 layer of kernel size $k_\ell$ widens the view by $k_\ell - 1$. The paper's ResNets
# stack eight $3 \times 3$ layers: a $17 \times 17$ field on $32 \times 32$ images, about
# half the image side.
#
# **Exercise 1.** Write `receptive_field(kernel_sizes)`: the side of the receptive field
# of stacked stride-1 convolutions with the given (odd) kernel sizes.

# %%
def receptive_field(kernel_sizes):
    """list of odd kernel sizes of stacked stride-1 convolutions -> side of the receptive field."""
    ### BEGIN SOLUTION
    return 1 + sum(k - 1 for k in kernel_sizes)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("04.receptive_field", receptive_field)

# %% [markdown]
# We can *see* a receptive field: take a network (here four random $3 \times 3$ layers,
# untrained: the field is a property of the architecture, not of the weights), pick one
# output pixel, and ask autograd which input pixels its value depends on. The answer is a
# $9 \times 9$ square, $1 + 4 \cdot 2$. Whatever such a network learns, that pixel can never
# know what happens outside the square.

# %%
torch.manual_seed(1)
cnn = torch.nn.Sequential(*[layer for i in range(4) for layer in (
    torch.nn.Conv2d(1 if i == 0 else 16, 1 if i == 3 else 16, 3, padding=1), torch.nn.Tanh())])
x = test[:1].clone().requires_grad_(True)
cnn(x)[0, 0, 8, 8].backward()
cnn_field = (x.grad[0, 0] != 0)
side = int(cnn_field.any(dim=0).sum())
print(f"input pixels that reach output pixel (8, 8): {int(cnn_field.sum())} = {side} x {side}")

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
# $k$ as large as the whole image (twice its side, so every window covers everything) the
# LS machine becomes the IS machine of lesson 03.
#
# **Exercise 2.** Write `local_denoiser(x, train, noise_var, k)` for one-channel images
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
# Your version holds a $(B, HW, N, k^2)$ tensor: fine for a check, far too big for 1,700
# digits. The library's `course_utils.scores.local_denoise(x, train, noise_var, k,
# boundary="zeros")` streams over chunks of training digits with a running log-sum-exp, so
# memory stays small and the result does not depend on the chunk size.
#
# Does the LS machine really have a $k \times k$ receptive field? It has no weights to
# differentiate, so we measure influence directly: nudge one input pixel at a time (256
# copies of a noisy digit, each with one pixel changed by 0.1) and see whether output
# pixel $(8, 8)$ moves. We do the same for the IS machine. Receptive fields do not depend on
# the data, so 200 training digits suffice here, and float64 keeps rounding noise (about
# $10^{-7}$ in float32) from passing for influence.

# %%
b = cosine_noise_var(0.5).item()
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(2))
x = add_noise(test[:1], b, eps).double()
few = train[:200].double()
nudged = x.repeat(257, 1, 1, 1)  # copy 0 untouched, copy q + 1 with pixel q nudged
nudged[1:, 0].view(256, 256)[torch.arange(256), torch.arange(256)] += 0.1


def moves(denoised):
    """(257, 1, 16, 16) outputs -> (16, 16) change of output pixel (8, 8) per nudged input pixel."""
    return (denoised[1:, 0, 8, 8] - denoised[0, 0, 8, 8]).abs().reshape(16, 16)


influence = {
    "CNN, 4 layers of 3x3\n(autograd)": cnn_field.double(),
    "LS machine, k = 5": moves(local_denoise(nudged, few, b, 5)),
    "IS machine": moves(ideal_denoise(nudged, few, b)),
}
fig, axes = plt.subplots(1, 3, figsize=(8.4, 3))
for ax, (name, field) in zip(axes, influence.items()):
    ax.imshow(field > 1e-9 * field.max(), cmap="Blues", vmin=0, vmax=1.3)
    ax.plot(8, 8, "r+", ms=10, mew=2)
    ax.set(title=name, xticks=[], yticks=[])
fig.suptitle("which input pixels move output pixel (8, 8) (red cross)", y=1.02)
plt.show()
for name, field in influence.items():
    print(f"{name.splitlines()[0]:>24}: {int((field > 1e-9 * field.max()).sum())} input pixels")

# %% [markdown]
# The LS machine's field is the $5 \times 5$ window, like a small CNN's. The IS machine reads
# the whole image before deciding anything; the only pixels that cannot move it are those
# that are black in all 200 training digits here (the border columns): nudging such a pixel
# changes every distance $\|x - a\varphi_\mu\|^2$ by the same amount, and a softmax ignores a
# common shift.
#
# ## 3. Sampling with the LS machine
#
# Same sampler, same noise seeds as lesson 03, only the denoiser changes. We try patch sizes
# $k = 3, 7, 11$ and put the IS samples from the same seeds underneath. To keep the lesson
# near a minute on a laptop CPU we draw 6 samples per machine and give every machine the
# same 500 training digits (each LS step compares every window of every sample with the
# 500 training windows at the same position).

# %%
subset = train[:500]
noise = torch.randn(6, *train.shape[1:], generator=torch.Generator().manual_seed(5))
patch_sizes = [3, 7, 11]
samples = {}
for k in patch_sizes:
    samples[f"LS k={k}"] = ddim_sample(lambda x, b: local_denoise(x, subset, b, k), noise)
samples["IS"] = ddim_sample(lambda x, b: ideal_denoise(x, subset, b), noise)

fig, axes = plt.subplots(len(samples), 1, figsize=(4.6, 1.1 * len(samples)))
for ax, (name, images) in zip(axes, samples.items()):
    show_images(images, ncols=6, ax=ax)
    ax.text(-1, 8, name, ha="right", va="center", fontsize=9)
plt.show()

# %% [markdown]
# Small windows give blotchy, broken strokes; larger windows give cleaner digits, closer and
# closer to the IS machine's copies in the bottom row. Are the LS samples new? The nearest training
# digit answers, with the held-out digits (real, new digits) as a yardstick.

# %%
yardstick = nearest_image(test, subset)["dist"].median().item()
print(f"{'held-out digits':>16}: median distance to nearest training digit {yardstick:.3g}")
for name, images in samples.items():
    dist = nearest_image(images, subset)["dist"]
    print(f"{name:>16}: median distance to nearest training digit {dist.median().item():.3g}")

# %% [markdown]
# With small and medium windows the LS samples are farther from the training set than
# genuinely new digits are: locality alone ends memorisation. As $k$ grows towards the image
# size the distance falls towards the IS machine's copies. But look again at the samples: strokes stay where
# strokes are in the training digits, because pixel $p$ only ever copies pixel $p$ of some
# training digit. The LS machine is **position-locked**.
#
# Which digit did each pixel copy? At the end of sampling the noise is almost gone, and
# pixel $p$'s softmax is dominated by the training digit whose window at $p$ is nearest.
# Colour each pixel by that digit (one colour per training digit):

# %%
def dominant_digit(images, k):
    """(B, 1, H, W) -> (B, H, W) index of the training digit whose window at each pixel is nearest."""
    queries = F.unfold(images, k, padding=k // 2).permute(2, 0, 1)     # (HW, B, kk)
    patches = F.unfold(subset, k, padding=k // 2).permute(2, 0, 1)     # (HW, N, kk)
    nearest = torch.cdist(queries.double(), patches.double()).argmin(dim=2)  # (HW, B)
    return nearest.T.reshape(len(images), *images.shape[2:])


k = 7
source = dominant_digit(samples[f"LS k={k}"][:5], k)
rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
colours = source_colors(source, rows.expand_as(source), cols.expand_as(source), "image")
fig, axes = plt.subplots(2, 5, figsize=(7, 3))
for i in range(5):
    show_images(samples[f"LS k={k}"][i:i + 1], ax=axes[0, i])
    axes[1, i].imshow(colours[i], interpolation="nearest")
    axes[1, i].set_axis_off()
    axes[1, i].set_title(f"{len(source[i].unique())} digits", fontsize=8)
fig.suptitle(f"LS samples (k = {k}) and the training digit each pixel copies", fontsize=10)
plt.show()

# %% [markdown]
# Each sample is a patchwork of dozens of training digits, glued pixel by pixel, each piece
# in its original place. Lesson 05 releases the position lock.
#
# ## 4. A classical cousin: non-local means
#
# Patch-based denoising is older than diffusion models. **Non-local means** (Buades, Coll &
# Morel, 2005) denoises an image $y$ with the image itself as patch library: pixel $p$
# becomes a weighted average of all pixels $q$ whose surrounding patch looks like $p$'s,
#
# $$\hat y_p = \sum_q w_{pq}\, y_q, \qquad
#   w_{pq} = \operatorname{softmax}_q\!\Big(-\frac{\|y_{[p]} - y_{[q]}\|^2}{h^2}\Big).$$
#
# Compare with the LS formula: the same softmax over patch distances, weighting centre
# pixels. Two differences: the library is the *noisy image itself* instead of clean
# training digits, and the match may come from *any position* $q$, not only $p$.
#
# **Exercise 3.** Write `nonlocal_means(y, k, h)` for a batch of one-channel images, with
# zero-padded $k \times k$ windows (`F.unfold` again) and `torch.cdist` for all window pairs.

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
# Now the three denoisers on eight held-out digits at $t = 0.3$ ($b \approx 0.21$). For
# non-local means we first undo the signal scaling, $y = x / a$, so that the pixel noise has
# standard deviation $\sigma = \sqrt{b/(1-b)}$, and take $h = \sigma k$: two patches of the same
# clean content then differ by about $2\sigma^2 k^2$, weight $e^{-2}$.

# %%
from course_utils.grading import lesson04

nlm = use_passing("04.nonlocal_means", nonlocal_means, lesson04.nonlocal_means)

clean = test[:8]
b = cosine_noise_var(0.3).item()
a, sigma = (1 - b) ** 0.5, (b / (1 - b)) ** 0.5
x = add_noise(clean, b, torch.randn(8, *train.shape[1:], generator=torch.Generator().manual_seed(1)))
results = {
    "noisy (x / a)": x / a,
    "non-local means, k = 5": nlm(x / a, 5, sigma * 5),
    "LS machine, k = 5": local_denoise(x, train, b, 5),
    "IS machine": ideal_denoise(x, train, b),
    "clean": clean,
}
fig, axes = plt.subplots(len(results), 1, figsize=(6, 1.2 * len(results)))
for ax, (name, images) in zip(axes, results.items()):
    show_images(images, ncols=8, ax=ax)
    error = ((images - clean) ** 2).mean().sqrt().item()
    ax.text(-1, 8, f"{name}\nRMS error {error:.3g}", ha="right", va="center", fontsize=9)
plt.show()

# %% [markdown]
# Non-local means halves the noise but has no clean patches to copy, so strokes stay grainy.
# The IS machine returns clean digits, but each one is a whole training digit, the nearest it
# knows rather than the one we noised, and its error shows it. The LS machine has the lowest
# error: clean local pieces, chosen pixel by pixel, can reassemble a digit it has never seen. That is
# the double edge of locality: it generalises, and it creates.
#
# ## Summary
# - A stack of stride-1 convolutions sees a $(1 + \sum_\ell (k_\ell - 1))$-wide window: each
#   output pixel is blind to the rest of the image.
# - The best denoiser under that constraint is the LS machine: an independent softmax over
#   training digits at every pixel, using only the $k \times k$ window there.
# - LS samples are not copies (their nearest training digit is as far as for real new
#   digits), but they are position-locked patchworks, stitched from dozens of digits.
# - Non-local means is the same idea with the noisy image as its own patch library.
#
# **Next.** Convolutions are also *translation equivariant*: shift the input and the output
# shifts with it, so a good local pattern is good anywhere. Lesson 05 adds that constraint
# and gets the ELS machine: patch mosaics that Kamb & Ganguli show predict what trained
# networks generate. → `05_equivariance.ipynb`
