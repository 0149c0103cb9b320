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
# 1. test a denoiser for translation equivariance, and say which of IS / LS / ELS and two
#    trained CNNs (circular and zero padding) pass, and why;
# 2. write the ELS weights of one pixel: a softmax over every training image *and* every
#    position;
# 3. read a "where did this pixel come from" map of an ELS sample;
# 4. tell a mosaic from a blend: compare each piece of a sample with the training pieces at
#    the same position and at any position, against held-out, upside-down and blended digits;
# 5. say which positions a zero-padded border allows a pixel to borrow from, what that
#    changes in the samples, and use ELS on one class of digits.
#
# Three exercises have instant checks; skipped ones are replaced by the library's version,
# and passed ones are used by the rest of the lesson.

# %%
import matplotlib.pyplot as plt
import torch
from matplotlib.colors import LogNorm

from course_utils import checkpoints, data, diffusion, metrics, models, plots, scores
from course_utils.grading import use_passing

torch.manual_seed(0)
# The lesson runs on the shipped real MNIST digits at 16 x 16 (4,500 training, 500 held
# out). Set DATASET to "digits" (the small UCI set), or to "mnist", "fashion_mnist" or
# "cifar10" to rerun it on an optional download (README, "Data"): resized to 16 x 16 and
# cut to the same counts, so that it costs the same.
DATASET = "mnist5k"
digits_train, digit_labels = data.lesson_data(DATASET, "train")
test, test_labels = data.lesson_data(DATASET, "test")
# ELS compares every window with every training window at every position: 256 times the
# work of LS. So this lesson's machines use at most 200 of the 4,500 training digits, and
# 6 samples per machine; with more time, use more.
train = digits_train[:200]
print(f"training digits used in sections 2-6: {len(train)} of {len(digits_train)}")

# %% [markdown]
# ## 1. Translation equivariance
#
# A denoiser $D$ is *translation equivariant* if shifting the input shifts the output:
# $D(S x) = S\,D(x)$ for every shift $S$. A convolution with circular padding is exactly
# equivariant under circular shifts (`torch.roll`); with zero padding it is equivariant away
# from the border. The machines of lessons 03 and 04 compare the input with training images
# *at fixed positions*, so we should expect them to fail.
#
# **Exercise 1** (about 10 min, easy). Write `equivariance_error(denoiser, x, noise_var,
# rows, cols)`: $S$ shifts an image circularly (`torch.roll`) by `rows` pixels down its
# height and `cols` pixels to the right along its width; return the largest absolute difference
# between $D(Sx)$ and $S D(x)$ as a Python float. Which way, and along which axes, must
# $D(x)$ be shifted?

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
# Now the test on our machines and on two trained networks, in float64 so that rounding
# cannot pass for an error, on two noisy held-out digits shifted by (3, 2) pixels. The
# ELS machine with circular padding, defined next, is included already. The networks are
# lesson 06's small ResNets: the same architecture and training recipe, differing only in
# their padding (circular in one, zeros in the other), trained separately.
#
# **Predict.** Both ResNets are stacks of $3 \times 3$ convolutions with the same weights at
# every position. Will both pass?

# %%
from course_utils.grading import lesson05

shift_error = use_passing("05.equivariance_error", equivariance_error, lesson05.equivariance_error)

b = diffusion.cosine_noise_var(0.5).item()
x = diffusion.add_noise(test[:2], b, torch.randn(2, *train.shape[1:],
                                                 generator=torch.Generator().manual_seed(1)))
x, few = x.double(), train[:100].double()
print(f"training digits for the machines in this test: {len(few)}")
networks = {label: checkpoints.Checkpoint(name).model().double()
            for label, name in (("ResNet, circular padding", "mnist-resnet-circular"),
                                ("ResNet, zero padding", "mnist-resnet-zeros"))}
machines = {
    "IS": lambda x, b: scores.ideal_denoise(x, few, b),
    "LS, k = 5": lambda x, b: scores.local_denoise(x, few, b, 5, "circular"),
    "ELS, k = 5, circular": lambda x, b: scores.els_denoise(x, few, b, 5, "circular"),
    **{label: models.as_denoiser(net) for label, net in networks.items()},
}
for name, denoiser in machines.items():
    print(f"{name:>24}: max |D(Sx) - S D(x)|:",
          metrics.difference_text(shift_error(denoiser, x, b, 3, 2), x.dtype))

# %% [markdown]
# Where does the zero-padded network go wrong? The map below is $|D(Sx) - S D(x)|$ for the
# two noisy digits, averaged over them.

# %%
zeros_net = machines["ResNet, zero padding"]
shifted = torch.roll(x, shifts=(3, 2), dims=(2, 3))
gap = (zeros_net(shifted, b) - torch.roll(zeros_net(x, b), shifts=(3, 2), dims=(2, 3))).abs()[:, 0].mean(0)
frame = torch.ones(16, 16, dtype=torch.bool)
frame[2:-2, 2:-2] = False
fig, ax = plt.subplots(figsize=(3.4, 2.9))
shown = ax.imshow(gap, cmap="viridis")
ax.set(xticks=[], yticks=[], title="zero-padded ResNet: |D(Sx) - S D(x)|")
fig.colorbar(shown, ax=ax, label="mean over 2 digits")
plt.show()
print(f"mean |D(Sx) - S D(x)|: 2-pixel frame {gap[frame].mean().item():.3g}, "
      f"interior {gap[~frame].mean().item():.3g}; pixels where it is < 1e-12: {int((gap < 1e-12).sum())}")
print("receptive field of the zero-padded ResNet:",
      models.receptive_field(networks["ResNet, zero padding"]))

# %% [markdown]
# IS and LS fail: they compare the input with training digits at fixed positions, so
# shifting the input changes which training digits fit. The ELS machine and the circular
# ResNet pass, to rounding error or exactly: every layer of that network is a circular
# convolution or a pixelwise operation (the noise level enters every pixel alike), and
# each of those commutes with a circular shift, so their whole stack does. The zero-padded
# ResNet has the same layers, but its padding is fixed to the image frame: after a shift
# the digit's strokes meet the border (and the zeros beyond it) at other places, the first
# layer already differs next to the border, and each further layer carries the difference
# one pixel farther in; with a field of 11 pixels (printed), 5 pixels in. The test itself
# adds a second place: `torch.roll` wraps the image around, so $S\,D(x)$ carries $D(x)$'s
# own border effects to the seam where the shifted image wraps (after row 2 and column 1),
# inside the frame. So the difference is largest in the frame and smaller but present
# inside (printed means), and it vanishes only on the 12 pixels (printed) whose 11-pixel
# window reaches neither the image border (the padding) nor the seam. Zero padding tells
# the network where the border is; section 6 shows what the ELS machine makes of that.
#
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
# **Exercise 2** (about 20 min, medium). Write `els_weights(x, train, noise_var, k, row,
# col)`: for one noisy image `x` of shape $(1, C, H, W)$ and one pixel `(row, col)`, the
# weights $w_{\mu q}$ as an $(N, H, W)$ tensor (summing to 1), with circular padding
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
# $1 / \sum_q (\sum_\mu w_{\mu q})^2$, is 256 for a uniform map and 1 for a single position
# (the count in each title).
# The maps share one logarithmic colour scale. The library's `els_denoise` computes all
# pixels at once, streaming over training chunks; here we use the reference weights.

# %%
weights_at = use_passing("05.els_weights", els_weights, lesson05.els_weights)

clean = test[3:4]
eps = torch.randn(1, *train.shape[1:], generator=torch.Generator().manual_seed(2))
times = (0.8, 0.5, 0.3, 0.1)
where = {}
for t in times:
    b = diffusion.cosine_noise_var(t).item()
    where[t] = weights_at(diffusion.add_noise(clean, b, eps).double(), train.double(), b, 5, 5, 8).sum(0)
fig, axes = plt.subplots(1, 5, figsize=(12, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1]})
plots.show_images(clean, ax=axes[0], title="held-out digit\npixel p (red)")
axes[0].plot(8, 5, "r+", ms=9, mew=2)
scale = LogNorm(vmin=1e-4, vmax=max(w.max().item() for w in where.values()))
for ax, t in zip(axes[1:], times):
    shown = ax.imshow(where[t].clamp(min=1e-4), cmap="viridis", norm=scale)
    ax.plot(8, 5, "r+", ms=9, mew=2)
    ax.set(xticks=[], yticks=[])
    ax.set_title(f"t = {t}\n{1 / (where[t] ** 2).sum().item():.3g} positions", fontsize=10)
fig.colorbar(shown, ax=axes[1:], label="weight of position q\n(summed over digits)", shrink=0.9)
plt.show()
for t in times:
    print(f"t = {t}: effective number of positions {1 / (where[t] ** 2).sum().item():.3g}, "
          f"weight at p itself {where[t][5, 8].item():.2g}")

# %% [markdown]
# At high noise the weight spreads over many positions; as the noise falls it concentrates
# on a few, and they need not be at $p$ itself. Pixel $p$ is free to borrow a stroke from
# anywhere in any digit.
#
# ## 3. Sampling: patch mosaics
#
# The sampler is the same as before. Kamb & Ganguli calibrate the patch size against
# trained networks and find that it grows with the noise level. We use the schedule that
# lesson 07 calibrates the same way against the small zero-padded ResNet of lesson 06 (its
# `.schedule.json` in `course_utils/checkpoints/`): printed below, $k = 3$ at the quietest
# steps, up to 9 at the noisiest. The patch size belongs to the
# machine: `Checkpoint(...).schedule("els")` is a `PatchSchedule`, a function of the noise
# level, and `machine("els", train, schedule, boundary)` is a denoiser with the signature of
# every other, `denoiser(x, noise_var)`, that looks its k up at each call.

# %%
calibrated = checkpoints.Checkpoint("mnist-resnet-zeros")  # the zero-padded ResNet whose k(t) we borrow
schedule = calibrated.schedule("els")
print(f"ELS patch size per step, from t = 1/20 up to t = 1 ({calibrated.name}): {schedule.ks}")
noise = torch.randn(6, *train.shape[1:], generator=torch.Generator().manual_seed(5))
els_zeros = scores.machine("els", train, schedule, boundary="zeros")  # "boundary-broken" ELS
path = diffusion.Trajectory()  # keeps every step of the sampler
els_samples = diffusion.ddim_sample(els_zeros, noise, callback=path)
plots.show_images(els_samples, ncols=6, title="ELS samples (zero padding)", scale=1.0)
plt.show()

# %% [markdown]
# These look like handwriting, but not like any particular digit: strokes join at odd
# places, a loop meets a bar. Every pixel was decided by its own window's best explanation,
# and neighbouring windows overlap, which keeps strokes continuous over a few pixels but not
# across the whole image.
#
# ## 4. Where did each pixel come from?
#
# `els_denoise(..., return_source=True)` also returns, for every output pixel, the
# training patch with the largest weight: its image $\mu$ and centre position $q$. We ask
# at the last step (from $t = 1/20$ to 0), but with $k = 7$, not the $k = 3$ the sampler
# used there (the printed schedule): the map answers a $k = 7$ question, which training
# patch best explains the $7 \times 7$ window around each pixel, as a proxy for where the
# pixel's piece came from. A $3 \times 3$ window of black paper or of a stroke's middle
# fits many training patches about equally well, so its single best match says little.
# Blank background pixels have no meaningful source and are greyed out. Left: the sample;
# middle: one colour per source digit; right: the shift from $p$ to $q$, coloured by the
# key beside it (black: same position, as LS would be forced to; hue: direction;
# saturation: distance, pale at 1 pixel, full at 8).

# %%
b_last = diffusion.cosine_noise_var(1 / 20).item()
_, source = scores.els_denoise(path.x[-2], train, b_last, 7, boundary="zeros", return_source=True)
ink = els_samples[:, 0] > -0.5  # (B, H, W): pixels with a stroke nearby
fig = plots.show_sources(els_samples[:4], source["image"][:4], source["row"][:4], source["col"][:4],
                         mask=ink[:4])
plots.show_offset_legend(fig.add_axes([1.08, 0.38, 0.3, 0.24]), radius=8)
plt.show()
rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
moved = ((source["row"] != rows) | (source["col"] != cols))[ink].float().mean().item()
print(f"source digits per sample (ink pixels): "
      f"{[len(src[mask].unique()) for src, mask in zip(source['image'], ink)]}")
print(f"ink pixels copied from a different position: {100 * moved:.3g} %")
is_samples = diffusion.ddim_sample(scores.machine("ideal", train), noise)  # copies, from the same seeds
print("the same question in its b -> 0 limit (nearest 7x7 training patch anywhere), on the ink:")
for name, images in {"ELS samples": els_samples, "held-out digits": test[:6], "IS samples": is_samples}.items():
    nearest = scores.nearest_patches(images, train, 7, boundary="zeros")
    on_ink = images[:, 0] > -0.5
    elsewhere = ((nearest["row"] != rows) | (nearest["col"] != cols))[on_ink].float().mean().item()
    print(f"{name:>16}: source digits {[len(src[m].unique()) for src, m in zip(nearest['image'], on_ink)]}, "
          f"at a different position {100 * elsewhere:.3g} %")

# %% [markdown]
# On its ink alone and asked with $k = 7$, each sample is stitched from 20 to 28 training
# digits, in pieces of a few pixels (runs of one colour), and nine ink pixels in ten come
# from somewhere else in their source digit (coloured, not black, in the shift map): a
# stroke from the left edge of one "7" can end up in the middle of a new image.
#
# The baselines temper that. Asked the same question (in its noise-free limit, so that
# images no machine made can be asked too), a held-out digit is explained by 9 to 23
# training digits, with 72.3 % of its ink matched at another position, and an IS copy by a
# single digit, all in place (printed). Any new image is best explained piece by piece, so
# these counts say an ELS sample is as piecewise as a real new digit, a little more, and
# nothing like a copy. That its pieces really were moved, not blended where they were, is
# the sharper question of section 5.
#
# ## 5. A mosaic or a blend?
#
# A new image can be new in two ways. A *blend* averages training digits where they are:
# each piece is best explained by training pieces at the same position. A *mosaic* moves
# pieces: each piece exists in the training set, but elsewhere. Two distances per pixel
# tell them apart, both for the $3 \times 3$ window around it (the schedule's smallest $k$),
# as RMS pixel distances averaged over the image:
#
# - **in place**: to the nearest training window centred on the *same* pixel (the library
#   LS copies from; `metrics.nearest_patches_in_place`);
# - **anywhere**: to the nearest training window at *any* admissible position (the library
#   of the zero-padded ELS machine; `scores.nearest_patches`).
#
# Their ratio is near 1 for a near-copy (its windows are found in place, almost exactly;
# IS samples below: 1.07) and can only be 1 or more, since "anywhere" includes the same
# position; it should be lower for a blend, whose pieces stay in place, than when pieces
# were moved. Three controls calibrate it, none seen by any machine: held-out digits (real
# new digits), the same digits upside down (real strokes in unusual places), and blends
# (the pixelwise mean of two held-out digits). With them goes the distance of the whole
# image to its nearest training digit, from lesson 03. IS, LS (with its own calibrated
# schedule) and ELS samples come from the same 6 noise seeds and the same 200 training
# digits.
#
# **Predict.** Which of the three controls will LS samples resemble by this ratio, and
# which will ELS samples resemble?

# %%
ls_schedule = calibrated.schedule("ls")
print(f"LS patch size per step ({calibrated.name}): {ls_schedule.ks}")
samples = {
    "IS": is_samples,
    "LS": diffusion.ddim_sample(scores.machine("local", train, ls_schedule, boundary="zeros"), noise),
    "ELS": els_samples,
}
controls = {"held-out digits": test[:6], "upside down": test[:6].flip(2),
            "blend of two": (test[6:12] + test[12:18]) / 2}
novelty = {}
for name, images in {**controls, **samples}.items():
    in_place = metrics.nearest_patches_in_place(images, train, 3)["dist"].flatten(1).mean(1)
    anywhere = scores.nearest_patches(images, train, 3, boundary="zeros")["dist"].flatten(1).mean(1)
    whole = metrics.nearest_image(images, train)["dist"]
    novelty[name] = {"whole": whole, "in place": in_place, "anywhere": anywhere,
                     "ratio": in_place / anywhere}
print("median (min to max) of 6 images:")
for name, found in novelty.items():
    print(f"{name:>15}: " + "; ".join(
        f"{label} {values.median().item():.3g} ({values.min().item():.3g} to {values.max().item():.3g})"
        for label, values in (("nearest training image", found["whole"]), ("3x3 in place", found["in place"]),
                              ("anywhere", found["anywhere"]), ("ratio", found["ratio"]))))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for number, (name, found) in enumerate(novelty.items()):
    colour = f"C{number}"
    axes[0].scatter(found["whole"], found["ratio"], marker="o^vsXD"[number], s=45, label=name,
                    edgecolors=colour, facecolors="none" if name in controls else colour)
axes[0].axvline(novelty["held-out digits"]["whole"].median(), color="0.5", ls="--", lw=1)
axes[0].text(novelty["held-out digits"]["whole"].median().item(), 0.97, " held-out median",
             transform=axes[0].get_xaxis_transform(), fontsize=8, color="0.35", va="top")
axes[0].axhline(1, color="0.5", ls=":", lw=1)
axes[0].set(xlabel="RMS distance to the nearest training image (whole image)",
            ylabel="3x3 windows: in place / anywhere",
            title="new as a whole (right), pieces moved (up)")
axes[0].legend(fontsize=8, loc="lower right")
rows_shown = {**controls, **samples}
plots.show_images(torch.cat(list(rows_shown.values())), ncols=6, ax=axes[1],
                  title="rows: " + ", ".join(rows_shown))
plt.tight_layout()
plt.show()

# %% [markdown]
# IS samples are copies: near zero as a whole and in every window, ratio near 1. LS and ELS
# samples are both new as a whole: their median distance to the nearest training image
# (0.381 and 0.456) is above the held-out digits' (0.295). Their pieces are about as close
# to *some* training piece as those of upside-down digits, a little farther than those of
# held-out digits ("anywhere"): ELS windows are not closer to the training data than a real
# digit's windows, so "familiar in every piece" holds for them only in the sense in which
# it holds for any digit. Nor does the plain patch distance tell the position-locked LS
# samples from the ELS mosaics: their "anywhere" ranges overlap (0.0389 to 0.0454 and
# 0.0388 to 0.0552). What separates them is where those pieces are found. LS samples sit
# with the blends (ratio 1.44 to 1.77 against the blends' 1.56 to 1.89): their windows,
# too, are matched better elsewhere than in place, but by less than any held-out digit's
# (2 to 2.41), because pixel $p$ only ever copies pixel $p$. ELS samples sit with the real
# and the upside-down digits (2.2 to 2.64 against 2 to 2.41 and 2.07 to 3.06): their pieces
# are matched far better elsewhere than in place. Position-locked blend versus mosaic of
# moved pieces: that is what equivariance adds, what makes ELS samples look like mosaics,
# and what lets the ELS machine predict real networks (lesson 07). Six images per group are
# few; the ranges above are a demonstration, not a measurement to two digits.
#
# ## 6. The border: circular vs zero padding
#
# With circular padding every window is an interior window: the image is a torus, and a
# patch may be taken from any position. With zero padding (what most CNNs use) a window
# that hangs over the border sees zeros there (here $0$ is mid-grey, not the black
# background). Kamb & Ganguli's *boundary-broken* ELS machine respects this: pixel $p$ may
# only use training patches that overlap the padding exactly as its own window does. A
# pixel at distance $d < \lfloor k/2 \rfloor$ (`k // 2`) from a border, whose window hangs
# over it, may only borrow from patches at the same distance $d$ from that same border; a
# pixel at least $\lfloor k/2 \rfloor$ from every border, from any such interior position.
# The border therefore tells every pixel near it where it is.
#
# **Exercise 3** (about 15 min, medium). Write `admissible_mask(height, width, k, row,
# col)`: an $(H, W)$ boolean tensor, True at every position $q$ whose zero-padded
# $k \times k$ window overlaps the padding exactly as the window of pixel $p$ = `(row, col)`
# does. Work one axis at a time.

# %%
def admissible_mask(height, width, k, row, col):
    """image size, odd k, pixel (row, col) -> (H, W) bool: the positions q whose zero-padded k x k window overlaps the padding as p's does."""
    ### BEGIN SOLUTION
    r = k // 2

    def key(index, size):
        """Distance to the first and the last border along one axis, capped at r."""
        return min(index, r), min(size - 1 - index, r)

    row_ok = torch.tensor([key(q, height) == key(row, height) for q in range(height)])
    col_ok = torch.tensor([key(q, width) == key(col, width) for q in range(width)])
    return row_ok[:, None] & col_ok[None, :]
    ### END SOLUTION


# %%
from course_utils.grading import check
check("05.admissible_mask", admissible_mask)

# %% [markdown]
# Three pixels of a 16 x 16 image, $k = 5$: a corner, a pixel one row in from the top edge,
# and an interior pixel. Dark: where each may borrow its patch from.
#
# **Think.** How many positions may the corner pixel use with zero padding? How many does
# circular padding allow any pixel?

# %%
admissible = use_passing("05.admissible_mask", admissible_mask, lesson05.admissible_mask)

pixels = {"corner (0, 0)": (0, 0), "edge (1, 8)": (1, 8), "interior (8, 5)": (8, 5)}
fig, axes = plt.subplots(2, 3, figsize=(7.2, 5))
for column, (name, (row, col)) in enumerate(pixels.items()):
    for line, (padding, allowed) in enumerate((("zeros", admissible(16, 16, 5, row, col)),
                                               ("circular", torch.ones(16, 16, dtype=torch.bool)))):
        ax = axes[line, column]
        ax.imshow(allowed, cmap="Greys", vmin=-0.3, vmax=1.3)
        ax.plot(col, row, "r+", ms=10, mew=2)
        count = int(allowed.sum())
        ax.set(xticks=[], yticks=[], title=f"{padding}: {name}\n{count} position{'s' * (count != 1)}")
fig.suptitle("positions q (dark) that pixel p (red) may borrow from, k = 5", y=1.0)
plt.tight_layout()
plt.show()
for name, (row, col) in pixels.items():
    print(f"{name:>16}: {int(admissible(16, 16, 5, row, col).sum())} admissible positions with zeros, 256 circular")

# %% [markdown]
# With zero padding a corner pixel has one admissible position, its own corner: for it the
# ELS machine is the LS machine. An edge pixel may slide along its edge, an interior pixel
# over the whole interior. Does that anchoring show in the samples? Same noise, the two
# borders side by side, and the ink in the 2-pixel frame.

# %%
els_circular = scores.machine("els", train, schedule, boundary="circular")  # the ELS machine on a torus
circular_samples = diffusion.ddim_sample(els_circular, noise)
fig, axes = plt.subplots(2, 1, figsize=(7, 2.6))
plots.show_images(els_samples, ncols=6, ax=axes[0], title="zero padding (boundary-broken ELS)")
plots.show_images(circular_samples, ncols=6, ax=axes[1], title="circular padding")
plt.show()
border = torch.ones(16, 16, dtype=torch.bool)
border[2:-2, 2:-2] = False
for name, images in (("zeros", els_samples), ("circular", circular_samples)):
    ink = (images[:, 0, border] > 0).float().mean().item()
    print(f"{name:>8}: pixels brighter than mid-grey in the 2-pixel frame: {100 * ink:.3g} %")
print(f"training digits: {100 * (train[:, 0, border] > 0).float().mean().item():.3g} %")

# %% [markdown]
# With zero padding the frame stays nearly dark: 0.595 % of its pixels carry ink, more than
# the training digits' 0.326 % but far from the torus's 12.1 %. The border is a landmark,
# and the mosaic is anchored to it. On the torus nothing marks the edge, so strokes run
# across it and reappear on the opposite side, and the frame gets far more ink than the
# training digits have there.
#
# ## 7. One class at a time
#
# Class-conditional machines simply use the training images of one class. Here: the ELS
# machine built from 200 of the training threes, with held-out threes as the yardstick of
# the distance.

# %%
threes = digits_train[digit_labels == 3][:200]
three_samples = diffusion.ddim_sample(scores.machine("els", threes, schedule, boundary="zeros"), noise)
fig, axes = plt.subplots(2, 1, figsize=(5, 2.8))
plots.show_images(threes[:6], ncols=6, ax=axes[0], title="training threes")
plots.show_images(three_samples, ncols=6, ax=axes[1],
                  title=f"ELS samples from {len(threes)} training threes")
plt.show()
held_out_threes = test[test_labels == 3]
for name, images in (("ELS samples", three_samples), (f"{len(held_out_threes)} held-out threes", held_out_threes)):
    found = metrics.nearest_image(images, threes)["dist"]
    print(f"{name:>19}: distance to nearest of the {len(threes)} training threes, "
          f"median {found.median().item():.3g}, min {found.min().item():.3g}")

# %% [markdown]
# Pieces of threes only: the samples inherit the class's strokes, and they copy no training
# three: every sample's nearest training three is at least 0.394 away (median 0.441),
# farther than the median held-out three's (0.275).

# %% [markdown]
# ## Summary
# - A CNN is local and translation equivariant: with circular padding exactly (error at
#   rounding level), with zero padding only away from a border that every layer sees. IS and
#   LS are not equivariant; ELS is.
# - The ELS machine is one softmax per pixel over every training patch at every admissible
#   position: each output pixel copies the centre of the patch that best explains its window.
# - Its samples are patch mosaics: far from every training image as a whole, built from
#   pieces about as close to some training piece as a real digit's, but found mostly at
#   other positions. The ratio of the
#   in-place to the anywhere patch distance separates such a mosaic from a position-locked
#   blend, which the plain patch distance cannot.
# - Zero padding admits, for a pixel less than $\lfloor k/2 \rfloor$ from a border, only
#   patches at the same distance from that border: the border anchors the mosaic. Circular
#   padding lets it wrap.
#
# **Further reading.**
# - M. Kamb, S. Ganguli, *An analytic theory of creativity in convolutional diffusion
#   models*, ICML 2025, [arXiv:2412.20292](https://arxiv.org/abs/2412.20292): the ELS machine
#   and its boundary-broken version.
# - M. A. Islam, S. Jia, N. D. B. Bruce, *How much position information do convolutional
#   neural networks encode?*, ICLR 2020, [arXiv:2001.08248](https://arxiv.org/abs/2001.08248):
#   zero padding tells a CNN where it is.
#
# **Next.** Is this what real networks do? Lesson 06 trains a small convolutional diffusion
# model on these digits on your CPU and measures its receptive field; lesson 07 puts it side
# by side with the ELS machine from the same noise. → [06_real_network.ipynb](06_real_network.ipynb)
