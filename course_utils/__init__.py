"""Local Rules, Creative Machines: the course's helper library.

Modules are named by concept: ``diffusion`` (schedule, noising, DDIM sampler),
``scores`` (the IS / LS / ELS machines), ``turing`` (reaction-diffusion), ``data``,
``models``, ``checkpoints`` (the shipped networks with their data, calibrated patch
sizes and results), ``metrics``, ``plots``, ``grading`` (instant checks) and ``notebooks``
(the lesson generator); the command lines share ``cli`` (runner, flags), ``files``
(atomic writes, sha256) and ``state`` (resumable runs). Every denoiser, machine or network, has one signature:
``denoiser(x, noise_var) -> E[x0 | x]``.
"""

__version__ = "0.1.0"
