# %% [markdown]
# # 05 · Equivariance: patch mosaics
#
# *Local Rules, Creative Machines*: lesson 05 of 10.
#
# Lesson 04's local machine stopped copying, but each pixel could only borrow from the
# *same position* in the training digits. A convolutional network has a second
# constraint that removes that lock: it applies the same filters everywhere, so shifting its
# input shifts its output. The best denoiser that is both local and translation equivariant
# is Kamb & Ganguli's **equivariant local score (ELS) machine**. Its samples are *patch
# mosaics*: every small piece comes from some training image, at some position, and the
# whole is new. This is the answer to lesson 00's paradox, and in lesson 07 we will see it
# predict what trained networks generate.
#
# **Learning goals.** After this lesson you can
# 1. test a denoiser for translation equivariance, and say which of IS / LS / CNN pass;
# 2. write the ELS weights of one pixel: a softmax over every training image *and* every
#    position;
# 3. read a "where did this pixel come from" map of an ELS sample;
# 4. measure novelty at two scales (whole image vs $k \times k$ patch), for IS, LS and ELS;
# 5. explain what zero padding at the image border changes, and use ELS on textures and
#    on one class of digits.
#
# Two exercises have instant checks; skipped ones are replaced by the library's version.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils.data import lesson_data
from course_utils.diffusion import Trajectory, add_noise, cosine_noise_var, ddim_sample
from course_utils.grading import use_passing
from course_utils.metrics import nearest_image
from course_utils.plots import show_images, show_sources
from course_utils.scores import (PatchSchedule, els_denoise, ideal_denoise, local_denoise, machine,
                                 nearest_patches)

torch.manual_seed(0)
# The lesson runs on the bundled digits. Set DATASET to "mnist", "fashion_mnist" or
# "cifar10" to rerun it on an optional download (README, "Data"): resized to 16 x 16,
# cut to 1,700 training and 97 held-out images so that it costs the same.
DATASET = "digits"
digits_train, digit_labels = lesson_data(DATASET, "train")
test, _ = lesson_data(DATASET, "test")
# ELS compares every window with every training window at every position: 256 times the
# work of LS. 200 training digits and 6 samples per machine keep this lesson near a minute
# on a laptop CPU; with more time, use them all.
train = digits_train[:200]
print(f"training digits used by every machine in this lesson: {len(train)}")

# %% [markdown]
# ## 1. Translation equivariance
#
# A denoiser $D$ is *translation equivariant* if shifting the input shifts the output:
# $D(S x) = S\,D(x)$ for every shift $S$. A convolution with circular padding is exactly
# equivariant under circular shifts (`torch.roll`); with zero padding it is equivariant away
# from the border. The machines of lessons 03 and 04 compare the input with training images
# *at fixed positions*, so we should expect them to fail.
#
# **Exercise 1.** Write `equivariance_error(denoiser, x, noise_var, rows, cols)`: shift `x`
# circularly by `(rows, cols)` with `torch.roll(x, shifts=(rows, cols), dims=(2, 3))`, and
# return the largest absolute difference between $D(Sx)$ and $S D(x)$ as a Python float.

# %%
def equivariance_error(denoiser, x, noise_var, rows, cols):
    """denoiser(x, b), (B, C, H, W) x, float b, shift -> float max |D(S x) - S D(x)|."""
    ### BEGIN SOLUTION
    shifted = torch.roll(x, shifts=(rows, cols), dims=(2, 3))
    difference = denoiser(shifted, noise_var) - torch.roll(denoiser(x, noise_var),
                                                           shifts=(rows, cols), dims=(2, 3))
    return difference.abs().max().item()
    ### END SOLUTION


# %%
from course_utils.grading import check
check("05.equivariance_error", equivariance_error)

# %% [markdown]
# Now the test on our machines, in float64 so that rounding cannot pass for an error, on a
# noisy held-out digit shifted by (3, 2) pixels. The ELS machine with circular padding,
# defined next, is included already.

# %%
from course_utils.grading import lesson05

shift_error = use_passing("05.equivariance_error", equivariance_error, lesson05.equivariance_error)

b = cosine_noise_var(0.5).item()
x = add_noise(test[:2], b, torch.randn(2, *train.shape[1:],
                                                   generator=torch.Generator().manual_seed(1)))
x, few = x.double(), train[:100].double()
machines = {
    "IS": lambda x, b: ideal_denoise(x, few, b),
    "LS, k = 5": lambda x, b: local_denoise(x, few, b, 5, "circular"),
    "ELS, k = 5, circular": lambda x, b: els_denoise(x, few, b, 5, "circular"),
}
for name, denoiser in machines.items():
    print(f"{name:>22}: max |D(Sx) - S D(x)| = {shift_error(denoiser, x, b, 3, 2):.3g}")

# %% [markdown]
# ## 2. The ELS machine
#
# Kamb & Ganguli show that the optimal denoiser under *both* constraints, locality with
# patch size $k$ and equivariance, is again a posterior mean, but over a much larger
# library: every $k \times k$ patch of every training image, at every position $q$. With
# $a = \sqrt{1-b}$,
#
# $$D_p(x) = \sum_{\mu}\sum_{q} w_{\mu q}(p)\,\varphi_\mu(q), \qquad
#   w_{\mu q}(p) = \operatorname{softmax}_{\mu, q}\!\Big(
#       -\frac{\|x_{[p]} - a\,\varphi_{\mu,[q]}\|^2}{2b}\Big).$$
#
# Compare with LS: the softmax now also runs over the position $q$, and pixel $p$ takes the
# centre pixel $\varphi_\mu(q)$ of whichever patch explains its window, *wherever that patch
# was*. Equivariance is why: a network that uses the same filters everywhere cannot know
# where a pattern came from. With circular padding every $(\mu, q)$ is allowed.
#
# **Exercise 2.** Write `els_weights(x, train, noise_var, k, row, col)`: for one noisy image
# `x` of shape $(1, C, H, W)$ and one pixel `(row, col)`, the weights $w_{\mu q}$ as an
# $(N, H, W)$ tensor (summing to 1), with circular padding
# (`F.pad(..., mode="circular")`, then `F.unfold`).

# %%
import torch.nn.functional as F


def els_weights(x, train, noise_var, k, row, col):
    """(1, C, H, W) noisy, (N, C, H, W) training -> (N, H, W) ELS weights of pixel (row, col)."""
    ### BEGIN SOLUTION
    r = k // 2
    a = (1 - noise_var) ** 0.5
    query = F.pad(x, (r, r, r, r), mode="circular")[0, :, row:row + k, col:col + k].reshape(-1)
    patches = F.unfold(F.pad(train, (r, r, r, r), mode="circular"), k).transpose(1, 2)
    d2 = ((query - a * patches) ** 2).sum(-1)                           # (N, HW)
    weights = torch.softmax(-d2.flatten() / (2 * noise_var), dim=0)
    return weights.reshape(train.shape[0], *train.shape[2:])
    ### END SOLUTION


# %%
from course_utils.grading import check
check("05.els_weights", els_weights)

# %% [markdown]
# Where does pixel $(5, 8)$ of a noisy digit look for its patch? Summing $w_{\mu q}$ over the
# training digits $\mu$ gives a map over positions $q$; its effective number of positions,
# $1 / \sum_q (\sum_\mu w_{\mu q})^2$, is 256 for a uniform map and 1 for a single position. The library's `els_denoise` computes
# all pixels at once, streaming over training chunks; here we use the reference weights.

# %%
weights_at = use_passing("05.els_weights", els_weights, lesson05.els_weights)

clean = test[3:4]
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(2))
fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
show_images(clean, ax=axes[0], title="held-out digit\n(red: pixel p)")
axes[0].plot(8, 5, "r+", ms=9, mew=2)
for ax, t in zip(axes[1:], (0.8, 0.5, 0.3, 0.1)):
    b = cosine_noise_var(t).item()
    weights = weights_at(add_noise(clean, b, eps).double(), train.double(), b, 5, 5, 8)
    where = weights.sum(0)
    ax.imshow(where, cmap="magma")
    ax.plot(8, 5, "c+", ms=9, mew=2)
    ax.set(xticks=[], yticks=[],
           title=f"t = {t}: weight by q\n{1 / (where ** 2).sum().item():.3g} positions (effective)")
plt.show()

# %% [markdown]
# At high noise the weight spreads over many positions; as the noise falls it concentrates
# on a few, and they need not be at $p$ itself. Pixel $p$ is free to borrow a stroke from
# anywhere in any digit.
#
# ## 3. Sampling: patch mosaics
#
# The sampler is the same as before. Trained networks behave as if their patch size grows
# with the noise level. We use the schedule that lesson 07 calibrates against the small
# zero-padded ResNet of lesson 06 (`course_utils/checkpoints/digits-resnet-zeros.schedule.json`):
# $k = 3$ at the quietest steps, 5 and 7 in the middle, 9 at the noisiest. The patch size
# belongs to the machine: `PatchSchedule.from_steps` turns the per-step list into a function
# of the noise level, and `machine("els", train, schedule, boundary)` is a denoiser with the
# signature of every other, `denoiser(x, noise_var)`, that looks its k up at each call.

# %%
# entry i - 1: the patch size for the step that starts at t = i / 20
schedule = PatchSchedule.from_steps([3, 3, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 9, 9, 9, 9, 9, 9, 9, 9])
noise = torch.randn(6, *train.shape[1:], generator=torch.Generator().manual_seed(5))
els_zeros = machine("els", train, schedule, boundary="zeros")  # "boundary-broken" ELS
path = Trajectory()  # keeps every step of the sampler
els_samples = ddim_sample(els_zeros, noise, callback=path)
show_images(els_samples, ncols=6, title="ELS samples (zero padding)", scale=1.0)
plt.show()

# %% [markdown]
# These look like handwriting, but not like any particular digit: strokes join at odd
# places, a loop meets a bar. Every pixel was decided by its own window's best explanation,
# and neighbouring windows overlap, which keeps strokes continuous over a few pixels but not
# across the whole image.
#
# ## 4. Where did each pixel come from?
#
# `els_denoise(..., return_source=True)` also returns, for every output pixel, the training
# patch with the largest weight: its image $\mu$ and centre position $q$. We ask at the last
# step (from $t = 1/20$ to 0), where that patch is what the pixel copies, but with $k = 7$
# instead of the schedule's 3: a $3 \times 3$ window of black paper or of a stroke's middle is
# matched equally well by hundreds of digits, a $7 \times 7$ window singles out one. Blank
# background pixels have no meaningful source and are greyed out. Left: the sample; middle:
# one colour per source digit; right: the shift from $p$ to $q$ (white: same position, as LS
# would be forced to; hue: direction; saturation: distance).

# %%
b_last = cosine_noise_var(1 / 20).item()
_, source = els_denoise(path.x[-2], train, b_last, 7, boundary="zeros", return_source=True)
ink = els_samples[:, 0] > -0.5  # (B, H, W): pixels with a stroke nearby
show_sources(els_samples[:4], source["image"][:4], source["row"][:4], source["col"][:4],
             mask=ink[:4])
plt.show()
rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
moved = ((source["row"] != rows) | (source["col"] != cols))[ink].float().mean().item()
print(f"source digits per sample (ink pixels): "
      f"{[len(src[mask].unique()) for src, mask in zip(source['image'], ink)]}")
print(f"ink pixels copied from a different position: {100 * moved:.3g} %")

# %% [markdown]
# Each sample is stitched from dozens of digits, in pieces of a few pixels (runs of one
# colour), and most pieces come from somewhere else in their source digit: a stroke from the
# left edge of one "7" can end up in the middle of a new image. This is the mosaic.
#
# ## 5. Novelty at two scales
#
# If ELS samples are mosaics, they should be **far** from every training image as a whole,
# but **close** to training data in every $k \times k$ window. We measure both, as RMS pixel
# distances, for IS, LS and ELS samples from the same 6 noise seeds and the same 200
# training digits: `nearest_image` (whole image) and `nearest_patches` (each $5 \times 5$
# window against every training window it may borrow from as the zero-padded ELS machine
# does: any position, but a window over the border only one over the same border;
# averaged over the pixels).

# %%
samples = {
    "IS": ddim_sample(lambda x, b: ideal_denoise(x, train, b), noise),
    "LS": ddim_sample(machine("local", train, schedule, boundary="zeros"), noise),
    "ELS": els_samples,
}
novelty = {}
yardstick = {"held-out digits": test[:6]}  # real digits that no machine has seen
for name, images in {**yardstick, **samples}.items():
    image_dist = nearest_image(images, train)["dist"]
    patch_dist = nearest_patches(images, train, 5, boundary="zeros")["dist"].flatten(1).mean(1)
    novelty[name] = (image_dist, patch_dist)
    print(f"{name:>15}: nearest training image {image_dist.median().item():.3g}, "
          f"nearest 5x5 training patch {patch_dist.median().item():.3g}  (medians)")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
for (name, (image_dist, patch_dist)), marker in zip(novelty.items(), "xosD"):
    axes[0].scatter(image_dist, patch_dist, label=name, marker=marker, s=40)
axes[0].set(xlabel="RMS distance to nearest training image",
            ylabel="mean RMS distance to\nnearest 5x5 training patch",
            title="new as a whole, familiar in every piece")
axes[0].legend()
show_images(torch.cat(list(samples.values())), ncols=6, ax=axes[1],
            title="rows: IS, LS, ELS (same noise seeds)")
plt.tight_layout()
plt.show()

# %% [markdown]
# IS samples sit at the origin: copies, whole and in every piece. LS and ELS samples are
# at least as far from every training image as real held-out digits are (new as a whole),
# while each of their $5 \times 5$ windows lies several times closer to some training window
# (familiar in every piece). Locally familiar, globally new: that combination is what Kamb &
# Ganguli call creativity in a convolutional diffusion model. Note that ELS pieces are not
# closer to the training data than LS pieces; what equivariance changes is *where* a piece
# may come from (section 4), which is what makes ELS samples look like mosaics rather than
# position-locked blends, and what lets it predict real networks (lesson 07).
#
# ## 6. The border: circular vs zero padding
#
# With circular padding every window is an interior window: the image is a torus, and a
# patch may be taken from any position. With zero padding (what most CNNs use) a window that
# hangs over the border sees zeros there (here $0$ is mid-grey, not the black background).
# Kamb & Ganguli's *boundary-broken* ELS machine respects this: pixel $p$ may only use
# training patches that overlap the padding exactly as its own window does. Interior pixels
# borrow from any interior position; a pixel on the top edge only from patches on the top
# edge, and so on. The border therefore tells every pixel where it is.

# %%
els_circular = machine("els", train, schedule, boundary="circular")  # the ELS machine on a torus
circular_samples = ddim_sample(els_circular, noise)
fig, axes = plt.subplots(2, 1, figsize=(7, 2.6))
show_images(els_samples, ncols=6, ax=axes[0], title="zero padding (boundary-broken ELS)")
show_images(circular_samples, ncols=6, ax=axes[1], title="circular padding")
plt.show()
border = torch.ones(16, 16, dtype=torch.bool)
border[2:-2, 2:-2] = False
for name, images in (("zeros", els_samples), ("circular", circular_samples)):
    ink = (images[:, 0, border] > 0).float().mean().item()
    print(f"{name:>8}: pixels brighter than mid-grey in the 2-pixel frame: {100 * ink:.3g} %")
print(f"training digits: {100 * (train[:, 0, border] > 0).float().mean().item():.3g} %")

# %% [markdown]
# With zero padding the frame carries about as much ink as in the training digits: the
# border is a landmark, and the mosaic is anchored to it. On the torus nothing marks the
# edge, so strokes run across it and reappear on the opposite side, and the frame gets
# markedly more ink than any training digit has there.
# This is also why, in lesson 07, a circularly padded network is harder to predict than a
# zero-padded one.
#
# ## 7. New textures
#
# Patch mosaics are exactly what a texture is. We give the circular ELS machine the 80
# crops of 16 x 16 cells of the "mazes" Turing pattern from lesson 01 (Gray-Scott
# simulations, `course_utils.turing.texture_dataset`) and sample.

# %%
from course_utils.turing import TEXTURE_CLASSES, texture_dataset

textures, texture_labels = texture_dataset("train", size=16, stride=16)
mazes = textures[texture_labels == list(TEXTURE_CLASSES).index("mazes")]
maze_noise = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(7))
new_mazes = ddim_sample(machine("els", mazes, schedule, boundary="circular"), maze_noise)
fig, axes = plt.subplots(2, 1, figsize=(7, 2.6))
show_images(mazes[:6], ncols=6, ax=axes[0], title=f"training crops ({len(mazes)} in all)")
show_images(new_mazes, ncols=6, ax=axes[1], title="ELS samples")
plt.show()
print(f"ELS textures: nearest training crop {nearest_image(new_mazes, mazes)['dist'].median().item():.3g}, "
      f"nearest 5x5 patch {nearest_patches(new_mazes, mazes, 5, 'circular')['dist'].mean().item():.3g}")

# %% [markdown]
# The samples are new crops (far from every training crop as a whole) made of maze pieces
# (close in every $5 \times 5$ window), but with only 80 crops and windows of at most 9 cells
# the pieces do not always join into clean, evenly spaced stripes: long-range order is
# exactly what a local machine cannot see. Lesson 01's reaction-diffusion rules, also purely
# local, do get it right, because they run for thousands of steps and let order propagate.
#
# ## 8. One class at a time
#
# Class-conditional machines simply use the training images of one class. Here: the ELS
# machine built from the threes only.

# %%
threes = digits_train[digit_labels == 3]
three_samples = ddim_sample(machine("els", threes, schedule, boundary="zeros"), noise)
fig, axes = plt.subplots(2, 1, figsize=(5, 2.8))
show_images(threes[:6], ncols=6, ax=axes[0], title="training threes")
show_images(three_samples, ncols=6, ax=axes[1],
            title=f"ELS samples from the {len(threes)} training threes")
plt.show()
print(f"nearest training three: median {nearest_image(three_samples, threes)['dist'].median().item():.3g}")

# %% [markdown]
# Pieces of threes only: the samples inherit the class's strokes, and still copy no training
# three (compare the distance with the IS copies of lesson 03, 0.012).

# %% [markdown]
# ## Summary
# - A CNN is local and translation equivariant; IS and LS are not equivariant, ELS is.
# - The ELS machine is one softmax per pixel over every training patch at every position:
#   each output pixel copies the centre of the patch that best explains its window.
# - Its samples are patch mosaics: far from every training image, close to training data in
#   every window. The "where did it come from" map shows dozens of sources per sample.
# - Zero padding breaks equivariance at the border and anchors the mosaic to the frame;
#   circular padding lets it wrap. On textures, mosaics are new textures.
#
# **Next.** Is this what real networks do? Lesson 06 trains a small convolutional diffusion
# model on these digits on your CPU and measures its receptive field; lesson 07 puts it side
# by side with the ELS machine from the same noise. → `06_network.ipynb`
