# %% [markdown]
# # 07 · Theory meets practice: does the ELS machine predict a trained CNN?
#
# *Local Rules, Creative Machines* — lesson 07 of 10.
#
# Lesson 05's ELS machine is a formula: no training, no weights, just patches of the
# training set. Lesson 06's networks were trained by gradient descent. Kamb & Ganguli's
# central claim is that, started from the **same noise**, the two produce nearly the same
# image: median Pearson $r \approx 0.9$ over 100 seeds, while the ideal machine (IS), which
# can only copy training images, does much worse. Here we check that claim on our own
# networks, with the paper's protocol.
#
# **Learning goals.** After this lesson you can
# 1. compute the paper's agreement metric (Pearson $r$ of two images, mean-centred);
# 2. calibrate the machine's patch size $k(t)$ against a network, step by step;
# 3. read the headline table (median $r$ of ELS / LS / IS per model) and its scatter plot,
#    and say what they do and do not show.
#
# Exercises have an instant check. If you skip one, the lesson still runs.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils.calibrate import calibrate, seed_noise
from course_utils.checkpoints import Checkpoint
from course_utils.diffusion import ddim_sample
from course_utils.grading import use_passing
from course_utils.models import as_denoiser
from course_utils.plots import image_grid
from course_utils.reproduce import comparison_table
from course_utils.scores import machine

# Sections 1-3 follow one network. To follow another, e.g. one trained on an optional
# download (`python -m course_utils.train --data mnist ... --out NAME`, then
# `python -m course_utils.calibrate --model NAME`), set MODEL to its name.
MODEL = "digits-resnet-zeros"
checkpoint = Checkpoint(MODEL)  # the network with its data, boundary, schedules and results
train, boundary, model = checkpoint.train_data(), checkpoint.boundary, checkpoint.model()
els_k = checkpoint.schedule("els")
print("ELS patch size k(t), from t = 1/20 (left) to t = 1 (right):", els_k.ks)

# %% [markdown]
# ## 1. Same noise, four denoisers
#
# Every sampler in this course is deterministic (DDIM): the final image is a function of
# the starting noise. So we can start the network, the ELS machine, the LS machine and
# the IS machine from one noise image and compare where they land. ELS and LS use the
# network's calibrated patch size $k(t)$ (section 3); zero padding in the network means
# the "boundary-broken" ELS of lesson 05 (`boundary="zeros"`).
#
# One seed, live (the ELS machine matches every 11x11 window against all 1,700 x 256
# training patches at each of 20 steps, so this takes a little while):

# %%
noise = seed_noise([3], train.shape[1:])
live = {"CNN": ddim_sample(as_denoiser(model), noise),
        "ELS": ddim_sample(machine("els", train, els_k, boundary), noise),
        "LS": ddim_sample(machine("local", train, checkpoint.schedule("ls"), boundary), noise),
        "IS": ddim_sample(machine("ideal", train), noise)}
fig, axes = plt.subplots(1, 4, figsize=(6, 1.9))
for ax, (name, image) in zip(axes, live.items()):
    ax.imshow(image_grid(image.clamp(-1, 1)))
    ax.set_title(name, fontsize=10)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 2. The agreement metric
#
# The paper scores a pair of images by their Pearson correlation over all pixels (and
# channels): centre each image by its own mean (one number per image), normalise, and
# take the dot product. $r = 1$: the same picture up to brightness and contrast.
# (The official code calls this number $r^2$; it is $r$.)
#
# **Exercise 1.** Write `pearson_r(a, b)` for two batches of images of shape `(B, ...)`,
# returning `(B,)`.

# %%
def pearson_r(a, b):
    """(B, ...) and (B, ...) -> (B,) Pearson r of each pair over all its pixels and channels."""
    ### BEGIN SOLUTION
    a, b = a.flatten(1), b.flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    ### END SOLUTION


# %%
from course_utils.grading import check
check("07.pearson_r", pearson_r)

# %%
from course_utils import metrics  # noqa: E402

correlation = use_passing("07.pearson_r", pearson_r, metrics.pearson_r)

for name in ("ELS", "LS", "IS"):
    print(f"r({name}, CNN) = {float(correlation(live[name], live['CNN'])[0]):.3f}")

# %% [markdown]
# ## 3. Calibrating the patch size $k(t)$
#
# A network has one fixed receptive field, but how much of it it *uses* changes with the
# noise level: at high noise it averages over large regions, at low noise it only fixes
# details. The paper therefore picks the machine's patch size separately at every step:
# follow the network's own reverse trajectory, and at each step ask which $k$ makes the
# machine's noise prediction $\hat\varepsilon$ closest (cosine similarity) to the
# network's. The median best $k$ over seeds is the schedule.
#
# **Exercise 2.** Given a table `similarity[step, j, seed]` of cosine similarities for
# patch sizes `ks[j]`, return the `(steps,)` schedule: per step, the median over seeds of
# the best $k$ (use `torch.median`, which takes the lower middle value).

# %%
def calibrated_schedule(similarity, ks):
    """(steps, K, S) similarities for patch sizes ks -> (steps,) int64 median best k."""
    ### BEGIN SOLUTION
    best = torch.as_tensor(ks)[similarity.argmax(dim=1)]
    return best.median(dim=1).values
    ### END SOLUTION


# %%
from course_utils.grading import check
check("07.calibrated_schedule", calibrated_schedule)

# %% [markdown]
# A quick live calibration: 2 seeds, and (to keep it short) the machine built on 200 of
# the 1,700 training digits. The shipped schedule used all digits and 8 seeds
# (`python -m course_utils.calibrate --model digits-resnet-zeros --seeds 100-107`, seeds kept apart
# from the 0-99 used for the comparison). One detail that the
# official code gets wrong: the $k$ found at the step starting from $t = i/20$ must be used
# by the sampler at that same step (`schedule[i - 1]` here); the official scripts store it
# one step off.

# %%
ks = [3, 5, 7, 9, 11, 13]
quick = calibrate(as_denoiser(model), lambda k: machine("els", train[:200], k, boundary),
                  seed_noise([0, 1], train.shape[1:]), ks)
paper_mnist_resnet = [3, 3, 5, 5, 5, 7, 7, 7, 9, 9, 11, 11, 11, 11, 13, 15, 15, 15, 15, 15]

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2))
im = ax0.imshow(quick["similarity"][:, :, 0].T.log10().neg(), aspect="auto", origin="lower",
                cmap="viridis_r", extent=(0.5, 20.5, -0.5, len(ks) - 0.5))
ax0.set(yticks=range(len(ks)), yticklabels=ks, xlabel="step i (starts at t = i/20)",
        ylabel="patch size k", title="-log10 cosine similarity, seed 0 (dark = closer)")
ax0.plot(range(1, 21), [ks.index(int(k)) for k in quick["best"][:, 0].nan_to_num(3)], "w.")
steps = range(1, 21)
ax1.step(steps, els_k.ks, where="mid", label="shipped (8 seeds, all digits)", lw=2)
ax1.step(steps, quick["schedule"], where="mid", label="live (2 seeds, 200 digits)", ls="--")
ax1.step(steps, paper_mnist_resnet, where="mid", label="paper, MNIST ResNet 32x32", ls=":")
ax1.set(xlabel="step i (starts at t = i/20)", ylabel="k", title="calibrated k(t)")
ax1.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The patch size grows with the noise level, as in the paper. Ours tops out lower: a
# 16x16 digit with an 11x11 receptive field, against the paper's 32x32 images and
# 17x17 field.
#
# ## 4. The headline table
#
# For each shipped network, `python -m course_utils.reproduce --model NAME --seeds 0-99`
# sampled the network and the three machines from the same 100 seeds (20 DDIM steps,
# shipped schedules) and saved every sample and every $r$. We load those results: the
# ELS machine over 100 seeds costs tens of CPU minutes.

# %%
paper = {"digits-resnet-zeros": ("MNIST ResNet zeros", .94, .82, .61),
         "digits-resnet-circular": ("MNIST ResNet circular", .77, .36, .15),
         "digits-unet-zeros": ("MNIST UNet zeros", .89, .88, .70)}
results = {name: Checkpoint(name).results() for name in paper}

print(comparison_table(results, paper))

# %% [markdown]
# ## 5. Seed by seed
#
# A median hides the spread. Each dot below is one seed: how well the ELS machine
# predicts the network ($x$) against how well the ideal machine does ($y$). Dots below
# the diagonal are seeds where the local, equivariant theory wins.

# %%
fig, axes = plt.subplots(1, len(results), figsize=(3.3 * len(results), 3.3), squeeze=False)
axes = axes[0]
for ax, (name, r) in zip(axes, results.items()):
    ax.scatter(r["r_els"], r["r_ideal"], s=10, alpha=0.7, label="IS")
    ax.scatter(r["r_els"], r["r_ls"], s=10, alpha=0.7, marker="x", label="LS")
    low = min(0.3, float(torch.cat([r["r_els"], r["r_ls"], r["r_ideal"]]).min()) - 0.05)
    ax.plot([low, 1], [low, 1], "k", lw=0.8)
    ax.set(xlim=(low, 1), ylim=(low, 1), aspect="equal", xlabel="r(ELS, CNN)", title=name)
    ax.title.set_fontsize(9)
axes[0].set_ylabel("r(IS or LS, CNN)")
axes[0].legend(fontsize=8, loc="upper left")
plt.tight_layout()
plt.show()

# %% [markdown]
# And the images themselves, for the first eight seeds of the zero-padded ResNet: the
# network's sample, then each machine's from the same noise.

# %%
r = results["digits-resnet-zeros"]
fig, axes = plt.subplots(4, 1, figsize=(5.4, 3.4))
for ax, key, title in zip(axes, ("cnn", "els", "ls", "ideal"), ("CNN", "ELS", "LS", "IS")):
    ax.imshow(image_grid(r[key][:8].clamp(-1, 1), ncols=8))
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What the numbers say
#
# **The zero-padded ResNet** (receptive field 11 on 16x16 digits, 1,600 training steps on a
# 2-core CPU) is predicted by the ELS machine with median $r = 0.978$ over 100 seeds
# (paper, MNIST ResNet on 32x32: 0.94), and ELS beats IS on every seed (paper: 92-100 %).
# The order ELS > LS > IS is the paper's. Our LS and IS figures are higher than the
# paper's (IS 0.80 against 0.61): the UCI digits are upsampled from 8x8 pixels, smooth and
# alike, so almost any digit-shaped image correlates well with its nearest training digit.
# The informative number is the gap between ELS and IS, and the scatter plot, where every
# dot lies below the diagonal.
#
# **The UNet** sees the whole 16x16 image (lesson 06), and its calibrated $k$ grows to 15,
# almost the image side. There ELS and LS come out about equal, as in the paper's MNIST
# UNet (.89 against .88): with windows that large, the best-matching training patch for
# a window at $p$ mostly sits at $p$ anyway, so letting it move (equivariance) adds little.
#
# **The circular ResNet** is the paper's sharpest test: with wrap-around padding the
# network cannot tell where the border is, so its digits can sit anywhere, even across
# the edge. The machines that know positions (LS, IS) fall far behind, in the paper
# (.36, .15) and here, while the circular ELS machine still tracks the network.
#
# **What this does not show.** A high $r$ says that the network's sample and the
# machine's share their layout of light and dark; it does not say that the network
# computes a softmax over patches. And the patch size was fitted to the network, per
# step, on separate seeds (100-107), so the machine is a calibrated model of the network,
# not a prediction from first principles.
#
# ## Summary
# - From the same noise, a trained CNN and the ELS machine, a formula with no trained
#   weights, land on nearly the same image: the network behaves like a local,
#   equivariant patch-mosaic machine.
# - The ideal machine, which can only return training images, predicts the network worse
#   on most seeds: the network is not memorising.
# - The machine's patch size must follow the noise level; it is calibrated per step on
#   the network's own trajectory, and the step indexing matters.
#
# **Next:** [lesson 08](08_six_fingers.ipynb) uses the same machinery on hands, where a
# local rule that cannot see the whole hand makes six fingers; [lesson 09](09_beyond_locality.ipynb)
# adds self-attention and asks what changes.
