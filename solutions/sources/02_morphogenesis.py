# %% [markdown]
# # 02 · Morphogenesis: how a limb bud counts to five
#
# *Local Rules, Creative Machines* — lesson 02 of 10.
#
# The bones of your arm follow a simple plan: one bone in the upper arm, two in the
# forearm, five digits in the hand. Developmental biologists have found that the digits
# are laid out by a Turing-type reaction-diffusion mechanism in the growing limb bud
# ([Sheth et al., *Science* 2012](https://doi.org/10.1126/science.1226804);
# [Raspopovic et al., *Science* 2014](https://doi.org/10.1126/science.1252960)): the
# cartilage of each
# digit condenses where an activator peaks. Lesson 01 showed that such a pattern has a
# fixed **wavelength**. So the number of digits is not written down anywhere: it is
# whatever number of wavelengths fits across the bud.
#
# That has a striking consequence. Make the bud wider, or the wavelength shorter, and a
# sixth digit appears: **polydactyly**, one of the most common birth differences. No cell
# knows how many digits the hand has. Hold on to that sentence; in lesson 08 local
# denoisers built from, or trained on, only five-fingered hands draw hands with other
# counts, from the same kind of rule.
#
# **Learning goals.** After this lesson you can
# 1. write a Laplacian with no-flux walls for a domain that is not a torus;
# 2. grow a limb bud whose Turing pattern lays down a skeleton, one element branching
#    into two and then into digits;
# 3. count digits automatically and check that their number follows bud width divided
#    by wavelength;
# 4. make a six-digit hand by changing one parameter, local (the diffusion ratio) or
#    global (the bud's width), explain why a bare Turing mechanism cannot prevent it, and
#    say what real limbs add.
#
# The model is a toy: the Schnakenberg kinetics of lesson 01 (wavelength about 12 cells),
# not the real Bmp-Sox9-Wnt network. It keeps the one feature that matters here: the
# pattern's wavelength is set locally, the bud's width globally. *Local* means a change
# in the rule each cell applies (its reaction and diffusion constants); *global*, a
# change in the shape of the domain, which no cell's rule sees.

# %%
# %matplotlib inline
import inspect
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_utils import turing
from course_utils.grading import use_passing

params = turing.SCHNAKENBERG
jac = turing.schnakenberg_jacobian(params["a"], params["b"], params["gamma"])
q_star, _ = turing.fastest_mode(jac, params["Du"], params["Dv"])
wavelength = 2 * math.pi / q_star
print(f"Schnakenberg wavelength (lesson 01): {wavelength:.3g} cells; "
      f"critical diffusion ratio d_c: {turing.critical_ratio(jac):.2f}")

# %% [markdown]
# ## 1. Walls instead of a torus
#
# Lesson 01's grids were periodic. A limb bud is not: its edge is a wall that the
# chemicals cannot cross. With **no-flux** walls, a cell exchanges material only with
# the neighbours that lie inside the domain:
#
# $$\nabla^2 u_{p} \approx \sum_{n \in \text{neighbours}(p),\ n \in \Omega} (u_n - u_p),
# \qquad p \in \Omega,$$
#
# and it is 0 outside the domain $\Omega$. Every exchange $u_n - u_p$ appears once with
# each sign, so the total amount inside $\Omega$ never changes.
#
# **Exercise 1** (about 15 min, medium).
# Write `noflux_laplacian(u, mask)` for fields `u` of shape `(B, H, W)` and
# a boolean domain `mask` of the same shape. Use zero padding
# (`F.pad(x, (1, 1, 1, 1))` pads the last two axes), not `torch.roll`: the limb does not
# wrap around.

# %%
def noflux_laplacian(u, mask):
    """(B, H, W) field, (B, H, W) bool domain -> (B, H, W) Laplacian with no-flux walls."""
    ### BEGIN SOLUTION
    inside = mask.to(u.dtype)
    padded_u, padded_in = F.pad(u, (1, 1, 1, 1)), F.pad(inside, (1, 1, 1, 1))
    h, w = u.shape[-2:]
    total = torch.zeros_like(u)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        neighbour = padded_u[:, dy:dy + h, dx:dx + w]
        total = total + padded_in[:, dy:dy + h, dx:dx + w] * (neighbour - u)
    return total * inside
    ### END SOLUTION


# %%
from course_utils.grading import check
check("02.noflux_laplacian", noflux_laplacian)

# %% [markdown]
# With your `noflux_laplacian` once its check has passed (else the library's
# `turing.noflux_laplacian`; the cell says which), let a drop of dye diffuse inside a
# paddle-shaped bud. It spreads until it fills the bud evenly, and not a grain leaves.

# %%
sealed_laplacian = use_passing("02.noflux_laplacian", noflux_laplacian, turing.noflux_laplacian)
rows, cols = torch.meshgrid(torch.arange(48.0), torch.arange(40.0), indexing="ij")
paddle = (((rows - 30) / 16) ** 2 + ((cols - 19.5) / 18) ** 2 < 1) | (
    (rows < 30) & ((cols - 19.5).abs() < 6))
paddle = paddle[None]
dye = torch.zeros(1, 48, 40, dtype=torch.float64)
dye[0, 30:34, 8:12] = 1.0
frames, done = [dye], 0
for steps in (40, 400, 4000):
    for _ in range(steps - done):
        dye = dye + 0.2 * sealed_laplacian(dye, paddle)
    frames.append(dye)
    done = steps

fig, axes = plt.subplots(1, 4, figsize=(11, 3.6), layout="constrained")
for ax, frame, steps in zip(axes, frames, (0, 40, 400, 4000)):
    image = ax.imshow(torch.where(paddle[0], frame[0], torch.nan), cmap="viridis",
                      origin="lower", vmin=0, vmax=0.05)
    ax.set(xticks=[], yticks=[], title=f"step {steps:,}: total {frame.sum().item():.4g}")
fig.colorbar(image, ax=axes, shrink=0.8, label="dye per cell (clipped at 0.05)")
fig.suptitle("diffusion with no-flux walls: the dye spreads, the total stays")
plt.show()

# %% [markdown]
# ## 2. Growing a limb bud
#
# A limb grows out from its tip. Just under the tip lies a thin zone of undifferentiated,
# signalling cells (it is kept that way by FGF from the bud's edge). Behind it, cells stop
# signalling and turn into cartilage where the activator was high. So the skeleton is a
# **record of the tip zone over time**: row $r$ of the limb is what the zone looked like
# when the limb was $r$ rows long.
#
# We simulate exactly that (`turing.limb_bud`). The tip zone is one row of cells, thinner
# than half a wavelength, so it can only pattern across its width. It runs the
# Schnakenberg kinetics with no-flux walls while it widens smoothly from 6 cells (the
# function's default, printed below) to its final width over most of the outgrowth, then
# keeps that width; every 100 steps we record one row.
# Five buds, five final widths.
#
# **Predict.** The widest bud below is 56 cells, about 4.8 wavelengths. How many digits
# will it end with, and will its skeleton branch all at once or step by step?

# %%
widths = torch.tensor([12.0, 24.0, 36.0, 48.0, 56.0])
record, shape = turing.limb_bud(widths, rows=100, steps_per_row=100, seed=0)

fig, axes = plt.subplots(1, len(widths), figsize=(12, 4.4), sharey=True, layout="constrained")
for ax, limb, bud, width in zip(axes, record, shape, widths):
    image = ax.imshow(torch.where(bud, limb, torch.nan), cmap="magma", origin="lower",
                      aspect="auto", vmin=0, vmax=2.5)
    ax.set(xticks=[], title=f"width {width:.0f} = {width / wavelength:.2g} λ")
axes[0].set(ylabel="proximal (shoulder)  →  distal (fingertips)")
fig.colorbar(image, ax=axes, shrink=0.8, label="activator u")
fig.suptitle("skeletons laid down by the tip zone of growing limb buds")
plt.show()
print("turing.limb_bud: start width",
      inspect.signature(turing.limb_bud).parameters["start_width"].default, "cells")

# %% [markdown]
# As the bud widens, one element splits into two and then into several: the
# humerus → radius and ulna → digits sequence of a real limb, with nobody telling the
# cells when to branch. A new element appears whenever the zone has become too wide for
# the elements it has; the last picture is a five-digit hand.
#
# ## 3. Counting digits
#
# To count digits automatically we look at one row of the limb, the activator profile
# across the bud, threshold it halfway between its lowest and highest value, and count
# the runs of cells above the threshold. Two touching high cells belong to the same digit.
#
# **Exercise 2** (about 10 min, easy).
# Write `count_digits(profile)` for a 1-D tensor `profile` (the cells
# inside the bud). Return a Python `int`.

# %%
def count_digits(profile):
    """(W,) activator across the limb -> number of runs above the midpoint of its range."""
    ### BEGIN SOLUTION
    high = profile > (profile.max() + profile.min()) / 2
    starts = high[1:] & ~high[:-1]
    return int(high[0]) + int(starts.sum())
    ### END SOLUTION


# %%
from course_utils.grading import check
check("02.count_digits", count_digits)

# %% [markdown]
# The library's `turing.count_digits(profile, mask)` does the same on the cells inside the
# bud, with two refinements the rest of the lesson uses (`turing.LIMB_DIGITS`):
# * **no wall slivers.** A peak that sits against a no-flux wall is cut in half, and can
#   leave a thin sliver above the threshold that is no digit.
#   `min_width_share=0.5` drops every run narrower than half the median run width.
# * **an amplitude floor.** A midpoint threshold splits *any* profile, even pure noise,
#   into high and low runs. Before the bud has patterned, its activator is the uniform
#   state $u^* = a + b = 1$ plus the 1 % noise it was seeded with (both printed below);
#   that is no digit at all.
#   `min_amplitude=0.1` calls a profile whose range is below 0.1 unpatterned: 0 digits.
#
# Follow the widest bud from shoulder to fingertips, with the range of each row:

# %%
limb, bud = record[-1], shape[-1]
sampled_rows = range(0, 100, 11)
ranges = [(limb[r][bud[r]].max() - limb[r][bud[r]].min()).item() for r in sampled_rows]
along = [turing.count_digits(limb[r], bud[r], **turing.LIMB_DIGITS) for r in sampled_rows]
print("turing.LIMB_DIGITS:", turing.LIMB_DIGITS)
u_star = turing.schnakenberg_steady_state(params["a"], params["b"])[0]
seed_noise = inspect.signature(turing.turing_seed).parameters["noise"].default
print(f"uniform state u* = a + b = {u_star:.3g}; turing.limb_bud seeds it through "
      f"turing.turing_seed with {100 * seed_noise:.0f} % noise")
print("range of u across the bud, every 11th row:      ", [round(x, 3) for x in ranges])
print("elements from shoulder to fingertips, every 11th row:", along)
print("the same rows without the amplitude floor:        ",
      [turing.count_digits(limb[r], bud[r], min_width_share=0.5) for r in sampled_rows])

# %% [markdown]
# The first row is the seed noise (a range of about 0.01): no element yet, where a bare
# midpoint threshold would have counted one. From the second row on the range is
# above the floor, and the count climbs 1, 2, 3, 4, 5 as the bud widens; rows with grown
# digits span ranges of 1.7 to 1.9, more than 17 times the floor, so the floor never
# touches a real digit.

# %% [markdown]
# Now the central question: **does the number of digits follow width / wavelength?** Grow
# 39 buds, widths from 12 to 84 cells, three buds (three noise seeds) per width, and count
# the digits at the fingertips.

# %%
many = torch.arange(12.0, 90.0, 6.0).repeat(3)
record_many, shape_many = turing.limb_bud(many, rows=100, steps_per_row=100, seed=1)
digits = torch.tensor([turing.count_digits(limb[-1], bud[-1], **turing.LIMB_DIGITS)
                       for limb, bud in zip(record_many, shape_many)])

fig, ax = plt.subplots(figsize=(6, 4))
jitter = 0.08 * (torch.arange(len(many)) // 13 - 1)
ax.plot(many / wavelength + jitter, digits, "o", alpha=0.7,
        label="grown buds (3 seeds, offset sideways)")
line = torch.linspace(0.5, 7.5, 2)
ax.plot(line, line, "k--", lw=1, label="digits = width / λ")
ax.set(xlabel="bud width / wavelength λ", ylabel="digits at the fingertips",
       title="the digit count follows width / wavelength")
ax.legend()
plt.tight_layout()
plt.show()
print("digits of the three seeds per width:")
for start in (0, 7):
    print("  " + ", ".join(f"{width:.0f} ({width / wavelength:.2g} λ) {digits[many == width].tolist()}"
                           for width in many[start:min(start + 7, 13)].tolist()))
disagree = [f"{width / wavelength:.2f} λ {digits[many == width].tolist()}"
            for width in many[:13].tolist() if len(set(digits[many == width].tolist())) > 1]
print("widths where the three seeds disagree: " + ", ".join(disagree))

# %% [markdown]
# The count climbs about one digit per extra wavelength of width: 1, 3 and 5 digits at 1,
# 3.1 and 5.1 wavelengths, in steps (2 digits from 1.5 to 2.5 wavelengths). From about 6
# wavelengths on it runs ahead: 7 digits at 6.1 wavelengths (two seeds of three), 7 at 6.6
# and 8 at 7.1 (all three seeds). Nothing in the rule counts: the number is whatever the
# widening zone has room for. The seeds agree at most widths;
# where they disagree (printed above) they differ by one, and those widths are not simply
# the half-integers: the count is settled while the bud grows, each time the widening zone
# splits an element, so which width is "on the edge" depends on that history, not on the
# final width / wavelength alone.
#
# ## 4. Polydactyly: a sixth digit from one changed parameter
#
# Two ways to get an extra digit, both seen in mice and people, one global (the shape of
# the domain) and one local (the rule each cell applies):
# * **a wider bud.** Mice lacking the gene *Gli3* grow broader hand plates and many digits;
# * **a shorter wavelength.** Lowering the dose of the distal *Hox* genes makes the
#   Turing wavelength shorter (Sheth et al. 2012): more, thinner digits in a bud of the
#   same size. In our model, let the activator diffuse more slowly
#   ($D_u$: 0.05 → 0.028, so $D_v / D_u$: 20 → 36).
#
# **Predict.** A bud 20 % wider, or a wavelength 15 % shorter: which gives the sixth digit
# more reliably?
#
# Six buds of each kind, each with its own noise:

# %%
kinds = ("normal", "wider bud", "shorter wavelength")
widths_poly = torch.tensor([60.0] * 6 + [72.0] * 6 + [60.0] * 6)
Du_poly = torch.tensor([0.05] * 12 + [0.028] * 6)
record_poly, shape_poly = turing.limb_bud(widths_poly, rows=100, steps_per_row=100, seed=2,
                                          Du=Du_poly)
digits_poly = [turing.count_digits(limb[-1], bud[-1], **turing.LIMB_DIGITS)
               for limb, bud in zip(record_poly, shape_poly)]
short = 2 * math.pi / turing.fastest_mode(jac, Du_poly[-1].item(), params["Dv"])[0]
print(f"D_u {params['Du']:.3g} -> {Du_poly[-1].item():.3g}: D_v / D_u {params['Dv'] / params['Du']:.0f} -> "
      f"{params['Dv'] / Du_poly[-1].item():.0f}, wavelength {wavelength:.3g} -> {short:.3g} cells "
      f"({100 * (1 - short / wavelength):.0f} % shorter); width {widths_poly[0]:.0f} -> "
      f"{widths_poly[6]:.0f} cells ({100 * (widths_poly[6] / widths_poly[0] - 1):.0f} % wider)")

fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.6), layout="constrained")
for ax, kind, i in zip(axes, kinds, (0, 6, 12)):
    image = ax.imshow(torch.where(shape_poly[i], record_poly[i], torch.nan), cmap="magma",
                      origin="lower", aspect="auto", vmin=0, vmax=2.5)
    columns = torch.nonzero(shape_poly[i, -1]).flatten()
    centres = [columns[(start + stop - 1) // 2].item() for start, stop
               in turing.digit_runs(record_poly[i, -1], shape_poly[i, -1], **turing.LIMB_DIGITS)]
    ax.plot(centres, [shape_poly.shape[1] - 1] * len(centres), "v", color="C2", mec="w", ms=9,
            clip_on=False, label="counted digit")
    ax.set(xticks=[], yticks=[], title=f"{kind}: {digits_poly[i]} digits")
axes[0].legend(loc="lower left", fontsize=8)
axes[0].set_xlabel(f"width 60, λ = {wavelength:.3g}")
axes[1].set_xlabel(f"width 72, λ = {wavelength:.3g}")
axes[2].set_xlabel(f"width 60, λ = {short:.3g}")
fig.colorbar(image, ax=axes, shrink=0.8, label="activator u")
plt.show()
for k, kind in enumerate(kinds):
    print(f"{kind:>20}: digits of the six buds {digits_poly[6 * k:6 * k + 6]}")

# %% [markdown]
# A normal bud of 60 cells grows five digits every time. A 15 % shorter wavelength gives
# six digits in all six buds; a 20 % wider bud gives six in three buds and seven in the
# other three (the one drawn has seven, its last one against the wall): the noise decides
# between neighbouring counts, much as the same polydactyly mutation gives different digit
# counts in different limbs (*variable expressivity*). The green
# marks show the runs counted as digits.
#
# ## 5. Explore it yourself
#
# Run the cell below in a live notebook. Release the **bud width** or the **Dv / Du**
# slider and the bud grows again (a few seconds): its skeleton on the left, fingertips at
# the top, and its digit count with the wavelength on the right. **noise seed** regrows
# the same bud from other noise. Things to try: find the widths where the count jumps;
# at a width near such a jump, try several seeds; lower Dv / Du below the critical ratio
# of lesson 01 (8.57) and watch the digits vanish.

# %%
from course_utils import widgets

widgets.LimbBudExplorer(width=60, ratio=20.0)

# %% [markdown]
# ## 6. No local rule knows how many digits the hand has
#
# Look at what each cell does: it reads its own concentrations and those of its four
# neighbours, and applies the same rule as every other cell. Nowhere is there a variable
# "number of digits". In this model the count is an *emergent* property of a local rule
# and a global shape, so any change to either can change it, and nothing in *this* rule
# can notice that six is wrong.
#
# Real limbs are not so defenceless. Local rules *can* make a pattern scale with the size
# of its tissue: in expander-repressor circuits a diffusing molecule reports the tissue's
# size back to the pattern, so the number of elements stays fixed as the tissue grows
# ([Ben-Zvi & Barkai 2010](https://doi.org/10.1073/pnas.0912734107)). In the limb, the
# Shh gradient from the posterior edge and the Hox genes it regulates tune the pattern:
# the dose of distal Hox genes sets the Turing wavelength (Sheth et al. 2012), morphogen
# gradients modulate the Bmp-Sox9-Wnt Turing network that lays out the digits
# (Raspopovic et al. 2014), and Shh also gives the digits their identities. That is why
# the digit count is usually robust and polydactyly follows mutations in exactly these
# signals. What the model
# shows is narrower: a Turing mechanism *alone*, with no such feedback, counts nothing.
#
# Hold this picture for the rest of the course. A convolutional denoiser is also a local
# rule applied everywhere: each output pixel depends on a small window of the noisy image
# (locality) and the same weights are used at every position (equivariance). Lessons 04
# and 05 build the best possible denoiser under exactly those two constraints, the ELS
# machine; lesson 08 builds these machines from a training set of hands that all have five
# fingers, samples a small network trained on the same hands, and counts the fingers they
# draw: the local ones often draw a count other than
# five, and with windows smaller than a palm the ELS machine rarely draws a hand at all.
#
# **Summary**
# - No-flux walls: only neighbours inside the domain exchange material, and the total is
#   conserved.
# - A thin tip zone patterning while the bud grows lays down a skeleton that branches
#   from one element to two and on to five, as a real limb does.
# - The number of digits follows bud width / wavelength: 1, 3 and 5 digits at 1, 3.1 and
#   5.1 wavelengths, more than width / wavelength from about 6 wavelengths on (7 at 6.6,
#   8 at 7.1).
# - A wider bud (a global change) or a shorter wavelength (a local one) gives a sixth (or
#   seventh) digit: polydactyly from one parameter, because no cell of a bare Turing
#   mechanism knows the total (real limbs add size feedback and the Shh/Hox gradients).
#
# **Further reading**
# - R. Sheth et al., *Hox genes regulate digit patterning by controlling the wavelength of a
#   Turing-type mechanism*, Science 338 (2012),
#   [doi:10.1126/science.1226804](https://doi.org/10.1126/science.1226804).
# - J. Raspopovic et al., *Digit patterning is controlled by a Bmp-Sox9-Wnt Turing network
#   modulated by morphogen gradients*, Science 345 (2014),
#   [doi:10.1126/science.1252960](https://doi.org/10.1126/science.1252960).
# - D. Ben-Zvi and N. Barkai, *Scaling of morphogen gradients by an expansion-repression
#   integral feedback control*, PNAS 107 (2010),
#   [doi:10.1073/pnas.0912734107](https://doi.org/10.1073/pnas.0912734107).
#
# **Discussion questions (for seminars)**
# 1. The digit count follows width / wavelength, yet seeds disagree at a few widths. What
#    would a real embryo need so that its count does not depend on noise?
# 2. Which of the two routes to a sixth digit (wider bud, shorter wavelength) would you
#    expect a single mutation to take, and why?
# 3. Our counter needs two rules (no wall slivers, an amplitude floor) to count what the eye
#    counts at once. What does that say about measuring "number of fingers" in generated
#    images (lesson 08)?
# 4. A convolutional denoiser is a local rule too. Which ingredient of section 6 (size
#    feedback, a gradient across the bud) would it need to count fingers right?
#
# **Next.** Lesson 03 leaves biology for diffusion models: the forward process, the
# cosine schedule, the DDIM sampler and the ideal denoiser that can only copy.
# → [03_diffusion.ipynb](03_diffusion.ipynb). The six fingers come back in lesson 08
# ([08_six_fingers.ipynb](08_six_fingers.ipynb)).
