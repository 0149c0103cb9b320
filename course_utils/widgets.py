"""Interactive explorers for the lessons (ipywidgets; nothing runs until a user acts).

``GrayScottExplorer`` (lesson 01): F and k sliders, presets, play/pause and a live
pattern. Playing is driven by an ``ipywidgets.Play`` counter that the browser ticks,
so the kernel is never blocked and no thread is started; moving a slider re-simulates
a few hundred steps from the current state so the picture answers at once.

``LimbBudExplorer`` (lesson 02): bud width and diffusion-ratio sliders; releasing one
grows the bud again and shows its skeleton and its digit count.
"""
import io
import math

import ipywidgets as widgets
import matplotlib
import matplotlib.image
import numpy as np
import torch

from . import turing

F_RANGE, K_RANGE, PARAM_STEP = (0.0, 0.08), (0.03, 0.075), 0.001


def field_to_png(field, vmin=0.0, vmax=0.5, cmap="magma"):
    """(H, W) tensor or array -> PNG bytes of the field through ``cmap`` (values clipped to [vmin, vmax])."""
    values = np.asarray(torch.as_tensor(field, dtype=torch.float64))
    if values.ndim != 2:
        raise ValueError(f"field must be 2-D (H, W), got shape {values.shape}")
    if not vmax > vmin:
        raise ValueError(f"need vmax > vmin for the colour scale, got vmin={vmin}, vmax={vmax}")
    scaled = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    rgba = matplotlib.colormaps[cmap](scaled, bytes=True)
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, rgba, format="png", metadata={"Software": None})
    return buffer.getvalue()


class GrayScottExplorer:
    """A live Gray-Scott simulation with its controls; display it (or ``.widget``) in a notebook."""

    def __init__(self, size=128, preset="spots", steps_per_frame=40, steps_on_change=300,
                 warmup=2000, seed=0, display_px=384):
        if preset not in turing.PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(turing.PRESETS)}")
        if not isinstance(size, int) or size < 16:
            raise ValueError(f"size must be an integer >= 16, not {size!r}")
        self.size, self.seed = size, seed
        self.steps_per_frame, self.steps_on_change, self.warmup = steps_per_frame, steps_on_change, warmup
        F, k = turing.PRESETS[preset]
        slider = dict(step=PARAM_STEP, readout_format=".4f", continuous_update=True,
                      layout=widgets.Layout(width="360px"))
        self.F = widgets.FloatSlider(value=F, min=F_RANGE[0], max=F_RANGE[1], description="F", **slider)
        self.k = widgets.FloatSlider(value=k, min=K_RANGE[0], max=K_RANGE[1], description="k", **slider)
        self.preset = widgets.Dropdown(options=list(turing.PRESETS), value=preset, description="preset")
        self.play = widgets.Play(value=0, min=0, max=10**9, step=1, interval=60,
                                 description="play / pause", show_repeat=False)
        self.reseed = widgets.Button(description="reseed", icon="refresh")
        self.status = widgets.Label()
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{display_px}px",
                                                                        height=f"{display_px}px"))
        self._seeds_used, self._quiet = 0, False
        self._restart()
        self.F.observe(self._on_param, names="value")
        self.k.observe(self._on_param, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.play.observe(self._on_tick, names="value")
        self.reseed.on_click(lambda _: self._restart())
        controls = widgets.VBox([self.preset, self.F, self.k,
                                 widgets.HBox([self.play, self.reseed]), self.status])
        self.widget = widgets.HBox([self.image, controls])

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # the widget's own text form embeds PNG bytes; say what a static view lacks instead
        bundle["text/plain"] = "Gray-Scott explorer: run this cell in a live notebook to use it."
        return bundle

    def advance(self, steps):
        """Run ``steps`` Gray-Scott steps at the sliders' (F, k) and redraw."""
        self.u, self.v = turing.gray_scott(self.u, self.v, self.F.value, self.k.value, steps)
        self.steps += steps
        self._draw()

    def _restart(self):
        self.u, self.v = turing.gray_scott_seed(1, self.size, seed=self.seed + self._seeds_used,
                                                patches=max(1, self.size // 16))
        self._seeds_used += 1
        self.steps = 0
        self.advance(self.warmup)

    def _draw(self):
        self.image.value = field_to_png(self.v[0])
        self.status.value = (f"step {self.steps}   F = {self.F.value:.4f}   k = {self.k.value:.4f}")

    def _on_param(self, change):
        if self._quiet:
            return
        # a pattern that has died out cannot respond to new parameters: seed it again
        if float(self.v.amax() - self.v.amin()) < 1e-3:
            self._restart()
        else:
            self.advance(self.steps_on_change)

    def _on_preset(self, change):
        F, k = turing.PRESETS[change["new"]]
        self._quiet = True  # moving the sliders here must not simulate twice
        try:
            self.F.value, self.k.value = F, k
        finally:
            self._quiet = False
        self._restart()

    def _on_tick(self, change):
        self.advance(self.steps_per_frame)


def gray_scott_explorer(**kwargs):
    """A GrayScottExplorer (see its arguments); the last expression of a cell displays it."""
    return GrayScottExplorer(**kwargs)


class LimbBudExplorer:
    """A limb bud grown at the sliders' width and D_v / D_u, with its digit count; display it (or ``.widget``)."""

    def __init__(self, width=60, ratio=20.0, seed=0, rows=100, steps_per_row=100, display_px=300):
        if not isinstance(rows, int) or rows < 2:
            raise ValueError(f"rows must be an integer >= 2, not {rows!r}")
        self.rows, self.steps_per_row = rows, steps_per_row
        slider = dict(continuous_update=False, layout=widgets.Layout(width="360px"))
        self.width = widgets.IntSlider(value=width, min=12, max=90, step=2,
                                       description="bud width", **slider)
        self.ratio = widgets.FloatSlider(value=ratio, min=4.0, max=40.0, step=1.0, readout_format=".0f",
                                         description="Dv / Du", **slider)
        self.seed = widgets.IntSlider(value=seed, min=0, max=9, description="noise seed", **slider)
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{display_px}px", height=f"{display_px}px", object_fit="fill"))
        for control in (self.width, self.ratio, self.seed):
            control.observe(lambda change: self.grow(), names="value")
        self.grow()
        self.widget = widgets.HBox([self.image, widgets.VBox([self.width, self.ratio, self.seed,
                                                              self.status])])

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = "Limb bud explorer: run this cell in a live notebook to use it."
        return bundle

    def grow(self):
        """Grow the bud at the sliders' values; redraw it and its digit count."""
        params = turing.SCHNAKENBERG
        Du = params["Dv"] / self.ratio.value
        record, shape = turing.limb_bud([float(self.width.value)], rows=self.rows,
                                        steps_per_row=self.steps_per_row, seed=self.seed.value, Du=Du)
        self.digits = turing.count_digits(record[0, -1], shape[0, -1], **turing.LIMB_DIGITS)
        # on a canvas as wide as the widest bud, so that the picture shows the width
        canvas = torch.full((self.rows, self.width.max + 4), torch.nan, dtype=torch.float64)
        left = (canvas.shape[1] - record.shape[-1]) // 2
        canvas[:, left:left + record.shape[-1]] = torch.where(shape[0], record[0], torch.nan)
        self.image.value = field_to_png(canvas.flip(0), vmin=0.0, vmax=2.5)  # fingertips on top
        jac = turing.schnakenberg_jacobian(params["a"], params["b"], params["gamma"])
        if turing.turing_unstable(jac, Du, params["Dv"]):
            wavelength = 2 * math.pi / turing.fastest_mode(jac, Du, params["Dv"])[0]
            scale = (f"wavelength {wavelength:.1f} cells; width / wavelength = "
                     f"{self.width.value / wavelength:.2f}")
        else:
            scale = (f"no Turing instability: Dv / Du is below the critical ratio "
                     f"{turing.critical_ratio(jac):.2f}")
        self.status.value = f"<b>{self.digits} digits</b><br>{scale}"
