# %% [markdown]
# # 01 · Local rules: spots and stripes that make themselves
#
# *Local Rules, Creative Machines* — lesson 01 of 10.
#
# In 1952 Alan Turing asked how a ball of identical cells can grow a pattern: the spots
# of a leopard, the stripes of a zebrafish, the five digits of a hand. His answer needs
# no blueprint. Two chemicals react and diffuse; every cell follows the **same rule**,
# and that rule looks only at the cell and its **immediate neighbours**. Out of a
# uniform grey, spots and stripes appear by themselves.
#
# Keep those two words in mind, *same rule* and *immediate neighbours*. A convolutional
# network obeys exactly these two constraints (translation equivariance and locality),
# and Kamb & Ganguli (ICML 2025) argue that they are what makes diffusion models creative;
# lessons 04-05 build the best denoisers under these two constraints and measure what
# they make.
#
# **Learning goals.** After this lesson you can
# 1. discretise diffusion with the 5-point Laplacian and step a reaction-diffusion
#    system with explicit Euler, knowing the step size beyond which it blows up;
# 2. simulate the Gray-Scott model and explore its spots, stripes and labyrinths live;
# 3. derive Turing's instability: linearise, compute the dispersion relation, predict the
#    pattern's wavelength, and check the prediction against a simulation;
# 4. map the $(F, k)$ plane of Gray-Scott into uniform, spots, stripes and mixed regions.
#
# Exercises have an instant check. Solve them in place: replace
# `raise NotImplementedError()` with your code and run the check cell below. If you skip
# one, the lesson still runs: it goes on with the course library's own version.

# %%
# %matplotlib inline
import inspect
import math

import matplotlib.pyplot as plt
import torch

from course_utils import turing
from course_utils.grading import use_passing

# %% [markdown]
# ## 1. Diffusion on a grid
#
# A chemical with concentration $u(x, y, t)$ that diffuses obeys
# $\partial_t u = D\,\nabla^2 u$. On a grid of cells with spacing 1, the Laplacian
# $\nabla^2 u$ at a cell is approximated by its four neighbours:
#
# $$\nabla^2 u_{i,j} \approx u_{i-1,j} + u_{i+1,j} + u_{i,j-1} + u_{i,j+1} - 4\,u_{i,j}.$$
#
# It is positive where a cell holds less than its neighbours (stuff flows in) and
# negative where it holds more. We make the grid **periodic**: the right neighbour of the
# last column is the first column, so the grid is a torus without edges.
#
# **Exercise 1** (about 10 min, easy).
# Write `laplacian(u)` for a batch of grids `u` of shape `(B, H, W)`.
# `torch.roll(u, shifts=1, dims=-1)` moves every column one step to the right and wraps
# the last one around to the front: exactly a periodic neighbour.

# %%
def laplacian(u):
    """(B, H, W) -> (B, H, W) periodic 5-point Laplacian."""
    ### BEGIN SOLUTION
    neighbours = sum(torch.roll(u, shift, dim) for shift in (1, -1) for dim in (-2, -1))
    return neighbours - 4 * u
    ### END SOLUTION


# %%
from course_utils.grading import check
check("01.laplacian", laplacian)

# %% [markdown]
# From here on the lesson uses your `laplacian` once its check has passed, else the
# library's `turing.laplacian` (the cell says which). One explicit Euler step of pure
# diffusion is $u \leftarrow u + \Delta t\, D\, \nabla^2 u$. How large may $\Delta t$ be?
# Take the most jagged pattern a grid can hold, a checkerboard of $\pm 1$: its Laplacian
# is $-8u$, so each step multiplies it by $1 - 8 D \Delta t$. For
# $\Delta t > 1/(4D)$ that factor is below $-1$ and the checkerboard grows, flipping sign
# every step, until the numbers overflow. The simulators of this course refuse such a step:

# %%
grid_laplacian = use_passing("01.laplacian", laplacian, turing.laplacian)
board = torch.tensor([[(-1.0) ** (i + j) for j in range(8)] for i in range(8)])[None]
D = 0.16
for dt in (1.5, 1.6):
    x = board.clone()
    for _ in range(100):
        x = x + dt * D * grid_laplacian(x)
    print(f"dt = {dt}: factor per step 1 - 8 D dt = {1 - 8 * D * dt:+.3f}, "
          f"checkerboard after 100 steps: {x.abs().max().item():.3g}")

u, v = turing.gray_scott_seed(1, 32)
try:
    turing.gray_scott(u, v, F=0.03, k=0.062, steps=10, dt=1.6)
except ValueError as err:
    print(f"\nValueError: {err}")

# %% [markdown]
# ## 2. The Gray-Scott model
#
# Two chemicals: a substrate $u$, fed into every cell at rate $F$, and an activator $v$
# that turns $u$ into more of itself ($u + 2v \to 3v$) and is removed at rate $F + k$:
#
# $$\partial_t u = D_u \nabla^2 u - u v^2 + F\,(1 - u), \qquad
#   \partial_t v = D_v \nabla^2 v + u v^2 - (F + k)\, v .$$
#
# The activator diffuses half as fast as the substrate ($D_u = 0.16$, $D_v = 0.08$, the
# library's `turing.GS_DU` and `turing.GS_DV`, printed with the runs below).
# A blob of $v$ eats the $u$ around it; where $u$ runs short the blob cannot grow, so it
# stops, or splits, or creeps along the edge of its own food shadow. That is all.
#
# **Exercise 2** (about 10 min, easy).
# Write one explicit Euler step `gray_scott_step(u, v, F, k, dt)` (use the
# library's `turing.laplacian`). Both updates must use the *old* $u$ and $v$.

# %%
def gray_scott_step(u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV):
    """(B, H, W) u, v -> (B, H, W) u, v after one explicit Euler step of Gray-Scott."""
    ### BEGIN SOLUTION
    reaction = u * v ** 2
    new_u = u + dt * (Du * turing.laplacian(u) - reaction + F * (1 - u))
    new_v = v + dt * (Dv * turing.laplacian(v) + reaction - (F + k) * v)
    return new_u, new_v
    ### END SOLUTION


# %%
from course_utils.grading import check
check("01.gray_scott_step", gray_scott_step)

# %% [markdown]
# The library's `turing.gray_scott(u, v, F, k, steps)` runs the same update in a loop that
# allocates nothing, on a whole batch of grids at once, each with its own $F$ and $k$
# (`benchmarks/bench_turing.py` measures it against a plain numpy loop). We start every
# grid from $u = 1, v = 0$ with a few square seeds of activator, and let four parameter
# pairs from Pearson's map run for 6,000 steps.
#
# **Predict.** The four rows differ only in two numbers, $F$ and $k$, which differ by
# less than 0.03. Will their end states look alike?

# %%
names = list(turing.PRESETS)
print(f"D_u = {turing.GS_DU}, D_v = {turing.GS_DV}, time step dt = {turing.GS_DT}")
F = torch.tensor([turing.PRESETS[name][0] for name in names])
k = torch.tensor([turing.PRESETS[name][1] for name in names])
u, v = turing.gray_scott_seed(len(names), 128, seed=0, patches=12)
snapshots = []
for steps in (0, 500, 1500, 4000):
    u, v = turing.gray_scott(u, v, F, k, steps)
    snapshots.append(v.clone())

fig, axes = plt.subplots(len(names), len(snapshots), figsize=(9, 9.4))
elapsed = 0
for col, (steps, frame) in enumerate(zip((0, 500, 1500, 4000), snapshots)):
    elapsed += steps
    for row, name in enumerate(names):
        image = axes[row, col].imshow(frame[row], cmap="magma", vmin=0, vmax=0.45)
        axes[row, col].set(xticks=[], yticks=[])
        if row == 0:
            axes[row, col].set_title(f"step {elapsed:,}")
        if col == 0:
            axes[row, col].set_ylabel(f"{name}\nF={F[row]:.4f}, k={k[row]:.4f}", fontsize=9)
fig.suptitle("Gray-Scott: one local rule, four parameter pairs (activator v, 128 x 128 cells)")
plt.tight_layout()
fig.colorbar(image, ax=axes, shrink=0.5, label="activator v")
plt.show()
print("pattern wavelength after 6,000 steps (peak of the Fourier spectrum of v, section 4): "
      + ", ".join(f"{name} {turing.dominant_wavelength(field):.3g} cells" for name, field in zip(names, v)))
spots = v[names.index("spots")]
on = spots > (spots.min() + spots.max()) / 2  # thresholded as section 5 does
spot_sizes = torch.bincount(turing.label_components(on[None], connectivity=4, wrap=True)[0][on])
spot_sizes = spot_sizes[spot_sizes > 0]
print(f"the spots preset: {len(spot_sizes)} spots of {spot_sizes.min()} to {spot_sizes.max()} cells "
      f"(median {spot_sizes.median()})")

# %% [markdown]
# Four different end states from one rule: isolated spots; stripes that join into a
# labyrinth; the negative of spots, holes in a sea of activator; and worms, isolated
# stripes with round ends on an empty grid. Nothing in the rule mentions spots, stripes
# or their spacing. Each cell only looks at four neighbours, yet the patterns that fill
# the grid have a clear length scale: the peak of the Fourier spectrum of spots, stripes
# and holes (printed) lies at a wavelength of 11.5 to 12.2 cells. The worms have not
# filled the grid by step 6,000; their peak, at 14.4 cells, is not yet a pattern spacing:
# the grid is still mostly empty.
#
# **Careful: most of these are not Turing patterns.** A Turing pattern grows out of
# *tiny* noise on a uniform state that is stable on its own and that diffusion
# destabilises (section 4). Gray-Scott's uniform states solve $u v^2 = F(1 - u)$ and
# $u v^2 = (F + k) v$: the empty state $(u, v) = (1, 0)$ always, and two states with
# $v > 0$ only if $F \ge 4 (F + k)^2$. At $(1, 0)$ the reaction terms' Jacobian is
# $\operatorname{diag}(-F, -(F + k))$: diffusion only adds $-D q^2$ to it, so the empty
# state is stable at **every** wavenumber. The cell below lists, for each preset, the
# uniform states with $v > 0$, whether each is stable without diffusion, and whether
# diffusion destabilises it (Turing's conditions of section 4):

# %%
def gray_scott_uniform_states(F, k):
    """Floats F, k -> list of the uniform states (u, v) with v > 0 (empty when F < 4(F+k)^2)."""
    discriminant = F ** 2 - 4 * F * (F + k) ** 2
    if discriminant < 0:
        return []
    roots = [(F + sign * discriminant ** 0.5) / (2 * (F + k)) for sign in (1, -1)]
    return [((F + k) / v, v) for v in roots]


def gray_scott_jacobian(u, v, F, k):
    """Uniform state (u, v) -> (2, 2) Jacobian of the Gray-Scott reaction terms."""
    return torch.tensor([[-v ** 2 - F, -2 * u * v], [v ** 2, 2 * u * v - (F + k)]],
                        dtype=torch.float64)


def stable_without_diffusion(jac):
    """(2, 2) Jacobian -> whether both eigenvalues have negative real parts (tr < 0, det > 0)."""
    return bool(jac.trace() < 0 and torch.linalg.det(jac) > 0)


for name, (F_, k_) in turing.PRESETS.items():
    states = gray_scott_uniform_states(F_, k_)
    print(f"{name:8s} F = {F_:.4f}, 4(F+k)^2 = {4 * (F_ + k_) ** 2:.4f}: "
          f"{len(states)} uniform states with v > 0")
    for state in states:
        state_jac = gray_scott_jacobian(*state, F_, k_)
        eigenvalues = ", ".join(f"{z.real:+.4f}{z.imag:+.4f}i" for z in torch.linalg.eigvals(state_jac))
        print(f"         (u, v) = ({state[0]:.3f}, {state[1]:.3f}): eigenvalues {eigenvalues}; "
              f"stable without diffusion {stable_without_diffusion(state_jac)}, Turing-unstable "
              f"{turing.turing_unstable(state_jac, 0.16, 0.08)}")

# %% [markdown]
# *Spots* and *worms* have $F < 4(F + k)^2$: the empty state is their only uniform
# state, and it is stable. *Holes* has two uniform states with $v > 0$, but neither is
# stable even without diffusion (one has a positive and a negative real eigenvalue, a
# saddle; the other a complex pair with positive real part, so it oscillates away), and
# there is no stable state for diffusion to destabilise. Only *stripes* has a uniform state that
# is stable on its own and Turing-unstable. The other three patterns need the *finite*
# seeds we planted and are sustained by the nonlinearity: they are *excitable* patterns,
# as [Pearson 1993](https://doi.org/10.1126/science.261.5118.189) found when he mapped
# them. They are local rules all the same, and section 5 marks on a map which $(F, k)$
# pairs are which. Where does the length scale come from when the pattern *is* a Turing
# pattern? Section 4 answers that, in a cleaner model.
#
# ## 3. Explore it yourself
#
# Run the cell below in a live notebook. Drag the **F** and **k** sliders (or use the arrow
# keys on a slider): the pattern re-simulates a few hundred steps from its current state
# at once. **Play** keeps it evolving, the dropdown loads a preset, **reseed** starts over.
# Things to try: from *spots*, lower $k$ slowly until the spots stretch into worms; set
# $F = 0.0367$, $k = 0.0649$ and watch spots grow and split in two, again and again
# (Pearson's "mitosis"); find a pair where everything dies out (the explorer reseeds a
# dead grid when you move a slider).

# %%
from course_utils import widgets

widgets.GrayScottExplorer(size=128, preset="spots")

# %% [markdown]
# ## 4. Turing's instability: where the wavelength comes from
#
# Turing's insight ([Turing 1952](https://doi.org/10.1098/rstb.1952.0012)): diffusion,
# which smooths everything out on its own, can *destabilise* a uniform state when two
# chemicals diffuse at different speeds. The cleanest place to see it is a textbook
# **activator-substrate** (or *depletion*) model, **Schnakenberg's**:
#
# $$\partial_t u = D_u \nabla^2 u + \gamma\,(a - u + u^2 v), \qquad
#   \partial_t v = D_v \nabla^2 v + \gamma\,(b - u^2 v).$$
#
# $u$ activates itself ($u^2 v$) by consuming the substrate $v$; where $u$ grows it
# depletes $v$ around it, and $v$ diffuses much faster ($D_v / D_u = 20$), so a peak of
# $u$ starves its surroundings. (In an activator-*inhibitor* model the activator would
# instead produce its own inhibitor; both kinds make Turing patterns.) The uniform state $u^* = a + b$,
# $v^* = b/(a + b)^2$ balances both reactions.
#
# **Linearise.** Write $u = u^* + \delta u$, $v = v^* + \delta v$ and keep first-order
# terms. The perturbation obeys $\partial_t (\delta u, \delta v) = J\,(\delta u, \delta v) +
# \operatorname{diag}(D_u, D_v)\,\nabla^2(\delta u, \delta v)$ with $J$ the Jacobian of
# the reactions at the uniform state. A wave $e^{i q \cdot x}$ is an eigenfunction of
# $\nabla^2$ with eigenvalue $-q^2$, so each wavenumber $q$ evolves on its own:
#
# $$\frac{d}{dt}\begin{pmatrix}\delta u_q\\ \delta v_q\end{pmatrix}
#   = \big(J - q^2 \operatorname{diag}(D_u, D_v)\big)
#     \begin{pmatrix}\delta u_q\\ \delta v_q\end{pmatrix}.$$
#
# Its growth rate $\sigma(q)$, the largest real part of the eigenvalues of
# $A(q) = J - q^2 \operatorname{diag}(D_u, D_v)$, is the **dispersion relation**. Without
# diffusion ($q = 0$) the state is stable, $\sigma(0) < 0$. If a band of $q$ has
# $\sigma(q) > 0$, those waves grow out of any tiny noise: a pattern is born, and the
# fastest-growing $q^*$ sets its wavelength $\lambda = 2\pi / q^*$.
#
# **Turing's conditions.** Write $J = \begin{pmatrix} f_u & f_v \\ g_u & g_v\end{pmatrix}$.
# Stable without diffusion means $\operatorname{tr} J = f_u + g_v < 0$ and $\det J > 0$.
# Diffusion only lowers the trace of $A(q)$, so an instability must come from
# $\det A(q) = D_u D_v q^4 - (D_v f_u + D_u g_v)\, q^2 + \det J$ turning negative at
# some $q^2 > 0$. That happens exactly when
#
# $$D_v f_u + D_u g_v > 2\sqrt{D_u D_v \det J},$$
#
# which needs one self-enhancing species ($f_u > 0$ here) that diffuses more slowly than
# the other. With $f_u > 0 > g_v$ the ratio $d = D_v / D_u$ must exceed a **critical
# ratio** $d_c$ (Exercise 4 finds it).
#
# **Exercise 3** (about 15 min, medium).
# Write `growth_rate(q2, jac, Du, Dv)`: for each squared wavenumber in the
# tensor `q2` return $\sigma$. For a $2 \times 2$ matrix the eigenvalues are
# $\tfrac12\big(\operatorname{tr} A \pm \sqrt{\operatorname{tr}^2 A - 4 \det A}\big)$; when
# the square root is imaginary both have real part $\tfrac12 \operatorname{tr} A$.

# %%
def growth_rate(q2, jac, Du, Dv):
    """(Q,) squared wavenumbers, (2, 2) Jacobian -> (Q,) growth rates sigma(q)."""
    ### BEGIN SOLUTION
    d11 = jac[0, 0] - Du * q2
    d22 = jac[1, 1] - Dv * q2
    tr = d11 + d22
    discriminant = tr ** 2 - 4 * (d11 * d22 - jac[0, 1] * jac[1, 0])
    return (tr + torch.sqrt(torch.clamp(discriminant, min=0))) / 2
    ### END SOLUTION


# %%
from course_utils.grading import check
check("01.growth_rate", growth_rate)

# %% [markdown]
# **Exercise 4** (about 15 min, medium). How much faster must the substrate diffuse? Write
# `critical_ratio(jac)`: for a $2 \times 2$ Jacobian `jac` with $f_u > 0 > g_v$ that is
# stable without diffusion, return the float $d_c$, the smallest $d = D_v / D_u$ at which
# Turing's condition above holds. Only the ratio matters: divide the condition by $D_u$
# and ask where it turns from false to true. Careful: the condition has a square root on
# one side, and getting rid of it can add a solution that is not one.

# %%
def critical_ratio(jac):
    """(2, 2) Jacobian with f_u > 0 > g_v -> float d_c, the smallest unstable D_v / D_u."""
    ### BEGIN SOLUTION
    fu, fv, gu, gv = jac.flatten().tolist()
    det = torch.linalg.det(jac).item()
    # (d fu + gv)^2 = 4 d det  <=>  fu^2 d^2 + (2 fu gv - 4 det) d + gv^2 = 0; the larger
    # root is the one with d fu + gv > 0
    b = 2 * fu * gv - 4 * det
    return (-b + (b * b - 4 * fu ** 2 * gv ** 2) ** 0.5) / (2 * fu ** 2)
    ### END SOLUTION


# %%
from course_utils.grading import check
check("01.critical_ratio", critical_ratio)

# %% [markdown]
# With your `growth_rate` and `critical_ratio` once their checks have passed (else the
# library's `turing.growth_rate` and `turing.critical_ratio`; the cell says which), the
# parameters the course uses (`turing.SCHNAKENBERG`, printed first):
#
# **Predict.** The course runs with $D_v / D_u = 20$. Is that far above $d_c$, or only
# just?

# %%
rate_curve = use_passing("01.growth_rate", growth_rate, turing.growth_rate)
ratio_needed = use_passing("01.critical_ratio", critical_ratio, turing.critical_ratio)
p = turing.SCHNAKENBERG
jac = turing.schnakenberg_jacobian(p["a"], p["b"], p["gamma"])
(fu, fv), (gu, gv) = jac.tolist()
det_J = fu * gv - fv * gu
critical = ratio_needed(jac)
print("turing.SCHNAKENBERG:", p)
print(f"Jacobian: f_u = {fu:.4f}, f_v = {fv:.4f}, g_u = {gu:.4f}, g_v = {gv:.4f}; "
      f"tr = {fu + gv:.4f}, det = {det_J:.2e}")
print(f"critical diffusion ratio d_c = D_v / D_u = {critical:.2f}; "
      f"the course uses {p['Dv'] / p['Du']:.0f} = {p['Dv'] / p['Du'] / critical:.1f} d_c")
for ratio in (0.99 * critical, 1.01 * critical):
    print(f"  D_v / D_u = {ratio:.2f}: Turing-unstable {turing.turing_unstable(jac, p['Dv'] / ratio, p['Dv'])}")

# %% [markdown]
# The course's ratio is a little over twice critical, and 1 % on either side of $d_c$
# decides. Below, with the substrate only 5 times faster (below $d_c$) nothing grows; at
# 10, just above $d_c$, a narrow band grows slowly; at 20 a clear band of wavenumbers
# turns unstable.

# %%
q = torch.linspace(0, 1.2, 400, dtype=torch.float64)
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for Du, style in ((0.2, ":"), (0.1, "--"), (p["Du"], "-")):
    ratio = p["Dv"] / Du
    ax.plot(q, rate_curve(q ** 2, jac, Du, p["Dv"]), style,
            label=f"$D_v/D_u$ = {ratio:.0f}" + ("  (Turing unstable)"
                                                 if turing.turing_unstable(jac, Du, p["Dv"]) else ""))
q_star, sigma_star = turing.fastest_mode(jac, p["Du"], p["Dv"])
predicted = 2 * math.pi / q_star
ax.axhline(0, color="k", lw=0.6)
ax.plot([q_star], [sigma_star], "o", color="C3")
ax.annotate(f"fastest: q* = {q_star:.3f}\nλ = 2π/q* = {predicted:.3g} cells",
            (q_star, sigma_star), xytext=(0.75, 0.018), fontsize=9,
            arrowprops=dict(arrowstyle="->", lw=0.8))
ax.set(xlabel="wavenumber q (radians per cell)", ylabel="growth rate σ(q)",
       ylim=(-0.07, 0.035), title="dispersion relation of the Schnakenberg model")
ax.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()
print(f"predicted wavelength: {predicted:.3g} cells (growth rate {sigma_star:.3g} per unit time)")

# %% [markdown]
# **The cusp.** At small $q$ the two eigenvalues of $A(q)$ are complex
# ($\operatorname{tr}^2 A < 4 \det A$): perturbations oscillate while they decay, and
# both eigenvalues share the real part $\tfrac12 \operatorname{tr} A$, which falls in a
# straight line in $q^2$. Where $\det A(q)$ has dropped to $\tfrac14 \operatorname{tr}^2 A$
# the eigenvalues meet and become real; from there one of them moves up and the other
# down, so $\sigma(q)$ turns sharply upward: the kink in each curve. Only the real branch
# can cross zero, because only $\det A < 0$ can make an eigenvalue positive here.

# %% [markdown]
# **Test the prediction.** Start from the uniform state plus 1 % noise on a periodic
# $128 \times 128$ grid ($\Delta t = 0.2$, just under the stability limit
# $1/(4 D_v) = 0.25$; the noise, $\Delta t$ and the limit are printed below). After 2,500
# steps the pattern has nearly its full amplitude (its standard deviation is 91 % of that
# at 5,000 steps); we keep going to
# 5,000 to see what happens next. Then we measure the
# wavelength the pattern actually has: take its 2-D Fourier transform, add up the power on
# rings of equal $|q|$, and take the power-weighted mean of the rings around the peak
# (`turing.dominant_wavelength`).

# %%
u, v = turing.turing_seed(1, 128, seed=0)
u_born, v_born = turing.schnakenberg(u, v, 2500)
u_late, _ = turing.schnakenberg(u_born, v_born, 2500)
measured = {"2,500": turing.dominant_wavelength(u_born[0]),
            "5,000": turing.dominant_wavelength(u_late[0])}
seed_noise = inspect.signature(turing.turing_seed).parameters["noise"].default
step = inspect.signature(turing.schnakenberg).parameters["dt"].default
print(f"seed noise (turing.turing_seed): {100 * seed_noise:.0f} %;  dt (turing.schnakenberg): "
      f"{step};  stability limit 1/(4 D_v) = {turing.max_stable_dt(p['Dv']):.2f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
u_low = min(u_born.min(), u_late.min()).item()  # one colour scale, so amplitudes compare
u_high = max(u_born.max(), u_late.max()).item()
for ax, field, when in zip(axes, (u_born, u_late), measured):
    image = ax.imshow(field[0], cmap="magma", vmin=u_low, vmax=u_high)
    ax.set(xticks=[], yticks=[], title=f"activator u after {when} steps")
bar = fig.colorbar(image, ax=axes[:2], shrink=0.8, label="activator u")
bar.ax.yaxis.set_label_position("left")  # away from the spectrum's y-label
rings = torch.arange(1, 30)
q_rings = 2 * math.pi * rings / 128
for field, when, color in ((u_born, "2,500", "C0"), (u_late, "5,000", "C2")):
    spectrum = turing.radial_spectrum(field[0])
    axes[2].plot(q_rings, spectrum[1:30] / spectrum.max(), "o-", ms=3, color=color,
                 label=f"after {when} steps")
axes[2].axvline(q_star, color="C3", label=f"predicted q* = {q_star:.3f}")
axes[2].set(xlabel="wavenumber |q| of the Fourier ring (radians per cell)",
            ylabel="relative power", title="Fourier spectrum of the pattern")
axes[2].legend(fontsize=8)
plt.show()
print(f"pattern amplitude (standard deviation of u) after 2,500 steps: "
      f"{100 * (u_born.std() / u_late.std()).item():.0f} % of that after 5,000")
for when, wavelength in measured.items():
    print(f"after {when} steps: measured λ = {wavelength:.3g} cells, predicted {predicted:.3g}, "
          f"difference {100 * abs(wavelength - predicted) / predicted:.2g} %")
# on the grid a wave along an axis sees 4 sin^2(q/2) instead of q^2: the fastest one has
# 4 sin^2(q/2) = q*^2
on_grid = 2 * math.pi / (2 * math.asin(q_star / 2))
born = measured["2,500"]
print(f"grid-corrected prediction (a wave along a grid axis): λ = {on_grid:.3g} cells, "
      f"{100 * (predicted - on_grid) / predicted:.2g} % below {predicted:.3g}; the measured "
      f"{born:.3g} differs from it by {100 * abs(born - on_grid) / on_grid:.2g} %")
ring_step = 2 * math.pi / 128
print(f"spacing of the Fourier rings: 2π/128 = {ring_step:.3f} radians per cell, "
      f"{100 * ring_step / q_star:.2g} % of q*")

# %% [markdown]
# A two-line linear calculation predicts the spacing of a nonlinear pattern to within a
# few per cent at the moment the pattern is born. Part of the gap is the grid: on it the
# Laplacian of a wave is $-4\sin^2(q/2)$ per direction rather than $-q^2$, which for a wave
# along a grid axis shortens the predicted wavelength to 11.6 cells, by 1.2 % (printed):
# 1.2 of the 4.1 per cent of the gap. The remaining 2.9 % is smaller than the spacing of
# the Fourier rings (9.2 % of $q^*$ on a 128-cell grid), the scale at which this
# measurement, a power-weighted mean of the rings near the peak, starts to blur; this
# lesson does not split it further. Afterwards the
# spots keep rearranging and pack a little more tightly, a nonlinear effect that linear
# theory cannot see. Either way the predicted scale is set by the *ratio of diffusion to
# reaction*: the size of the grid appears nowhere in $\sigma(q)$. Lesson 02 builds a hand
# on exactly this fact, and widens its domain to count how many wavelengths fit.
#
# ## 5. A phase diagram of Gray-Scott
#
# Which pattern does each $(F, k)$ pair make? We run 143 grids of $48 \times 48$ in one
# batch, one $(F, k)$ pair each, for 4,000 steps, and classify each final activator
# field with a simple measure (`turing.pattern_class`, its thresholds printed under the
# map):
#
# * **uniform** if $\max v - \min v < 0.05$ (the pattern died or never formed);
# * otherwise threshold $v$ halfway between its min and max and find the connected blobs
#   (on the torus). A blob smaller than 80 cells is a *spot* (the spots of the *spots*
#   preset cover 30 to 43 cells, printed in section 2); larger blobs are stripes, worms
#   or labyrinths. **spots** if at least
#   80 % of the blob area is in spots, **stripes** if at most 20 % is, **mixed** between.
#   (A field of holes counts as stripes: its bright phase is one connected network.)

# %%
F_values = torch.linspace(0.01, 0.07, 13)
k_values = torch.linspace(0.045, 0.07, 11)
FF, KK = torch.meshgrid(F_values, k_values, indexing="ij")
u, v = turing.gray_scott_seed(FF.numel(), 48, seed=1, patches=6, patch=6)
u, v = turing.gray_scott(u, v, FF.flatten(), KK.flatten(), 4000)
classes = turing.pattern_class(v).reshape(FF.shape)

def turing_region(F, k, Du=0.16, Dv=0.08):
    """(...) F, k -> (...) bool: a uniform state with v > 0 exists and meets Turing's conditions."""
    discriminant = F ** 2 - 4 * F * (F + k) ** 2
    v = (F + discriminant.clamp(min=0).sqrt()) / (2 * (F + k))  # the other state is a saddle
    u = (F + k) / v
    fu, fv, gu, gv = -v ** 2 - F, -2 * u * v, v ** 2, 2 * u * v - (F + k)
    det = fu * gv - fv * gu
    return ((discriminant >= 0) & (fu + gv < 0) & (det > 0)
            & (Dv * fu + Du * gv > 2 * (Du * Dv * det.clamp(min=0)).sqrt()))


colors = {"uniform": "0.75", "spots": "C1", "stripes": "C0", "mixed": "C2"}
fig, ax = plt.subplots(figsize=(9, 9.5))
for i in range(len(F_values)):
    for j in range(len(k_values)):
        name = turing.PATTERN_CLASSES[classes[i, j]]
        extent = (k_values[j] - 0.00115, k_values[j] + 0.00115,
                  F_values[i] - 0.00225, F_values[i] + 0.00225)
        image = ax.imshow(v[i * len(k_values) + j], cmap="magma", vmin=0, vmax=0.45,
                          extent=extent)
        ax.add_patch(plt.Rectangle((extent[0], extent[2]), extent[1] - extent[0],
                                   extent[3] - extent[2], fill=False, lw=3, color=colors[name]))
for name, color in colors.items():
    ax.plot([], [], "s", color=color, label=name, markersize=10)
fine_F, fine_k = torch.meshgrid(torch.linspace(0.0065, 0.0735, 400, dtype=torch.float64),
                                torch.linspace(0.0435, 0.0715, 400, dtype=torch.float64),
                                indexing="ij")
in_turing_region = turing_region(fine_F, fine_k)
with plt.rc_context({"hatch.color": "w"}):
    ax.contourf(fine_k.numpy(), fine_F.numpy(), in_turing_region.double().numpy(),
                levels=[0.5, 1.5], colors="none", hatches=["////"])
ax.contour(fine_k.numpy(), fine_F.numpy(), in_turing_region.double().numpy(), levels=[0.5],
           colors="w", linewidths=1.5)
ax.add_patch(plt.Rectangle((0, 0), 0, 0, facecolor="0.3", edgecolor="w", hatch="////",
                           label="Turing-unstable uniform state"))
F_curve = torch.linspace(0.0065, 0.0735, 200)
ax.plot((F_curve.sqrt() / 2 - F_curve).tolist(), F_curve.tolist(), "w--", lw=1.5,
        label="$F = 4(F+k)^2$")
label_offsets = {"stripes": (12, -4)}  # right of the hatched strip
for name, (F_, k_) in turing.PRESETS.items():
    ax.plot(k_, F_, "*", color="w", mec="k", ms=16)
    ax.annotate(name, (k_, F_), xytext=label_offsets.get(name, (6, 6)),
                textcoords="offset points", color="w", fontsize=10, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "0.2", "edgecolor": "none",
                      "alpha": 0.8})
ax.set(xlim=(0.0435, 0.0715), ylim=(0.0065, 0.0735), aspect="auto", xlabel="kill rate k",
       ylabel="feed rate F", title="Gray-Scott after 4,000 steps: the pattern of each (F, k)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=6, fontsize=9,  # below the panels
          facecolor="0.25", framealpha=1, labelcolor="w")  # dark, so the white lines show
fig.colorbar(image, ax=ax, shrink=0.6, pad=0.02, label="activator v (each square's final field)")
plt.tight_layout()
plt.show()
thresholds = {name: parameter.default for name, parameter
              in inspect.signature(turing.pattern_class).parameters.items() if name != "v"}
print("turing.pattern_class thresholds:", thresholds)
counts = torch.bincount(classes.flatten(), minlength=4).tolist()
print("grids per class: " + ", ".join(f"{n} {c}" for n, c in zip(turing.PATTERN_CLASSES, counts)))
preset_F, preset_k = torch.tensor(list(turing.PRESETS.values()), dtype=torch.float64).T
print("Turing region (the conditions above), presets: "
      + ", ".join(f"{name} {bool(inside)}" for name, inside
                  in zip(turing.PRESETS, turing_region(preset_F, preset_k))))
print(f"share of the plotted (F, k) plane in the Turing region: "
      f"{100 * in_turing_region.double().mean().item():.1f} %")

# %% [markdown]
# Patterns live in a narrow diagonal band. Left of it (low kill) the activator takes over
# the whole grid: uniform, but not empty (the coloured squares; the colour bar reads their
# $v$). Right of it (high kill),
# and at very low feed, every seed dies (black). Along the band, moving to higher $k$
# turns labyrinths and stripes into worms and then isolated spots. A tiny change of one
# *local* rate re-organises the *global* picture. Only left of the dashed curve
# $F = 4(F+k)^2$ do uniform states with $v > 0$ exist, and only in the thin hatched strip
# along it does diffusion destabilise one (Turing's mechanism); everywhere else the patterns grow from
# the finite seeds, as [Pearson 1993](https://doi.org/10.1126/science.261.5118.189)
# ([arXiv patt-sol/9304003](https://arxiv.org/abs/patt-sol/9304003)) found when he first
# mapped this plane. Of the four presets (stars) only *stripes* lies in a Turing region.
# *Holes* sits on the edge of the region where the activator takes over: on this coarse
# map its neighbours are uniform squares and stripes, so the holes of the presets figure
# live in a thin strip between the two.
#
# **Summary**
# - A local rule: each cell sees its four neighbours through the 5-point Laplacian and
#   reacts; explicit Euler is stable only for $\Delta t \le \Delta x^2 / (4 D)$.
# - Gray-Scott turns a uniform state and a few seeds into spots, stripes, holes and
#   worms, depending only on $(F, k)$; of the four presets only the stripes grow from
#   Turing's instability, the others from finite seeds (Pearson 1993).
# - Turing's instability: linearising gives a growth rate $\sigma(q)$ per wavenumber; with
#   a fast-diffusing substrate ($D_v / D_u$ above the critical ratio $d_c$, 8.57 for the
#   course's Schnakenberg kinetics) a band of $q$ grows, and $2\pi/q^*$ predicted the
#   wavelength of the newborn pattern to within a few per cent.
# - The predicted scale comes from the rule: the size of the domain does not enter
#   $\sigma(q)$.
#
# **Further reading**
# - A. M. Turing, *The chemical basis of morphogenesis*, Phil. Trans. R. Soc. B 237 (1952),
#   [doi:10.1098/rstb.1952.0012](https://doi.org/10.1098/rstb.1952.0012).
# - J. E. Pearson, *Complex patterns in a simple system*, Science 261 (1993),
#   [doi:10.1126/science.261.5118.189](https://doi.org/10.1126/science.261.5118.189),
#   [arXiv:patt-sol/9304003](https://arxiv.org/abs/patt-sol/9304003).
# - J. D. Murray, *Mathematical Biology II* (Springer, 3rd ed. 2003), chapter 2: Turing's
#   conditions and dispersion relations in detail.
#
# **Discussion questions (for seminars)**
# 1. Turing's instability needs the self-enhancing species to diffuse more slowly. Explain
#    in words, without equations, why equal diffusion constants can never destabilise a
#    stable uniform state.
# 2. Spots, holes and worms grow from finite seeds, not from noise. Design an experiment
#    with the simulator that tells the two mechanisms apart.
# 3. The measured wavelength drifted between 2,500 and 5,000 steps. Which prediction of
#    linear theory should one trust, and for how long?
# 4. A convolutional layer is also "the same local rule everywhere". What plays the role
#    of $F$ and $k$ in a network, and what plays the role of the seeds?
#
# **Next.** Lesson 02 grows a limb bud whose Turing pattern lays out the digits, and shows
# how a wider bud or a changed diffusion ratio adds a sixth finger: no cell knows how many
# fingers the hand has. → [02_morphogenesis.ipynb](02_morphogenesis.ipynb).
# Gray-Scott patterns come back as data in lesson 09: one of its exercises trains a
# circular ResNet on Gray-Scott textures (`course_utils.data.load_dataset("textures")`)
# and compares its samples with the ELS machine's.
