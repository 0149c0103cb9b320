# %% [markdown]
# # 06 · A real network: a small CNN diffusion model on your CPU
#
# *Local Rules, Creative Machines* — lesson 06 of 10.
#
# Lessons 03-05 built denoisers by hand: the ideal machine (IS), which can only copy,
# and the local machines (LS, ELS), which build patch mosaics. Real diffusion models are
# *trained* networks. Here you train one with your own loss, turn it into a denoiser with
# your own code, meet the two architectures the paper studies (a minimal ResNet and a
# UNet), and measure how local they really are.
#
# **Learning goals.** After this lesson you can
# 1. write the noise-prediction loss and train a network with it (exercise 1, the loss curve);
# 2. turn a network that predicts noise into a denoiser $D(x) = \mathbb E[x_0 \mid x]$ and
#    sample from it with the course's DDIM sampler (exercise 2);
# 3. measure a network's receptive field with gradients, and its *effective* field, the
#    window that holds most of that gradient (exercise 3), and compare it with the patch
#    size the ELS machine needs;
# 4. load the course's shipped checkpoints (checksummed) and judge whether their samples
#    are new digits, against held-out digits as the yardstick.
#
# Exercises have an instant check. If you skip one, the lesson still runs on the
# library's version and says so.

# %%
import matplotlib.pyplot as plt
import torch

from course_utils import checkpoints, data, diffusion, metrics, models, plots, scores
from course_utils import train as training
from course_utils.grading import lesson06, use_passing

torch.manual_seed(0)
# The live model of section 2 learns from the shipped real MNIST digits (4,500 for training,
# 500 held out, at 16 x 16). Set DATASET to "digits" (the small UCI set), or to "mnist",
# "fashion_mnist" or "cifar10" (optional downloads, README "Data") to train it on those.
DATASET = "mnist5k"
# The shipped networks of sections 4-5, each with the data it was trained on.
RESNET, CIRCULAR, UNET = "mnist-resnet-zeros", "mnist-resnet-circular", "mnist-unet-zeros"
train, labels = data.lesson_data(DATASET, "train")
print("training images:", tuple(train.shape), "pixels in", [round(float(train.min()), 3),
                                                            round(float(train.max()), 3)])

# %% [markdown]
# ## 1. The paper's minimal ResNet, and a UNet
#
# Kamb & Ganguli's ResNet is as plain as a diffusion network gets: 3x3 convolutions,
# no normalisation, residual connections, and a small embedding of the noise level
# $b$ added inside every block. It takes a noisy image $x$ and the noise variance $b$
# and predicts the noise $\hat\varepsilon(x, b)$ that was added.
#
# Lesson 04 counted its receptive field: $n$ stacked 3x3 convolutions let output pixel
# $p$ depend on a $(2n+1) \times (2n+1)$ window around $p$, and nothing outside. The
# paper's ResNet has 8 convolutions, a field of 17 pixels on 32x32 images: 0.53 of the
# image side. Our images are 16x16; we keep the paper's building blocks with 5 convolutions,
# a field of 11: 0.69 of the side (both printed below), so our ResNet sees a larger share
# of its image than the paper's. The paper's second architecture, the UNet, halves the
# resolution twice and so reaches much further.
#
# Formulas can be wrong; gradients cannot lie. Take a random input, pick one output
# pixel, and back-propagate: $\partial\,\text{out}_p / \partial x_q$ is *exactly* zero for
# every input pixel $q$ outside the field (`course_utils.models.gradient_map`).
#
# **Predict.** Which input pixels can change the UNet's centre output pixel?

# %%
resnet, unet = models.ResNet(depth=5), models.UNet()
maps = {"ResNet, centre pixel": models.gradient_map(resnet, 16),
        "ResNet, corner pixel": models.gradient_map(resnet, 16, at=(0, 0)),
        "UNet, centre pixel": models.gradient_map(unet, 16)}
fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.2), layout="constrained")
for ax, (title, grad) in zip(axes, maps.items()):
    seen = grad > 0
    ax.imshow(seen, cmap="gray_r", vmin=0, vmax=1.6)
    ax.set_title(f"{title}\n{int(seen.any(1).sum())} x {int(seen.any(0).sum())} pixels", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.suptitle("which input pixels can change one output pixel (grey)", fontsize=10)
plt.show()
field = models.receptive_field(resnet)
print("ResNet field measured on a 64x64 input:", field, " formula 1 + 5 * 2 =", 1 + 5 * 2)
print(f"field / image side: ours {field} / 16 = {field / 16:.2f}, "
      f"the paper's ResNet (8 convolutions) {1 + 8 * 2} / 32 = {(1 + 8 * 2) / 32:.2f}")

# %% [markdown]
# The UNet's centre pixel can be changed by every one of the 256 input pixels: its wiring
# is not local. But lesson 04 noted that a trained network may use less of its field than
# its layers allow. Does the UNet? Section 4 measures how much each pixel *actually* counts.
#
# ## 2. The training loss: predict the noise, and train with it
#
# Training is lesson 03's forward process run many times: take a clean digit $x_0$, draw
# a time $t$ and noise $\varepsilon$, noise $x_0$ to the variance $b(t)$ as lesson 03 did,
# and ask the network for $\varepsilon$. The loss is the mean squared error.
#
# **Exercise 1** (10 min, ★☆☆). Write `diffusion_loss(model, x0, noise_var, eps)`. Write
# the forward process from memory: it shrinks $x_0$ and adds $\varepsilon$ so that a
# clean pixel of variance 1 stays at variance 1 for every $b$ (lesson 03, section 2, if you
# need it). Here `noise_var` is a `(B,)` tensor: each image in the batch has its own noise
# level. The next cell trains a network with *your* loss.

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
# `course_utils.train.train_steps` draws the batches, the times and the noise, calls the
# loss you give it, and takes one Adam step; it also keeps an exponential moving average
# (EMA) of the weights, which is what we sample from. A thin ResNet (32 channels), 120
# steps of 32 digits:
#
# **Predict.** The loss at step 1, for a network that outputs about zero, is the mean of
# $\varepsilon^2$. What is that, and how far should training bring it down?

# %%
loss_fn = use_passing("06.diffusion_loss", diffusion_loss, training.noise_prediction_loss)
live_settings = {"width": 32, "batch": 32, "lr": 2e-3, "steps": 120}
state = training.fresh_state({"arch": "resnet", "channels": train.shape[1],
                              "width": live_settings["width"], "depth": 5, "padding": "zeros"},
                             seed=0, lr=live_settings["lr"])
training.train_steps(state, train, until=live_settings["steps"], batch=live_settings["batch"],
                     loss=loss_fn)
losses = torch.tensor(state["losses"])
window = 10
running = losses.unfold(0, window, 1).mean(1)

fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(range(1, len(losses) + 1), losses, color="0.7", lw=1,
        label=f"each step (one batch of {live_settings['batch']})")
ax.plot(range(window, len(losses) + 1), running, color="k", lw=2, label=f"mean of the last {window}")
ax.axhline(1.0, color="k", ls=":", lw=1, label="predicting 0: E[eps^2] = 1")
ax.set(xlabel="training step", ylabel="loss (mean squared error)", ylim=(0, 1.1 * float(losses.max())),
       title="the live network, trained with your diffusion_loss")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
shipped_resnet = checkpoints.Checkpoint(RESNET)
print("loss at step 1:", round(float(losses[0]), 3), " first 10 steps:", round(float(losses[:10].mean()), 3),
      " last 10 steps:", round(float(losses[-10:].mean()), 3),
      f" (the shipped {RESNET}, {shipped_resnet.manifest['steps']} steps, final loss:",
      shipped_resnet.manifest["final_loss"], ")")
# One noise level at a time: the shipped network, your loss, 128 held-out digits.
test_digits = data.load_dataset(shipped_resnet.manifest["data"], "test")[0][:128]
test_eps = torch.randn(test_digits.shape, generator=torch.Generator().manual_seed(1))
shipped_net = shipped_resnet.model()
with torch.no_grad():
    for b in (0.01, 0.9):
        level_loss = loss_fn(shipped_net, test_digits, torch.full((len(test_digits),), b), test_eps)
        print(f"the shipped {RESNET}, {len(test_digits)} held-out digits all at b = {b}: "
              f"loss {float(level_loss):.3g}")

# %% [markdown]
# The loss falls fast from about 1 (a network that knows nothing predicts
# $\hat\varepsilon \approx 0$, and $\mathbb E[\varepsilon^2] = 1$), then slowly. Much of
# what is left after 120 steps is too little training: the shipped ResNet, trained with the
# same loss for 1600 steps (and wider, with bigger batches: section 4 prints its settings),
# ends at 0.0715, against the live network's 0.143 over its last 10 steps. But no network
# can reach 0: $x$ never pins down the clean digit $x_0$ exactly, and an error in $x_0$ is
# an error in $\varepsilon$, scaled by $\sqrt{(1-b)/b}$. At high noise that scale is small:
# $x$ is nearly all noise, so $\varepsilon$ is nearly $x$ itself and is predicted well,
# while the clean image cannot be; at low noise it is large. The shipped network's loss at a
# single noise level shows it (the last two lines): 0.168 at $b$ = 0.01, 0.0181 at $b$ =
# 0.9. (Section 3 meets the same scale, inverted, in $D(x)$.)
#
# ## 3. From noise prediction to a denoiser
#
# The sampler of lesson 03, and every machine of lessons 03-05, takes a denoiser
# `denoiser(x, noise_var) -> E[x0 | x]`. The network predicts the noise instead. The two
# carry the same information: the forward process ties $x$, $x_0$ and $\varepsilon$
# together, so a guess of $\varepsilon$ is a guess of $x_0$. (Noise targets have the same
# scale at every $t$, which makes the optimisation easy; that is why networks predict them.)
#
# **Exercise 2** (10 min, ★★☆). Write `network_denoise(model, x, noise_var)`: the clean
# image the network's noise prediction implies. `noise_var` is one float for the whole
# batch or a `(B,)` tensor; the sampler's first step asks for $b = 1$, where the formula
# would divide by zero: the networks are trained up to `models.MAX_NOISE_VAR` and clamp
# $b$ there themselves, so do the same.

# %%
def network_denoise(model, x, noise_var):
    """model(x, b) -> eps_hat; (B, C, H, W) noisy, float or (B,) b -> (B, C, H, W) E[x0 | x]."""
    ### BEGIN SOLUTION
    b = torch.as_tensor(noise_var, dtype=x.dtype).expand(x.shape[0])
    b = b.clamp(max=models.MAX_NOISE_VAR)
    eps_hat = model(x, b)
    b = b.reshape(-1, 1, 1, 1)
    return (x - torch.sqrt(b) * eps_hat) / torch.sqrt(1 - b)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("06.network_denoise", network_denoise)

# %% [markdown]
# Now your denoiser drives lesson 03's 20-step DDIM sampler on the live network: 10 noise
# images from seed 6, and the denoiser's guess $D(x)$ along the way for the first one.

# %%
denoise = use_passing("06.network_denoise", network_denoise, models.network_denoise)


def sampler_denoiser(model):
    """The network as the sampler's ``denoiser(x, noise_var)``, through ``denoise``, no gradients."""
    model.eval()

    def denoiser(x, noise_var):
        with torch.no_grad():
            return denoise(model, x, noise_var)

    return denoiser


live_noise = torch.randn(10, *train.shape[1:], generator=torch.Generator().manual_seed(6))
guesses = {"live": [], "shipped": []}
live = diffusion.ddim_sample(sampler_denoiser(state["ema"]), live_noise,
                             callback=lambda step: guesses["live"].append(step["denoised"][:1]))
resnet_train = checkpoints.Checkpoint(RESNET).train_data()
diffusion.ddim_sample(sampler_denoiser(checkpoints.Checkpoint(RESNET).model()),
                      torch.randn(10, *resnet_train.shape[1:],
                                  generator=torch.Generator().manual_seed(6))[:1],
                      callback=lambda step: guesses["shipped"].append(step["denoised"]))
fig, axes = plt.subplots(3, 1, figsize=(6.5, 3.4))
axes[0].imshow(plots.image_grid(live.clamp(-1, 1), ncols=10))
axes[0].set_title(f"the live network ({live_settings['steps']} steps, {DATASET}): 10 samples",
                  fontsize=9, loc="left")
for ax, key, title in zip(axes[1:], ("live", "shipped"), ("the live network", RESNET)):
    ax.imshow(plots.image_grid(torch.cat(guesses[key][::2]).clamp(-1, 1), ncols=10))
    ax.set_title(f"{title}, seed 6: its guess D(x) at every second step, t = 1 (left) to 0.1",
                 fontsize=9, loc="left")
for ax in axes:
    ax.set_axis_off()
plt.tight_layout()
plt.show()
mean_image = {"live": train.mean(0, keepdim=True), "shipped": resnet_train.mean(0, keepdim=True)}
print(f"at b = MAX_NOISE_VAR = {models.MAX_NOISE_VAR}, an error in eps_hat is multiplied by "
      f"sqrt(b / (1 - b)) = {(models.MAX_NOISE_VAR / (1 - models.MAX_NOISE_VAR)) ** 0.5:.1f} in D(x)")
for key in guesses:
    first = guesses[key][0]
    print(f"{key:8s} first guess: RMS {float(first.pow(2).mean().sqrt()):.2f}, "
          f"Pearson r with the mean training digit {float(metrics.pearson_r(first, mean_image[key])[0]):.2f}")

# %% [markdown]
# At $t = 1$, $x$ is almost pure noise, and $D(x)$ divides $x - \sqrt
# b\,\hat\varepsilon$ by $\sqrt{1-b}$, which magnifies any error in $\hat\varepsilon$ 31.6
# times (printed above). The live network's first guess is that magnified error: speckle.
# The shipped network predicts the noise better there: its first guess is speckled too, but
# less (RMS 1.37 against 3.18), and it already correlates with the mean training digit ($r$
# = 0.54); two steps later (the second image of its row) it is a smooth blob. From pure
# noise, the best guess of $x_0$ is close to the average digit. As $t$ falls, both guesses
# sharpen into strokes.
#
# ## 4. The shipped models, and how local they really are
#
# The course ships networks trained with the same loss and code, by the command written in
# each checkpoint's manifest (its sha256 is checked on loading). The settings, printed
# beside the live network's, differ: the shipped ResNets are wider, all use bigger batches
# at a lower learning rate, and all train for longer.

# %%
names = [RESNET, CIRCULAR, UNET]
shipped = {name: checkpoints.Checkpoint(name) for name in names}
nets = {name: checkpoint.model() for name, checkpoint in shipped.items()}
print(f"{'live network (section 2)':24s} resnet  data {DATASET:8s} width {live_settings['width']}, "
      f"batch {live_settings['batch']}, lr {live_settings['lr']:g}, {live_settings['steps']} steps")
for name in names:
    m = shipped[name].manifest
    width = m["config"].get("width", m["config"].get("widths"))
    print(f"{name:24s} {m['config']['arch']:7s} data {m['data']:8s} width {width}, "
          f"batch {m['batch']}, lr {m['lr']:g}, {m['steps']} steps, final loss {m['final_loss']:.3g}, "
          f"{sum(p.numel() for p in nets[name].parameters()) / 1e3:.0f}k parameters")
print("\nretrain one with:", shipped[RESNET].manifest["command"])

# %% [markdown]
# Section 1 showed *which* pixels can influence output pixel $p$. How much each one does
# is the size of $|\partial D(x)_p / \partial x_q|$, for the denoiser $D$ and real noisy
# inputs. Call the **effective field** at fraction $f$ the smallest square window centred
# on $p$ that holds a fraction $f$ of the total $\sum_q |\partial D(x)_p / \partial x_q|$.
#
# **Exercise 3** (15 min, ★★☆). Write `effective_field(grad, row, col, fraction)`: `grad`
# is an `(H, W)` map of non-negative weights, `(row, col)` the output pixel; return the
# odd side of the smallest window centred on it (cut where the image ends) that holds at
# least `fraction` of the whole map's sum.

# %%
def effective_field(grad, row, col, fraction):
    """(H, W) non-negative map, pixel (row, col), fraction in (0, 1) -> odd side (int) of the
    smallest centred square window (cut at the border) holding that fraction of the map's sum."""
    ### BEGIN SOLUTION
    total, side = grad.sum(), 1
    while True:
        half = side // 2
        window = grad[max(row - half, 0):row + half + 1, max(col - half, 0):col + half + 1]
        if window.sum() >= fraction * total:
            return side
        side += 2
    ### END SOLUTION


# %%
from course_utils.grading import check
check("06.effective_field", effective_field)

# %% [markdown]
# We measure it for the shipped ResNet and UNet at each of the sampler's 20 noise levels:
# the gradient of the denoiser's centre pixel, summed over 16 held-out digits noised to
# that level (the library's `models.network_denoise` here, since it must keep the
# gradient), at $f = 0.5$ and $f = 0.9$. Beside it, the patch size $k(t)$ that lesson 07
# calibrates for the ELS machine, for the networks whose schedule ships. As a control,
# section 1's UNet, never trained, is measured on the network's own output
# $\hat\varepsilon$ (why not on $D(x)$: below).
#
# **Predict.** The UNet can see all 256 pixels. Will 90 % of its gradient need the
# whole image?

# %%
field_of = use_passing("06.effective_field", effective_field, lesson06.effective_field)
noise_vars = diffusion.sampling_noise_vars(20)[1:]  # the level each of the 20 steps starts from
centre = 8


def gradient_at_centre(model, clean, noise_var, seed=1, output="D"):
    """(N, C, H, W) clean digits, float b -> (H, W) sum over digits of |d out[centre] / d x|,
    out the denoiser D(x), or with output="eps" the network's own eps_hat(x, b)."""
    eps = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    x = diffusion.add_noise(clean, noise_var, eps).requires_grad_(True)
    out = model(x, noise_var) if output == "eps" else models.network_denoise(model, x, noise_var)
    out[:, :, centre, centre].sum().backward()
    return x.grad.abs().sum((0, 1))


field_models = {"ResNet": RESNET, "UNet": UNET}
fields, heat = {}, {}
for label, name in field_models.items():
    held_out, _ = data.load_dataset(shipped[name].manifest["data"], "test")
    grads = [gradient_at_centre(nets[name], held_out[:16], float(b)) for b in noise_vars]
    fields[label] = {f: [field_of(g, centre, centre, f) for g in grads] for f in (0.5, 0.9)}
    heat[label] = (grads[2], grads[-3])
# The control: section 1's UNet, the same architecture with random weights, never trained.
# Its eps_hat does not cancel the identity path x / sqrt(1 - b) inside D(x), so it is
# measured on eps_hat itself, which for random weights holds no identity term.
probe = data.load_dataset(shipped[UNET].manifest["data"], "test")[0][:16]
untrained_grads = [gradient_at_centre(unet, probe, float(b), output="eps") for b in noise_vars]
untrained_field = [field_of(g, centre, centre, 0.9) for g in untrained_grads]

steps = range(1, 21)
fig, (ax, *maps_axes) = plt.subplots(1, 3, figsize=(10, 4.2), gridspec_kw={"width_ratios": [2.2, 1, 1]})
styles = {"ResNet": dict(marker="o", color="0.15"), "UNet": dict(marker="s", color="tab:blue")}
for label, name in field_models.items():
    ax.plot(steps, fields[label][0.9], ls="-", ms=4, label=f"{label}: 90 % of the gradient",
            **styles[label])
    ax.plot(steps, fields[label][0.5], ls="--", ms=3, mfc="none", label=f"{label}: 50 %",
            **styles[label])
    if shipped[name].schedule_path.exists():
        shift = {"ResNet": -0.3, "UNet": 0.3}[label]  # so that k(t) shows where it meets a line
        ax.step([i + shift for i in steps], shipped[name].schedule("els").ks, where="mid", ls=":",
                lw=2, marker="x", ms=5, mew=1.5, color=styles[label]["color"], zorder=3,
                label=f"{label}: calibrated ELS k(t)")
ax.axhline(11, color="0.5", lw=0.8, ls=(0, (6, 3)), zorder=0)  # dashed and underneath: the curves cross it
ax.text(3.4, 10.6, "ResNet receptive field (11)", fontsize=7, color="0.4", va="top")
ax.axhline(16, color="0.5", lw=0.8)
ax.text(20, 16.3, "image side (16)", fontsize=7, color="0.4", ha="right")
ax.set(xlabel="sampling step i (starts at t = i/20)", ylabel="window side (pixels)", ylim=(0, 17.5),
       xticks=[1, 5, 10, 15, 20], title="effective field of the denoiser D(x), centre pixel")
ax.title.set_fontsize(9)
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
for map_ax, grad, when in zip(maps_axes, heat["UNet"], ("step 3 (low noise)", "step 18 (high noise)")):
    shown = map_ax.imshow(grad / grad.sum(), cmap="viridis")
    map_ax.set_title(f"UNet |dD(x)[centre]/dx|,\n{when}", fontsize=8)
    map_ax.set_xticks([]), map_ax.set_yticks([])
    fig.colorbar(shown, ax=map_ax, fraction=0.046, label="share of the total")
plt.tight_layout()
plt.show()
for label, name in field_models.items():
    print(f"{label} ({name}), D(x), effective field at 90 %, steps 1-20:", fields[label][0.9])
    print(f"{label} ({name}), D(x), effective field at 50 %, steps 1-20:", fields[label][0.5])
    if shipped[name].schedule_path.exists():
        print(f"{label} ({name}), calibrated ELS k(t), steps 1-20:         ",
              shipped[name].schedule("els").ks)
print("\nthe control: UNet untrained, eps_hat, effective field at 90 %, steps 1-20:", untrained_field)
b = float(noise_vars[0])
print(f"untrained UNet, D(x) at step 1 (b = {b:.3g}), summed over the {len(probe)} digits: identity "
      f"path {len(probe)} / sqrt(1 - b) = {len(probe) / (1 - b) ** 0.5:.3g}, network term "
      f"sqrt(b / (1 - b)) sum |d eps_hat / dx| = "
      f"{(b / (1 - b)) ** 0.5 * float(untrained_grads[0].sum()):.3g}")

# %% [markdown]
# Every input pixel *can* reach the UNet's centre output, but the weight of the denoiser's
# gradient is concentrated (the printed sides, and the heat maps): half of it lies within a
# window of 3 to 7 pixels, and 90 % within 7 to 13 pixels. Only at one of the noisiest steps
# (step 18) does the 90 % window reach 15 pixels, nearly the whole image. So the trained UNet's
# denoiser is *effectively* local, with a window that grows with the noise level; the
# ResNet's grows too (90 % within 5 to 9 pixels) and stays inside its 11-pixel field.
#
# Is that concentration learned? The control, section 1's UNet with random weights, cannot
# be measured on $D(x)$: $D(x) = (x - \sqrt b\,\hat\varepsilon)/\sqrt{1-b}$ holds the
# identity path $x/\sqrt{1-b}$, which only touches the centre pixel, and an untrained
# $\hat\varepsilon$ does not cancel it (at step 1 the identity path carries 16.1 of the
# gradient summed over the 16 digits, the network term 0.315: the last line printed). Its
# own output $\hat\varepsilon$ holds no such identity term, so that is what we measure:
# the untrained UNet's 90 % window is 9 pixels at every step. Random weights alone already
# concentrate most of the gradient near the centre, in a window of about 9 pixels, a
# property of the architecture and its initialisation (Luo et al., in the further reading,
# describe such concentration in convolutional networks). What the untrained network does
# not have is a window that changes with the noise level: the trained denoiser's grows
# from 7 to 15. (The trained UNet's own $\hat\varepsilon$ is no fair comparison: to predict
# the noise it must carry $x/\sqrt b$, an identity path of its own on the centre pixel.)
#
# The trained denoiser's growing window is what the calibrated $k(t)$ of lesson 07 captures:
# not the architecture's field but the patch size that best reproduces the trained network's
# output at each noise level. For the UNet it too grows, from 3 to 13 (the dotted line with
# crosses, drawn a little to the side, where a schedule ships). The two measures ask
# different questions (where the gradient of $D(x)$ lies; which patch size matches the
# output), so they need not agree number for number, and at low noise they do not (UNet:
# $D(x)$'s 90 % window 7 to 11 over steps 1-3, $k$ 3). What they share is the trend, nearly
# the top value (UNet: $k$ tops at 13, the 90 % window at 15, at step 18 only, and 13 at the
# other noisy steps; ResNet: both top at 9), and that the UNet's window grows larger than
# the ResNet's.
#
# ## 5. Are the samples new digits?
#
# Now sample: the same noise seeds through each shipped network, with your denoiser and
# the 20-step DDIM sampler. A sample that is a copy sits at distance about 0 from some
# training digit. But "far from every training digit" needs a yardstick: how far is a
# *new real digit*, one the networks never saw (the held-out split), from its nearest
# training digit? And as the opposite control, the ideal machine IS of lesson 03, which
# can only copy.
#
# **Predict.** Will the ResNet's samples sit nearer to the training set than held-out
# digits do, about as near, or farther?

# %%
count = 32


def nearest_distance(images, reference):
    """(B, C, H, W) images -> (B,) RMS pixel distance to their nearest image in ``reference``."""
    return metrics.nearest_image(images, reference)["dist"]


samples, distances = {}, {}
for data_name in dict.fromkeys(shipped[name].manifest["data"] for name in names):
    digits_of = data.load_dataset(data_name, "train")[0]
    noise = torch.randn(count, *digits_of.shape[1:], generator=torch.Generator().manual_seed(6))
    distances[f"IS (copies), {data_name}"] = nearest_distance(
        diffusion.ddim_sample(scores.machine("ideal", digits_of), noise), digits_of)
    distances[f"held-out digits, {data_name}"] = nearest_distance(
        data.load_dataset(data_name, "test")[0][:count * 4], digits_of)
    for name in names:
        if shipped[name].manifest["data"] == data_name:
            samples[name] = diffusion.ddim_sample(sampler_denoiser(nets[name]), noise)
            distances[name] = nearest_distance(samples[name], digits_of)
nearest = metrics.nearest_image(samples[RESNET][:10], resnet_train)

shown = {**{name: samples[name][:10] for name in names},
         f"nearest training digit to each {RESNET} sample": resnet_train[nearest["index"]]}
fig, axes = plt.subplots(len(shown), 1, figsize=(6.5, 1.0 * len(shown)))
for ax, (title, images) in zip(axes, shown.items()):
    ax.imshow(plots.image_grid(images.clamp(-1, 1), ncols=10))
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_axis_off()
plt.tight_layout()
plt.show()

# %%
groups = list(distances)
fig, ax = plt.subplots(figsize=(7, 0.5 * len(groups) + 1.2))
ax.boxplot([distances[g].numpy() for g in groups], orientation="horizontal", widths=0.6,
           medianprops={"color": "k", "lw": 2})
for i, g in enumerate(groups, start=1):
    jitter = torch.linspace(-0.18, 0.18, len(distances[g]))
    ax.plot(distances[g].numpy(), i + jitter.numpy(), ".", color="tab:blue", ms=3, alpha=0.6)
ax.set_yticks(range(1, len(groups) + 1), groups, fontsize=8)
ax.set(xlabel="RMS pixel distance to the nearest training digit of the same data (pixels in [-1, 1])",
       title="copies sit at 0; held-out real digits are the yardstick for new ones")
ax.xaxis.label.set_fontsize(8)
ax.title.set_fontsize(9)
ax.invert_yaxis()
plt.tight_layout()
plt.show()
for g in groups:
    d = distances[g]
    print(f"{g:28s} n = {len(d):3d}  median {float(d.median()):.3f}  min {float(d.min()):.3f}")
copies = distances[f"IS (copies), {shipped[UNET].manifest['data']}"]
print("nearest network sample / IS median:",
      f"{min(float(distances[name].min()) for name in names) / float(copies.median()):.3g}")

# %% [markdown]
# Read the printed medians against the yardstick. The IS machine's samples sit at
# distance 0.013 (median): they are training digits. No network sample comes near that; the
# nearest of them (min 0.109, a UNet sample) is 8.71 times farther than that median (the
# last line). So the networks do not copy. But their samples are typically *farther* from
# the training set than new real digits are (each network's median above the held-out
# digits' median, printed above): distance says "not a copy", not "a good digit". Look at the rows: many samples are
# digit-like strokes that are no clean digit, and the circular-padded ResNet, which cannot
# tell the border from the middle, draws strokes that run into the frame's edge (and wrap
# across it), leaves some frames almost empty, and sits farthest.
#
# ## Summary
# - Diffusion networks are trained to predict the noise; you trained one with your own loss,
#   and its loss falls from about 1; longer training lowers it (the shipped network's), but
#   it stays above 0, because $x$ never pins down the clean image, nor therefore the noise.
#   At high noise $\varepsilon$ is nearly $x$ and easy to predict; it is the clean image
#   that cannot be predicted there.
# - $D(x)$ follows from $\hat\varepsilon$ in closed form (with $b$ clamped below 1), so a
#   network plugs into the same sampler as every machine of this course.
# - A stack of $n$ 3x3 convolutions has a receptive field of $2n + 1$ pixels; the UNet's
#   reaches the whole 16x16 image. But the gradient of a trained network's denoiser is
#   concentrated: its effective field is a window that grows with the noise level, like the
#   patch size that lesson 07 calibrates. Random weights concentrate the gradient too:
#   measured on $\hat\varepsilon$, an untrained UNet's 90 % window is 9 pixels at every step,
#   where the trained denoiser's grows with the noise level, from 7 to 15.
# - Measured against held-out digits, the shipped networks' samples are not copies (the
#   ideal machine's are), and they are less like any training digit than new real digits
#   are: new, but not all good.
#
# ## Discussion questions
# 1. The effective field depends on the fraction $f$. Which $f$ would you choose to
#    compare with the ELS patch size, and why is no choice exactly right?
# 2. The UNet's receptive field is the whole image, yet it behaves locally, and with random
#    weights its $\hat\varepsilon$ is local too (a 9-pixel window at every step). What in the
#    architecture, the training data or the training could set how much of the image a
#    trained network uses at each noise level?
# 3. Distance to the nearest training digit says "not a copy". What would a measure of
#    "a good new digit" need, and which control would it be compared against?
# 4. Why would noise prediction be easier to learn than predicting $x_0$ directly, at low
#    and at high noise?
#
# ## Further reading
# - M. Kamb and S. Ganguli, *An analytic theory of creativity in convolutional diffusion
#   models*, ICML 2025, [arXiv:2412.20292](https://arxiv.org/abs/2412.20292): the ResNet
#   and UNet studied here, and the calibration of $k(t)$.
# - J. Ho, A. Jain and P. Abbeel, *Denoising diffusion probabilistic models*, NeurIPS 2020,
#   [arXiv:2006.11239](https://arxiv.org/abs/2006.11239): the noise-prediction loss.
# - W. Luo, Y. Li, R. Urtasun and R. Zemel, *Understanding the effective receptive field in
#   deep convolutional neural networks*, NeurIPS 2016,
#   [arXiv:1701.04128](https://arxiv.org/abs/1701.04128): gradient mass concentrates
#   near the centre of the receptive field.
# - Z. Kadkhodaie, F. Guth, E. P. Simoncelli and S. Mallat, *Generalization in diffusion
#   models arises from geometry-adaptive harmonic representations*, ICLR 2024,
#   [arXiv:2310.02557](https://arxiv.org/abs/2310.02557): trained denoisers that
#   generalise rather than memorise.
#
# **Next:** [lesson 07](07_theory_meets_practice.ipynb) puts these networks next to the
# ELS machine of [lesson 05](05_equivariance.ipynb), from the same noise, and measures
# how well the theory predicts them.
