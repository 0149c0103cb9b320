# %% [markdown]
# # 06 · A real network: a small CNN diffusion model on your CPU
#
# *Local Rules, Creative Machines* — lesson 06 of 10.
#
# Lessons 03-05 built denoisers by hand: the ideal machine (IS), which can only copy,
# and the local machines (LS, ELS), which build patch mosaics. Real diffusion models are
# *trained* networks. Here you train one, meet the two architectures the paper studies
# (a minimal ResNet and a UNet), and measure the property everything else rests on:
# each output pixel only sees a small window of the input, its **receptive field**.
#
# **Learning goals.** After this lesson you can
# 1. compute the receptive field of a stack of convolutions, and measure it with gradients;
# 2. write the noise-prediction loss that trains every diffusion model here;
# 3. turn a network that predicts noise into a denoiser $D(x) = \mathbb E[x_0 \mid x]$ and
#    sample from it with the course's DDIM sampler;
# 4. load the course's shipped checkpoints (checksummed) and judge their samples.
#
# Exercises have an instant check. If you skip one, the lesson still runs.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils.checkpoints import Checkpoint
from course_utils.data import lesson_data
from course_utils.diffusion import ddim_sample
from course_utils.metrics import nearest_image
from course_utils.models import ResNet, UNet, as_denoiser, gradient_map, receptive_field
from course_utils.plots import image_grid
from course_utils.train import fresh_state, train_steps

torch.manual_seed(0)
# The live model of section 4 learns from the bundled digits. Set DATASET to "mnist",
# "fashion_mnist" or "cifar10" to train it on an optional download instead (README,
# "Data"); the shipped networks of section 5 stay the digit models they are.
DATASET = "digits"
train, labels = lesson_data(DATASET, "train")
print("training digits:", tuple(train.shape), "pixels in", [round(float(train.min()), 3),
                                                            round(float(train.max()), 3)])

# %% [markdown]
# ## 1. The paper's minimal ResNet
#
# Kamb & Ganguli's ResNet is as plain as a diffusion network gets: 3x3 convolutions,
# no normalisation, residual connections, and a small embedding of the noise level
# $b$ added inside every block. It takes a noisy image $x$ and the noise variance $b$
# and predicts the noise $\hat\varepsilon(x, b)$ that was added.
#
# Each 3x3 convolution lets a pixel look one pixel further in every direction. So the
# output at pixel $p$ can only depend on a square window around $p$: the receptive
# field. The paper's ResNet has 8 convolutions, a field of 17 pixels on 32x32 images:
# about **half the image side**. Our digits are 16x16, so we keep that geometry with
# 5 convolutions, a field of 11. (A network that sees the whole image would no longer be
# local, and the comparison with the local machines in lesson 07 would lose its point.)
#
# **Exercise 1.** Write `stack_receptive_field(kernel_sizes)`: the side of the receptive
# field of stride-1 convolutions with these (odd) kernel sizes, stacked.

# %%
def stack_receptive_field(kernel_sizes):
    """List of odd kernel sizes -> side (int) of the receptive field of the stack."""
    ### BEGIN SOLUTION
    return 1 + sum(k - 1 for k in kernel_sizes)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("06.stack_receptive_field", stack_receptive_field)

# %% [markdown]
# ## 2. Measuring a receptive field with gradients
#
# Formulas can be wrong; gradients cannot lie. Take a random input, pick one output
# pixel, and back-propagate: $\partial\,\text{out}_p / \partial x_q$ is *exactly* zero for
# every input pixel $q$ outside the field. `course_utils.models.gradient_map` does this.
# Below: the ResNet at the centre and at a corner (the zero padding cuts its field), and
# the UNet, whose two down-samplings let it see the whole 16x16 image.

# %%
resnet, unet = ResNet(depth=5), UNet()
maps = {"ResNet, centre pixel": gradient_map(resnet, 16),
        "ResNet, corner pixel": gradient_map(resnet, 16, at=(0, 0)),
        "UNet, centre pixel": gradient_map(unet, 16)}
fig, axes = plt.subplots(1, 3, figsize=(8.4, 3))
for ax, (title, grad) in zip(axes, maps.items()):
    seen = grad > 0
    ax.imshow(seen, cmap="Blues", vmin=0, vmax=1.3)
    ax.set_title(f"{title}\n{int(seen.any(1).sum())} x {int(seen.any(0).sum())} pixels", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.suptitle("which input pixels can change one output pixel (blue)", fontsize=10)
plt.tight_layout()
plt.show()
print("ResNet field measured on a 64x64 input:", receptive_field(resnet), " formula 1 + 5 * 2 =", 1 + 5 * 2)

# %% [markdown]
# ## 3. The training loss: predict the noise
#
# Training is lesson 03's forward process run millions of times: take a clean digit
# $x_0$, draw a time $t$ and noise $\varepsilon$, make $x = \sqrt{1-b}\,x_0 + \sqrt b\,\varepsilon$
# and ask the network for $\varepsilon$. The loss is the mean squared error.
#
# **Exercise 2.** Write `diffusion_loss(model, x0, noise_var, eps)`. Here `noise_var` is a
# `(B,)` tensor: each image in the batch has its own noise level.

# %%
def diffusion_loss(model, x0, noise_var, eps):
    """model(x, b) -> eps_hat; (B, C, H, W) clean, (B,) b, (B, C, H, W) noise -> scalar MSE."""
    ### BEGIN SOLUTION
    b = noise_var.reshape(-1, 1, 1, 1)
    x = torch.sqrt(1 - b) * x0 + torch.sqrt(b) * eps
    return ((model(x, noise_var) - eps) ** 2).mean()
    ### END SOLUTION


# %%
from course_utils.grading import check
check("06.diffusion_loss", diffusion_loss)

# %% [markdown]
# Why predict the noise and not the clean image? Both carry the same information:
# $D(x) = (x - \sqrt b\,\hat\varepsilon)/\sqrt{1-b}$ (`course_utils.diffusion.denoised_from_eps`),
# and `course_utils.models.as_denoiser(model)` wraps a network into exactly the
# `denoiser(x, noise_var) -> E[x0 | x]` that the DDIM sampler, and every machine of
# lessons 03-05, uses. Noise targets simply have the same scale at every $t$, which makes
# the optimisation easy.
#
# ## 4. Train a tiny model, live
#
# `course_utils.train` runs this loss with Adam on random batches and keeps an
# exponential moving average (EMA) of the weights, which is what we sample from.
# One minute of CPU buys a few hundred steps of a thin ResNet (32 channels):

# %%
state = fresh_state({"arch": "resnet", "channels": train.shape[1], "width": 32, "depth": 5,
                     "padding": "zeros"}, seed=0, lr=2e-3)
train_steps(state, train, until=150, batch=64)
losses = torch.tensor(state["losses"])
print("loss, first 10 steps:", round(float(losses[:10].mean()), 3),
      " last 10 steps:", round(float(losses[-10:].mean()), 3))

# %% [markdown]
# ## 5. The shipped models
#
# The course ships networks trained the same way, for longer, by the command written in
# each checkpoint's manifest (its sha256 is checked on loading):

# %%
names = ["digits-resnet-zeros", "digits-resnet-circular", "digits-unet-zeros"]
shipped = {name: Checkpoint(name) for name in names}
models = {name: checkpoint.model() for name, checkpoint in shipped.items()}
for name in names:
    m = shipped[name].manifest
    print(f"{name:24s} {m['steps']} steps, final loss {m['final_loss']:.3g}, "
          f"{sum(p.numel() for p in models[name].parameters()) / 1e3:.0f}k parameters")
print("\nretrain one with:", shipped[names[0]].manifest["command"])

# %% [markdown]
# Now sample: the same 10 noise seeds through the tiny live model and the three shipped
# ones, with lesson 03's 20-step DDIM sampler. The last row shows, for the ResNet's
# samples, the nearest training digit: are the samples copies?

# %%
shipped_train = shipped[names[0]].train_data()  # what the shipped networks learned
live_noise = torch.randn(10, *train.shape[1:], generator=torch.Generator().manual_seed(6))
noise = torch.randn(10, *shipped_train.shape[1:], generator=torch.Generator().manual_seed(6))
rows = {f"tiny (live, 150 steps, {DATASET})": ddim_sample(as_denoiser(state["ema"]), live_noise)}
for name in names:
    rows[name] = ddim_sample(as_denoiser(models[name]), noise)
nearest = nearest_image(rows["digits-resnet-zeros"], shipped_train)
rows["nearest training digit"] = shipped_train[nearest["index"]]

fig, axes = plt.subplots(len(rows), 1, figsize=(6.5, 1.0 * len(rows)))
for ax, (title, images) in zip(axes, rows.items()):
    ax.imshow(image_grid(images.clamp(-1, 1), ncols=10))
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_axis_off()
plt.tight_layout()
plt.show()
print("RMS distance of ResNet samples to their nearest training digit:",
      [round(float(d), 2) for d in nearest["dist"]])

# %% [markdown]
# The trained networks draw digit-like strokes, and (last two rows) they are not copies:
# each sample differs visibly from its nearest training digit. The tiny model, after one
# minute, draws strokes, but fewer of them close into digits. The circular-padded ResNet cannot tell the border from
# the middle (its padding wraps around), so its strokes can run off one edge and reappear
# on the other.
#
# ## Summary
# - A stack of $n$ 3x3 convolutions has a receptive field of $2n + 1$ pixels; gradients
#   confirm it exactly. Our ResNet sees 11x11 of a 16x16 digit, like the paper's 17x17 of 32x32.
# - Diffusion networks are trained to predict the noise; $D(x)$ follows in closed form, so
#   a network plugs into the same sampler as every machine of this course.
# - Trained on 1,700 digits, small CNNs make new digits, not copies of training ones.
#
# **Next:** [lesson 07](07_theory_meets_practice.ipynb) puts these networks next to the
# ELS machine of [lesson 05](05_equivariance.ipynb), from the same noise, and measures
# how well the theory predicts them.
