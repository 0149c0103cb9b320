"""Every exercise's visible check, tried as learners would: realistic wrong answers are rejected
with a message that names the mistake, differently written right answers pass, and nothing
crashes ``check``. Answers are marked as notebook functions (``__module__ == "__main__"``),
as they are when a learner defines them in a notebook cell."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import metrics, turing
from course_utils.grading import check, core, list_exercises


def notebook(fn):
    """``fn`` as if defined in a notebook cell."""
    fn.__module__ = "__main__"
    return fn


# -- 00 -------------------------------------------------------------------------------


def _add_noise_right_2(x0, noise_var, eps):
    a, s = math.sqrt(1 - noise_var), math.sqrt(noise_var)
    return torch.lerp(torch.zeros_like(x0), x0, a) + s * eps


def _schedule_loop(t, offset):
    flat = [math.sin((time + offset) / (1 + offset) * math.pi / 2) ** 2 for time in t.flatten().tolist()]
    return torch.tensor(flat, dtype=t.dtype).reshape(t.shape)


def _schedule_half_angle(t, offset):
    return (1 - torch.cos((t + offset) / (1 + offset) * torch.pi)) / 2


def _schedule_one_call(t, offset):
    """A learner who hard-codes s = 0.008 instead of using the argument."""
    return torch.sin((t + 0.008) / 1.008 * torch.pi / 2) ** 2


def _softmax_loop_denoiser(x, train, noise_var):
    out = []
    for point in x:
        logits = -((point - (1 - noise_var) ** 0.5 * train) ** 2).sum(1) / (2 * noise_var)
        w = torch.exp(logits - logits.max())
        out.append((w / w.sum()) @ train)
    return torch.stack(out)


def _naive_denoiser(x, train, noise_var):
    d2 = ((x[:, None] - (1 - noise_var) ** 0.5 * train[None]) ** 2).sum(-1)
    w = torch.exp(-d2 / (2 * noise_var))
    return w @ train / w.sum(1, keepdim=True)


# -- 01 -------------------------------------------------------------------------------


def _laplacian_loops(u):
    out = torch.empty_like(u)
    _, h, w = u.shape
    for i in range(h):
        for j in range(w):
            out[:, i, j] = (u[:, (i - 1) % h, j] + u[:, (i + 1) % h, j] + u[:, i, (j - 1) % w]
                            + u[:, i, (j + 1) % w] - 4 * u[:, i, j])
    return out


def _laplacian_circular_conv(u):
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=u.dtype)
    return F.conv2d(F.pad(u[:, None], (1, 1, 1, 1), mode="circular"), kernel[None, None])[:, 0]


def _laplacian_zero_conv(u):
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=u.dtype)
    return F.conv2d(u[:, None], kernel[None, None], padding=1)[:, 0]


def _gs_right_2(u, v, F, k, dt, Du=0.16, Dv=0.08):
    du = Du * turing.laplacian(u) - u * v ** 2 + F * (1 - u)
    dv = Dv * turing.laplacian(v) + u * v ** 2 - (F + k) * v
    return u + dt * du, v + dt * dv


def _gs_right_3(u, v, F, k, dt, Du=0.16, Dv=0.08):
    lap = turing.laplacian(torch.stack([u, v]))
    uvv = u * v.square()
    return u + dt * (Du * lap[0] - uvv + F - F * u), v + dt * (Dv * lap[1] + uvv - F * v - k * v)


def _gs_hard_coded(u, v, F, k, dt, Du=0.16, Dv=0.08):
    uvv = u * v * v
    return (u + dt * (0.16 * turing.laplacian(u) - uvv + F * (1 - u)),
            v + dt * (0.08 * turing.laplacian(v) + uvv - (F + k) * v))


def _gs_in_place(u, v, F, k, dt, Du=0.16, Dv=0.08):
    u = u + dt * (Du * turing.laplacian(u) - u * v * v + F * (1 - u))
    v = v + dt * (Dv * turing.laplacian(v) + u * v * v - (F + k) * v)
    return u, v


def _gs_no_dt(u, v, F, k, dt, Du=0.16, Dv=0.08):
    uvv = u * v * v
    return (u + Du * turing.laplacian(u) - uvv + F * (1 - u),
            v + Dv * turing.laplacian(v) + uvv - (F + k) * v)


def _gs_kill_k(u, v, F, k, dt, Du=0.16, Dv=0.08):
    uvv = u * v * v
    return (u + dt * (Du * turing.laplacian(u) - uvv + F * (1 - u)),
            v + dt * (Dv * turing.laplacian(v) + uvv - k * v))


def _growth_eigvals(q2, jac, Du, Dv):
    mats = jac[None] - q2[:, None, None] * torch.diag(torch.tensor([Du, Dv], dtype=jac.dtype))[None]
    return torch.linalg.eigvals(mats).real.max(dim=1).values


def _growth_complex_sqrt(q2, jac, Du, Dv):
    a, d = jac[0, 0] - Du * q2, jac[1, 1] - Dv * q2
    disc = ((a - d) ** 2 + 4 * jac[0, 1] * jac[1, 0]).to(torch.complex128)
    return (((a + d) + torch.sqrt(disc)) / 2).real


def _ratio_quadratic(jac):
    fu, fv, gu, gv = jac.flatten().tolist()
    det = fu * gv - fv * gu
    b = 2 * fu * gv - 4 * det
    return (-b + math.sqrt(b * b - 4 * fu ** 2 * gv ** 2)) / (2 * fu ** 2)


def _ratio_bisection(jac):
    """A learner who lets the computer find the smallest d at which min over q^2 of det A < 0."""
    fu, fv, gu, gv = jac.flatten().tolist()
    det = fu * gv - fv * gu
    lo, hi = 1.0, 1e4
    for _ in range(200):
        d = (lo + hi) / 2
        # det A(q^2) with Du = 1, Dv = d is smallest at q^2 = (d fu + gv) / (2 d)
        q2 = max((d * fu + gv) / (2 * d), 0.0)
        lo, hi = (d, hi) if d * q2 ** 2 - (d * fu + gv) * q2 + det >= 0 else (lo, d)
    return torch.tensor(hi, dtype=torch.float64)


def _ratio_numpy_roots(jac):
    import numpy as np
    fu, fv, gu, gv = jac.flatten().tolist()
    det = fu * gv - fv * gu
    return float(np.roots([fu ** 2, 2 * fu * gv - 4 * det, gv ** 2]).real.min())


def _growth_nan(q2, jac, Du, Dv):
    a, d = jac[0, 0] - Du * q2, jac[1, 1] - Dv * q2
    tr, det = a + d, a * d - jac[0, 1] * jac[1, 0]
    return (tr + torch.sqrt(tr ** 2 - 4 * det)) / 2


def _growth_plus(q2, jac, Du, Dv):
    a, d = jac[0, 0] + Du * q2, jac[1, 1] + Dv * q2
    tr, det = a + d, a * d - jac[0, 1] * jac[1, 0]
    return (tr + torch.sqrt((tr ** 2 - 4 * det).clamp(min=0))) / 2


def _growth_smaller(q2, jac, Du, Dv):
    return torch.linalg.eigvals(jac[None] - q2[:, None, None] * torch.diag(
        torch.tensor([Du, Dv], dtype=jac.dtype))).real.min(dim=1).values


def _growth_modulus(q2, jac, Du, Dv):
    return torch.linalg.eigvals(jac[None] - q2[:, None, None] * torch.diag(
        torch.tensor([Du, Dv], dtype=jac.dtype))).abs().max(dim=1).values


# -- 02 -------------------------------------------------------------------------------


def _digits_loop(profile):
    threshold = (float(profile.max()) + float(profile.min())) / 2
    count, was_high = 0, False
    for value in profile.tolist():
        high = value > threshold
        count += high and not was_high
        was_high = high
    return count


def _digits_diff(profile):
    high = (profile > (profile.max() + profile.min()) / 2).int()
    return int((torch.cat([torch.zeros(1, dtype=torch.int32), high]).diff() == 1).sum())


def _digits_threshold_zero(profile):
    high = profile > 0
    return int(high[0]) + int((high[1:] & ~high[:-1]).sum())


def _digits_mean(profile):
    high = profile > profile.mean()
    return int(high[0]) + int((high[1:] & ~high[:-1]).sum())


def _digits_ge(profile):
    high = profile >= (profile.max() + profile.min()) / 2
    return int(high[0]) + int((high[1:] & ~high[:-1]).sum())


def _digits_no_first(profile):
    high = profile > (profile.max() + profile.min()) / 2
    return int((high[1:] & ~high[:-1]).sum())


def _digits_tensor(profile):
    high = profile > (profile.max() + profile.min()) / 2
    return high[0].long() + (high[1:] & ~high[:-1]).sum()


def _noflux_loops(u, mask):
    out = torch.zeros_like(u)
    _, h, w = u.shape
    for i in range(h):
        for j in range(w):
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                ni, nj = i + di, j + dj
                if 0 <= ni < h and 0 <= nj < w:
                    inside = mask[:, ni, nj] & mask[:, i, j]
                    out[:, i, j] += inside * (u[:, ni, nj] - u[:, i, j])
    return out


def _noflux_conv(u, mask):
    m = mask.to(u.dtype)[:, None]
    cross = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=u.dtype)[None, None]
    neighbours_sum = F.conv2d(u[:, None] * m, cross, padding=1)
    neighbours_count = F.conv2d(m, cross, padding=1)
    return ((neighbours_sum - neighbours_count * u[:, None]) * m)[:, 0]


def _noflux_roll(u, mask):
    m = mask.to(u.dtype)
    total = sum(m.roll(s, d) * (u.roll(s, d) - u) for s in (1, -1) for d in (-2, -1))
    return total * m


def _noflux_no_final(u, mask):
    m = mask.to(u.dtype)
    pu, pm = F.pad(u, (1, 1, 1, 1)), F.pad(m, (1, 1, 1, 1))
    h, w = u.shape[-2:]
    return sum(pm[:, a:a + h, b:b + w] * (pu[:, a:a + h, b:b + w] - u)
               for a, b in ((0, 1), (2, 1), (1, 0), (1, 2)))


def _noflux_leaky(u, mask):
    return _laplacian_zero_conv(u) * mask.to(u.dtype)


def _noflux_minus_four(u, mask):
    m = mask.to(u.dtype)
    pu, pm = F.pad(u, (1, 1, 1, 1)), F.pad(m, (1, 1, 1, 1))
    h, w = u.shape[-2:]
    total = sum(pm[:, a:a + h, b:b + w] * pu[:, a:a + h, b:b + w]
                for a, b in ((0, 1), (2, 1), (1, 0), (1, 2)))
    return (total - 4 * u) * m


# -- 03 -------------------------------------------------------------------------------


def _counts_loops(xs, noise_vars, train):
    """N_eff one sample at a time, with log-sum-exp written out."""
    rows = []
    for x, b in zip(xs, noise_vars):
        a = math.sqrt(1 - float(b))
        row = []
        for image in x:
            logits = torch.stack([-((image - a * phi) ** 2).sum() / (2 * b) for phi in train])
            w = torch.exp(logits - torch.logsumexp(logits, 0))
            row.append(1 / (w * w).sum())
        rows.append(torch.stack(row))
    return torch.stack(rows)


def _counts_einsum(xs, noise_vars, train):
    """All steps at once, the weights from the expanded square."""
    b = noise_vars.reshape(-1, 1, 1)
    x, phi = xs.flatten(2), train.flatten(1)
    dots = torch.einsum("tbd,nd->tbn", x, phi)
    logits = (torch.sqrt(1 - b) * dots - (1 - b) * (phi * phi).sum(1) / 2) / b  # |x|^2 drops out
    return 1 / (torch.softmax(logits, dim=-1) ** 2).sum(-1)


def _counts_variant(xs, noise_vars, train, naive=False, square=False, inverse_sum=False, one=None):
    out = []
    for x, b in zip(xs, noise_vars.tolist()):
        d2 = torch.cdist(x.flatten(1), (1 - b) ** 0.5 * train.flatten(1)) ** 2
        w = torch.exp(-d2 / (2 * b)) if naive else torch.softmax(-d2 / (2 * b), dim=1)
        w = w / w.sum(1, keepdim=True) if naive else w
        out.append((w ** 2).sum(1) if square else 1 / w.sum(1) if inverse_sum else 1 / (w ** 2).sum(1))
    return torch.stack(out)


def _rank_loops(samples, train, held_out):
    def nearest(image):
        return min(((image - phi) ** 2).sum().item() for phi in train)

    yardstick = [nearest(h) for h in held_out]
    return torch.tensor([sum(d < nearest(s) for d in yardstick) / len(yardstick) for s in samples])


def _rank_sorted(samples, train, held_out):
    """searchsorted in the sorted held-out distances: the count strictly below each sample."""
    yardstick = torch.cdist(held_out.flatten(1), train.flatten(1)).min(1).values.sort().values
    own = torch.cdist(samples.flatten(1), train.flatten(1)).min(1).values
    return torch.searchsorted(yardstick, own, right=False) / len(yardstick)


def _rank_variant(samples, train, held_out, farther=False, count=False, mean=False):
    def dist(images):
        d = torch.cdist(images.flatten(1), train.flatten(1))
        return d.mean(1) if mean else d.min(1).values

    yardstick, own = dist(held_out), dist(samples)
    below = (yardstick[None] > own[:, None]) if farther else (yardstick[None] < own[:, None])
    return below.sum(1).double() if count else below.double().mean(1)


def _ddim_via_snr(x, denoised, noise_var, noise_var_prev):
    a, a_prev = math.sqrt(1 - noise_var), math.sqrt(1 - noise_var_prev)
    s, s_prev = math.sqrt(noise_var), math.sqrt(noise_var_prev)
    return a_prev * denoised + (s_prev / s) * (x - a * denoised)


def _ddim_tensor_ops(x, denoised, noise_var, noise_var_prev):
    b, bp = torch.tensor(noise_var), torch.tensor(noise_var_prev)
    eps = (x - torch.sqrt(1 - b) * denoised) / torch.sqrt(b)
    return torch.sqrt(1 - bp) * denoised + torch.sqrt(bp) * eps


# -- 04 -------------------------------------------------------------------------------


def _influence_loops(denoiser, x, noise_var, row, col, delta):
    base = denoiser(x, noise_var)[0, 0, row, col]
    out = torch.zeros(x.shape[2:], dtype=x.dtype)
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            nudged = x.clone()
            nudged[0, 0, i, j] += delta
            out[i, j] = (denoiser(nudged, noise_var)[0, 0, row, col] - base).abs()
    return out


def _influence_batched(denoiser, x, noise_var, row, col, delta):
    height, width = x.shape[2:]
    nudges = delta * torch.eye(height * width, dtype=x.dtype).reshape(-1, 1, height, width)
    moved = denoiser(x + nudges, noise_var)[:, 0, row, col]
    return torch.sqrt((moved - denoiser(x, noise_var)[0, 0, row, col]) ** 2).reshape(height, width)


def _influence_unsafe(denoiser, x, noise_var, row, col, delta, clone=False, signed=False, flat=False):
    """A loop over pixels that (unless ``clone``) nudges x itself and never undoes it."""
    x = x.clone()  # the case's tensor stays intact for the other answers
    base = denoiser(x, noise_var)[0, 0, row, col]
    changes = []
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            nudged = x.clone() if clone else x
            nudged[0, 0, i, j] += delta
            change = denoiser(nudged, noise_var)[0, 0, row, col] - base
            changes.append(change if signed else change.abs())
    out = torch.stack(changes)
    return out if flat else out.reshape(x.shape[2:])


def _local_loops(x, train, noise_var, k):
    a, r = (1 - noise_var) ** 0.5, k // 2
    px, pt = F.pad(x, (r, r, r, r)), F.pad(train, (r, r, r, r))
    out = torch.empty_like(x)
    _, _, h, w = x.shape
    for i in range(h):
        for j in range(w):
            qx = px[:, 0, i:i + k, j:j + k].flatten(1)        # (B, kk)
            qt = pt[:, 0, i:i + k, j:j + k].flatten(1)        # (N, kk)
            weights = torch.softmax(-torch.cdist(qx, a * qt) ** 2 / (2 * noise_var), dim=1)
            out[:, 0, i, j] = weights @ train[:, 0, i, j]
    return out


def _local_einsum(x, train, noise_var, k):
    a = math.sqrt(1 - noise_var)
    q = F.unfold(x, k, padding=k // 2)                         # (B, kk, P)
    t = F.unfold(train, k, padding=k // 2)                     # (N, kk, P)
    d2 = (q ** 2).sum(1)[:, :, None] - 2 * a * torch.einsum("bkp,nkp->bpn", q, t) \
        + a * a * (t ** 2).sum(1).T[None]
    weights = torch.softmax(-d2 / (2 * noise_var), dim=-1)
    return torch.einsum("bpn,np->bp", weights, train.flatten(1)).reshape(x.shape)


def _local_circular(x, train, noise_var, k):
    r, a = k // 2, (1 - noise_var) ** 0.5
    q = F.unfold(F.pad(x, (r,) * 4, mode="circular"), k).transpose(1, 2)
    t = F.unfold(F.pad(train, (r,) * 4, mode="circular"), k).transpose(1, 2)
    d2 = ((q[:, :, None] - a * t.transpose(0, 1)[None]) ** 2).sum(-1)
    return (torch.softmax(-d2 / (2 * noise_var), 2) * train.flatten(1).T[None]).sum(-1).reshape(x.shape)


def _local_variant(x, train, noise_var, k, a=None, temperature=None, dim=2, naive=False):
    a = (1 - noise_var) ** 0.5 if a is None else a
    q = F.unfold(x, k, padding=k // 2).transpose(1, 2)
    t = F.unfold(train, k, padding=k // 2).transpose(1, 2)
    d2 = ((q[:, :, None] - a * t.transpose(0, 1)[None]) ** 2).sum(-1)
    logits = -d2 / (temperature or 2 * noise_var)
    w = torch.exp(logits) / torch.exp(logits).sum(dim, keepdim=True) if naive else torch.softmax(logits, dim)
    return (w * train.flatten(1).T[None]).sum(-1).reshape(x.shape)


def _nlm_loops(y, k, h):
    out = torch.empty_like(y)
    windows = F.unfold(y, k, padding=k // 2).transpose(1, 2)    # (B, P, kk)
    pixels = y.flatten(1)
    for b in range(len(y)):
        for p in range(windows.shape[1]):
            d2 = ((windows[b] - windows[b, p]) ** 2).sum(1)
            out.view(len(y), -1)[b, p] = torch.softmax(-d2 / h ** 2, 0) @ pixels[b]
    return out


def _nlm_manual_softmax(y, k, h):
    w = F.unfold(y, k, padding=k // 2).transpose(1, 2)
    logits = -torch.cdist(w, w).pow(2) / (h * h)
    logits = logits - logits.amax(-1, keepdim=True)
    weights = logits.exp() / logits.exp().sum(-1, keepdim=True)
    return torch.bmm(weights, y.flatten(2).transpose(1, 2)).reshape(y.shape)


def _nlm_variant(y, k, h, temperature=None, mode="constant", dim=2):
    r = k // 2
    w = F.unfold(F.pad(y, (r,) * 4, mode=mode), k).transpose(1, 2)
    weights = torch.softmax(-torch.cdist(w, w) ** 2 / (temperature or h ** 2), dim=dim)
    return (weights @ y.flatten(2).transpose(1, 2)).reshape(y.shape)


# -- 05 -------------------------------------------------------------------------------


def _mask_padding_overlap(height, width, k, row, col):
    """Brute force: q is admissible when its window over a zero-padded image of ones is p's window."""
    r = k // 2
    windows = F.unfold(F.pad(torch.ones(1, 1, height, width), (r, r, r, r)), k)[0].T  # (HW, kk)
    return (windows == windows[row * width + col]).all(1).reshape(height, width)


def _mask_numpy(height, width, k, row, col, cap_shift=0, nearest_only=False):
    import numpy as np
    h = k // 2 + cap_shift
    rows, cols = np.arange(height), np.arange(width)

    def key(index, size):
        near, far = np.minimum(index, h), np.minimum(size - 1 - index, h)
        return np.minimum(near, far) * 100 if nearest_only else near * 100 + far

    same_row = key(rows, height) == key(np.array(row), height)
    same_col = key(cols, width) == key(np.array(col), width)
    return torch.from_numpy(same_row[:, None] & same_col[None, :])


def _equivariance_numpy(denoiser, x, noise_var, rows, cols):
    shifted = denoiser(x.roll(rows, 2).roll(cols, 3), noise_var)
    expected = denoiser(x, noise_var).roll(rows, 2).roll(cols, 3)
    return float((shifted - expected).abs().detach().numpy().max())


def _equivariance_amax(denoiser, x, noise_var, rows, cols):
    d = denoiser(torch.roll(x, (rows, cols), (2, 3)), noise_var) \
        - torch.roll(denoiser(x, noise_var), (rows, cols), (2, 3))
    return torch.amax(torch.abs(d))  # a 0-d tensor is one number too


def _equivariance_variant(denoiser, x, noise_var, rows, cols, dims=(2, 3), reduce="max",
                          shift_back=True, item=True):
    d = denoiser(torch.roll(x, (rows, cols), dims), noise_var) - (
        torch.roll(denoiser(x, noise_var), (rows, cols), dims) if shift_back else denoiser(x, noise_var))
    d = d.abs()
    if reduce == "none":
        return d
    value = d.max() if reduce == "max" else d.mean()
    return value.item() if item else value


def _els_loops(x, train, noise_var, k, row, col):
    r, a = k // 2, (1 - noise_var) ** 0.5
    n, c, h, w = train.shape
    px = F.pad(x, (r,) * 4, mode="circular")
    pt = F.pad(train, (r,) * 4, mode="circular")
    query = px[0, :, row:row + k, col:col + k]
    logits = torch.empty(n, h, w, dtype=x.dtype)
    for mu in range(n):
        for i in range(h):
            for j in range(w):
                logits[mu, i, j] = -((query - a * pt[mu, :, i:i + k, j:j + k]) ** 2).sum() / (2 * noise_var)
    return torch.softmax(logits.flatten(), 0).reshape(n, h, w)


def _els_variant(x, train, noise_var, k, row, col, mode="circular", per_image=False, swap=False,
                 first_channel=False, transpose_out=False):
    if first_channel:
        x, train = x[:, :1], train[:, :1]
    if swap:
        row, col = col, row
    r, a = k // 2, (1 - noise_var) ** 0.5
    q = F.pad(x, (r,) * 4, mode=mode)[0, :, row:row + k, col:col + k].reshape(-1)
    t = F.unfold(F.pad(train, (r,) * 4, mode=mode), k).transpose(1, 2)
    logits = -((q - a * t) ** 2).sum(-1) / (2 * noise_var)
    w = torch.softmax(logits, 1) if per_image else torch.softmax(logits.flatten(), 0)
    n, _, h, wd = train.shape
    return w.reshape(n, wd, h) if transpose_out else w.reshape(n, h, wd)


# -- 06 -------------------------------------------------------------------------------


def _loss_manual(model, x0, noise_var, eps):
    b = noise_var[:, None, None, None]
    x = (1 - b).sqrt() * x0 + b.sqrt() * eps
    return F.mse_loss(model(x, noise_var), eps)


def _loss_loop(model, x0, noise_var, eps):
    x = torch.stack([(1 - b) ** 0.5 * x0[i] + b ** 0.5 * eps[i] for i, b in enumerate(noise_var)])
    return ((model(x, noise_var) - eps) ** 2).sum() / eps.numel()


def _loss_variant(model, x0, noise_var, eps, batch_b=False, target=None, reduce="mean", item=False,
                  no_grad=False):
    b = noise_var[0] if batch_b else noise_var.reshape(-1, 1, 1, 1)
    x = (1 - b).sqrt() * x0 + b.sqrt() * eps
    with torch.set_grad_enabled(not no_grad):
        err = (model(x, noise_var) - (eps if target is None else target)) ** 2
        loss = err.mean() if reduce == "mean" else err.sum()
    return loss.item() if item else loss


def _field_loop(grad, row, col, fraction):
    total, side = grad.sum(), 1
    while True:
        half = side // 2
        window = grad[max(0, row - half):row + half + 1, max(0, col - half):col + half + 1]
        if window.sum() >= fraction * total:
            return side
        side += 2


def _field_padded(grad, row, col, fraction):
    height, width = grad.shape
    padded = F.pad(grad, (width, width, height, height))
    for half in range(max(height, width) + 1):
        r, c = row + height, col + width
        if padded[r - half:r + half + 1, c - half:c + half + 1].sum() >= fraction * grad.sum():
            return 2 * half + 1


def _field_variant(grad, row, col, fraction, wrap=False, step=2, strict=False):
    total, side = float(grad.sum()), 1
    while side < 4 * max(grad.shape):
        half = side // 2
        if wrap:
            held = grad[row - half:row + half + 1, col - half:col + half + 1].sum()
        else:
            held = grad[max(0, row - half):row + half + 1, max(0, col - half):col + half + 1].sum()
        if (held > fraction * total) if strict else (held >= fraction * total):
            return side
        side += step
    return side


def _denoise_manual(model, x, noise_var):
    b = torch.as_tensor(noise_var, dtype=x.dtype).clamp(max=0.999).expand(x.shape[0])
    eps_hat = model(x, b)
    b = b.reshape(-1, 1, 1, 1)
    return (x - b.sqrt() * eps_hat) / (1 - b).sqrt()


def _denoise_library_clamp(model, x, noise_var):
    from course_utils import diffusion, models
    b = models.noise_level(noise_var, x.shape[0])
    return diffusion.denoised_from_eps(x, model(x, b), b)


def _denoise_variant(model, x, noise_var, clamp=True, square=False, divide=True):
    b = torch.as_tensor(noise_var, dtype=x.dtype).expand(x.shape[0])
    if clamp:
        b = b.clamp(max=0.999)
    eps_hat = model(x, b)
    b = b.reshape(-1, 1, 1, 1)
    scale, keep = (b, 1 - b) if square else (b.sqrt(), (1 - b).sqrt())
    return (x - scale * eps_hat) / keep if divide else x - scale * eps_hat


# -- 07 -------------------------------------------------------------------------------


def _pearson_corrcoef(a, b):
    return torch.stack([torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1]
                        for x, y in zip(a, b)])


def _pearson_moments(a, b):
    a, b = a.flatten(1), b.flatten(1)
    cov = (a * b).mean(1) - a.mean(1) * b.mean(1)
    return cov / (a.std(1, unbiased=False) * b.std(1, unbiased=False))


def _shift_loop(ks, shift):
    out = []
    for i in range(len(ks)):
        j = i - shift
        out.append(ks[0] if j < 0 else ks[-1] if j >= len(ks) else ks[j])
    return out


def _shift_tensor(ks, shift):
    index = (torch.arange(len(ks)) - shift).clamp(0, len(ks) - 1)
    return torch.tensor(ks)[index]


def _schedule_sort(similarity, ks):
    best = torch.tensor(ks)[similarity.argmax(1)]
    ordered = best.sort(dim=1).values
    return ordered[:, (ordered.shape[1] - 1) // 2]


def _schedule_list(similarity, ks):
    best = similarity.argmax(dim=1)                     # (steps, S)
    return [int(torch.tensor([ks[i] for i in row]).median()) for row in best]


def _schedule_variant(similarity, ks, middle="lower", argmin=False, index=False):
    pick = similarity.argmin(1) if argmin else similarity.argmax(1)
    best = pick if index else torch.tensor(ks)[pick]
    if middle == "upper":
        return best.sort(1).values[:, best.shape[1] // 2]
    if middle == "quantile":
        return best.double().quantile(0.5, dim=1)
    return best.median(1).values


# -- 08 -------------------------------------------------------------------------------


def _runs_loop(profile):
    counts = []
    for row in profile.tolist():
        counts.append(sum(1 for i in range(len(row)) if row[i] and not row[i - 1]))
    return torch.tensor(counts)


def _runs_diff(profile):
    p = profile.long()
    return (torch.diff(p, dim=1, prepend=p[:, -1:]) == 1).sum(1)


def _runs_linear(profile):
    return (profile[:, 1:] & ~profile[:, :-1]).sum(1) + profile[:, 0].long()


def _rate_numpy(counts):
    wrong = (counts.numpy() != 5)
    p = float(wrong.mean())
    return p, math.sqrt(p * (1 - p) / wrong.size)


def _rate_no_hand_is_five(counts):
    p = float(((counts != 5) & (counts >= 0)).float().mean())
    return p, math.sqrt(p * (1 - p) / len(counts))


def _rate_tensor(counts):
    p = (counts != 5).float().mean()
    return p, (p * (1 - p) / counts.numel()).sqrt()


# -- 09 -------------------------------------------------------------------------------


def _attention_sdpa(tokens, wq, wk, wv):
    return F.scaled_dot_product_attention(tokens @ wq, tokens @ wk, tokens @ wv)


def _attention_einsum(tokens, wq, wk, wv):
    q, k, v = (torch.einsum("blc,cd->bld", tokens, w) for w in (wq, wk, wv))
    scores = torch.einsum("bid,bjd->bij", q, k) / math.sqrt(q.shape[-1])
    scores = scores - scores.max(-1, keepdim=True).values
    return torch.einsum("bij,bjd->bid", scores.exp() / scores.exp().sum(-1, keepdim=True), v)


def _attention_variant(tokens, wq, wk, wv, scale=None, dim=-1, naive=False):
    q, k, v = tokens @ wq, tokens @ wk, tokens @ wv
    s = q @ k.transpose(-1, -2) / (scale or math.sqrt(q.shape[-1]))
    w = s.exp() / s.exp().sum(dim, keepdim=True) if naive else s.softmax(dim)
    return w @ v


def _overlap_loop(sample, mosaic):
    kept, covered = [], []
    for s, m in zip(sample, mosaic):
        a, b = s > 0, m > 0
        both = (a & b).sum().item()
        kept.append(both / a.sum().item() if a.any() else 0.0)
        covered.append(both / b.sum().item() if b.any() else 0.0)
    return torch.tensor(kept), torch.tensor(covered)


def _overlap_nan_to_num(sample, mosaic):
    a, b = sample.flatten(1) > 0, mosaic.flatten(1) > 0
    both = (a & b).float().sum(1)
    return (both / a.float().sum(1)).nan_to_num(0.0), (both / b.float().sum(1)).nan_to_num(0.0)


def _overlap_variant(sample, mosaic, ge=False, swap=False, clamp=True, union=False):
    a = sample.flatten(1) >= 0 if ge else sample.flatten(1) > 0
    b = mosaic.flatten(1) >= 0 if ge else mosaic.flatten(1) > 0
    both = ((a | b) if union else (a & b)).sum(1).float()
    na, nb = a.sum(1).float(), b.sum(1).float()
    if clamp:
        na, nb = na.clamp(min=1), nb.clamp(min=1)
    kept, covered = both / na, both / nb
    return (covered, kept) if swap else (kept, covered)


# (answer, words the message must contain)
WRONG = {
    "00.cosine_schedule": [
        (lambda t, offset: 1 - torch.cos((t + offset) / (1 + offset) * math.pi / 2), "cos instead of cos^2"),
        (lambda t, offset: 1 - torch.cos(t * math.pi / 2) ** 2, "no offset"),
        (lambda t, offset: 1 - torch.cos(t / (1 + offset) * math.pi / 2) ** 2, "the offset only divides"),
        (lambda t, offset: 1 - torch.cos((t + offset) * math.pi / 2) ** 2, "not divided by (1 + s)"),
        (lambda t, offset: torch.sin((1 - t + offset) / (1 + offset) * math.pi / 2) ** 2, "t reversed"),
        (lambda t, offset: torch.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2, "signal variance"),
        (lambda t, offset: torch.sin((t + offset) / (1 + offset) * math.pi / 2), "noise amplitude"),
        (lambda t, offset: 1 - (torch.cos((t + offset) / (1 + offset) * math.pi / 2)
                                / math.cos(offset / (1 + offset) * math.pi / 2)) ** 2, "Nichol & Dhariwal"),
        (_schedule_one_call, "values differ"),
        (lambda t, offset: [math.sin((time + offset) / (1 + offset) * math.pi / 2) ** 2 for time in t.tolist()],
         "expected a torch.Tensor"),
        (lambda t: torch.sin(t), "Keep the parameter names"),
    ],
    "00.add_noise": [
        (lambda x0, noise_var, eps: x0 + math.sqrt(noise_var) * eps, "a = 1"),
        (lambda x0, noise_var, eps: (1 - noise_var) ** 0.5 * x0 + noise_var * eps, "b instead of sqrt(b)"),
        (lambda x0, noise_var, eps: (1 - noise_var) * x0 + noise_var * eps, "no square roots"),
        (lambda x0, noise_var, eps: noise_var ** 0.5 * x0 + (1 - noise_var) ** 0.5 * eps, "swapped"),
        (lambda x0, noise_var, eps: (1 - noise_var) * x0 + noise_var ** 0.5 * eps, "1 - b instead of sqrt"),
        (lambda x0, noise_var, eps: None, "forget `return`"),
        (lambda x, noise_var, eps: x, "Keep the parameter names"),
    ],
    "00.ideal_denoiser": [
        (_naive_denoiser, "exp() then a division"),
        (lambda x, train, noise_var: torch.softmax(-torch.cdist(x, train) ** 2 / (2 * noise_var), 1) @ train,
         "a = 1"),
        (lambda x, train, noise_var: torch.softmax(
            -torch.cdist(x, (1 - noise_var) ** 0.5 * train) ** 2 / noise_var, 1) @ train, "temperature b"),
        (lambda x, train, noise_var: torch.softmax(
            -torch.cdist(x, (1 - noise_var) ** 0.5 * train) ** 2 / (2 * noise_var), 0) @ train, "wrong axis"),
        (lambda x, train, noise_var: torch.softmax(
            -torch.cdist(x, (1 - noise_var) ** 0.5 * train) / (2 * noise_var), 1) @ train, "not squared"),
    ],
    "01.laplacian": [
        (_laplacian_zero_conv, "zero padding"),
        (lambda u: u.roll(1, -1) + u.roll(-1, -1) + u.roll(1, -2) + u.roll(-1, -2) - 2 * u, "-2 * centre"),
        (lambda u: u.roll(1, 1) + u.roll(-1, 1) - 4 * u, "only two neighbours"),
        (lambda u: 4 * u - (u.roll(1, 1) + u.roll(-1, 1) + u.roll(1, 2) + u.roll(-1, 2)), "sign is flipped"),
        (lambda u: u.roll(1, 0) + u.roll(-1, 0) + u.roll(1, 2) + u.roll(-1, 2) - 4 * u, "batch axis"),
        (lambda u: (u.roll(1, -1) + u.roll(-1, -1) + u.roll(1, -2) + u.roll(-1, -2) - 4 * u)[0],
         "shape"),
    ],
    "01.gray_scott_step": [
        (_gs_hard_coded, "hard-coded"),
        (_gs_in_place, "u updated before v"),
        (_gs_no_dt, "dt is missing"),
        (_gs_kill_k, "rate k instead of F + k"),
        (lambda u, v, F, k, dt, Du=0.16, Dv=0.08: _gs_right_2(u, v, F, k, dt, Du, Dv)[::-1], "wrong order"),
        (lambda u, v, F, k, dt, Du=0.16, Dv=0.08: _gs_right_2(u, v, F, k, dt, Du, Dv)[0], "return a tuple (u, v)"),
        (lambda u, v, F, k, dt: _gs_right_2(u, v, F, k, dt), "Keep the parameter names"),
    ],
    "01.growth_rate": [
        (_growth_nan, "negative discriminant"),
        (_growth_plus, "added to J instead of subtracted"),
        (_growth_smaller, "smaller eigenvalue"),
        (_growth_modulus, "modulus"),
        (lambda q2, jac, Du, Dv: _growth_eigvals(q2, jac, Dv, Du), "Du and Dv swapped"),
        (lambda q2, jac, Du, Dv: torch.linalg.eigvals(jac[None] - q2[:, None, None] * torch.diag(
            torch.tensor([Du, Dv], dtype=jac.dtype)))[:, 0], "complex tensor"),
    ],
    "01.critical_ratio": [
        (_ratio_numpy_roots, "smaller root"),
        (lambda jac: -jac[1, 1].item() / jac[0, 0].item(), "only the first condition"),
        (lambda jac: 1 / _ratio_quadratic(jac), "D_u / D_v instead of D_v / D_u"),
        (lambda jac: math.sqrt(_ratio_quadratic(jac)), "square root of d_c"),
        (lambda jac: _ratio_quadratic(jac) * 2, "values differ"),
        (lambda jac: str(_ratio_quadratic(jac)), "expected a number"),
        (lambda jacobian: _ratio_quadratic(jacobian), "Keep the parameter names"),
    ],
    "02.count_digits": [
        (_digits_threshold_zero, "threshold at 0"),
        (_digits_mean, "threshold at the mean"),
        (_digits_ge, ">= instead of >"),
        (_digits_no_first, "first cell"),
        (lambda profile: int((profile > (profile.max() + profile.min()) / 2).sum()), "high cells, not the runs"),
        (lambda profile: str(_digits_loop(profile)), "whole number"),
        (lambda profile: float(_digits_loop(profile)), "whole number"),
    ],
    "02.noflux_laplacian": [
        (_noflux_roll, "circular"),
        (_noflux_no_final, "not multiplied by the mask"),
        (_noflux_leaky, "neighbour's mask is ignored"),
        (_noflux_minus_four, "-4 * centre"),
    ],
    "03.effective_counts": [
        (lambda xs, noise_vars, train: _counts_variant(xs, noise_vars, train, naive=True), "exp() then a division"),
        (lambda xs, noise_vars, train: _counts_variant(xs, noise_vars, train, square=True), "without the inverse"),
        (lambda xs, noise_vars, train: _counts_variant(xs, noise_vars, train, inverse_sum=True), "always 1"),
        (lambda xs, noise_vars, train: _counts_variant(xs, noise_vars.flip(0), train), "wrong noise level"),
        (lambda xs, noise_vars, train: _counts_einsum(xs, noise_vars, train).T, "shape"),
        (lambda xs, noise_vars, train: [_counts_einsum(xs, noise_vars, train).tolist()],
         "expected a torch.Tensor"),
        (lambda xs, noise_vars, train: 1 / (torch.softmax(-torch.cdist(
            xs.flatten(2), train.flatten(1)[None]) ** 2 / (2 * noise_vars[:, None, None]), -1) ** 2).sum(-1),
         "a = 1"),
    ],
    "03.held_out_rank": [
        (lambda samples, train, held_out: _rank_variant(samples, train, held_out, farther=True), "*farther*"),
        (lambda samples, train, held_out: _rank_variant(samples, train, held_out, count=True), "a count, not a share"),
        (lambda samples, train, held_out: _rank_variant(samples, train, held_out, mean=True), "mean distance"),
        (lambda samples, train, held_out: (torch.cdist(held_out.flatten(1), train.flatten(1)).min(0).values[None]
                                           < torch.cdist(samples.flatten(1), train.flatten(1)).min(0).values[:, None]
                                           ).double().mean(1), "shape"),
        (lambda samples, train, held_out: _rank_loops(samples, train, held_out).tolist(), "expected a torch.Tensor"),
        (lambda samples, train, held_out: (torch.cdist(samples.flatten(1), train.flatten(1)).min(1).values
                                           < torch.cdist(held_out.flatten(1), train.flatten(1)).min(1).values.min()
                                           ).double(), "values differ"),
    ],
    "03.ddim_step": [
        (lambda x, denoised, noise_var, noise_var_prev: _ddim_via_snr(x, denoised, noise_var_prev, noise_var),
         "b and b_prev swapped"),
        (lambda x, denoised, noise_var, noise_var_prev:
         (1 - noise_var_prev) ** 0.5 * denoised + noise_var_prev ** 0.5 * (x - (1 - noise_var) ** 0.5 * denoised)
         / noise_var, "divides by b instead of sqrt(b)"),
        (lambda x, denoised, noise_var, noise_var_prev:
         (1 - noise_var_prev) ** 0.5 * denoised + noise_var_prev ** 0.5 * (x - denoised) / noise_var ** 0.5,
         "a = 1"),
        (lambda x, denoised, noise_var, noise_var_prev:
         (1 - noise_var_prev) ** 0.5 * denoised + noise_var_prev ** 0.5 * x, "x itself is re-noised"),
        (lambda x, denoised, noise_var, noise_var_prev:
         (1 - noise_var_prev) * denoised + noise_var_prev * (x - (1 - noise_var) ** 0.5 * denoised)
         / noise_var ** 0.5, "no square roots when re-noising"),
        (lambda x, denoised, b, b_prev: x, "Keep the parameter names"),
    ],
    "04.influence_map": [
        (lambda denoiser, x, noise_var, row, col, delta: _influence_unsafe(denoiser, x, noise_var, row, col, delta,
                                                                           clone=True, signed=True), "no abs()"),
        (_influence_unsafe, "nudges pile up"),
        (lambda denoiser, x, noise_var, row, col, delta: _influence_unsafe(denoiser, x, noise_var, row, col, delta,
                                                                           clone=True, flat=True),
         "reshaped wrongly"),
        (lambda denoiser, x, noise_var, row, col, delta: denoiser(
            x + delta * torch.eye(42, dtype=x.dtype).reshape(42, 1, 6, 7), noise_var)[:, 0, row, col].abs()
         .reshape(6, 7), "not subtracted"),
        (lambda denoiser, x, noise_var, row, col, delta: _influence_batched(denoiser, x, noise_var, row, col, delta)
         .tolist(), "expected a torch.Tensor"),
        (lambda denoiser, x, noise_var, row, col, delta: _influence_batched(denoiser, x, noise_var, col, row, delta),
         "row and col swapped"),
    ],
    "04.local_denoiser": [
        (_local_circular, "circular padding"),
        (lambda x, train, noise_var, k: _local_variant(x, train, noise_var, k, temperature=noise_var),
         "temperature b"),
        (lambda x, train, noise_var, k: _local_variant(x, train, noise_var, k, a=1.0), "a = 1"),
        (lambda x, train, noise_var, k: _local_variant(x, train, noise_var, k, dim=1), "over the pixels"),
        (lambda x, train, noise_var, k: _local_variant(x, train, noise_var, k, naive=True), "exp() then"),
    ],
    "04.nonlocal_means": [
        (lambda y, k, h: _nlm_variant(y, k, h, temperature=h), "h instead of h**2"),
        (lambda y, k, h: _nlm_variant(y, k, h, temperature=2 * h * h), "2 h^2"),
        (lambda y, k, h: _nlm_variant(y, k, h, mode="circular"), "circular padding"),
        (lambda y, k, h: _nlm_variant(y, k, h, dim=1), "wrong axis"),
        (lambda y, k, h: _nlm_variant(y, k, h)[:, 0], "shape"),
    ],
    "05.equivariance_error": [
        (lambda denoiser, x, noise_var, rows, cols: None, "forget `return`"),
        (lambda denoiser, x, noise_var, rows, cols: _equivariance_variant(denoiser, x, noise_var, rows, cols,
                                                                          reduce="none"), "return one number"),
        (lambda denoiser, x, noise_var, rows, cols: _equivariance_variant(denoiser, x, noise_var, rows, cols,
                                                                          reduce="mean"), "mean difference"),
        (lambda denoiser, x, noise_var, rows, cols: _equivariance_variant(denoiser, x, noise_var, rows, cols,
                                                                          dims=(3, 2)), "rows and cols swapped"),
        (lambda denoiser, x, noise_var, rows, cols: _equivariance_variant(denoiser, x, noise_var, rows, cols,
                                                                          shift_back=False), "is not shifted"),
        (lambda denoiser, x, noise_var, rows, cols: (denoiser(x.roll((rows, cols), (2, 3)), noise_var)
                                                     - denoiser(x, noise_var).roll((rows, cols), (2, 3))).max().item(),
         "no abs()"),
        (lambda denoiser, x, noise_var, row, col: 0.0, "Keep the parameter names"),
    ],
    "05.els_weights": [
        (lambda x, train, noise_var, k, row, col: _els_variant(x, train, noise_var, k, row, col, mode="constant"),
         "zero padding"),
        (lambda x, train, noise_var, k, row, col: _els_variant(x, train, noise_var, k, row, col, per_image=True),
         "one softmax per training image"),
        (lambda x, train, noise_var, k, row, col: _els_variant(x, train, noise_var, k, row, col, swap=True),
         "row and col swapped"),
        (lambda x, train, noise_var, k, row, col: _els_variant(x, train, noise_var, k, row, col,
                                                               first_channel=True), "first channel"),
        (lambda x, train, noise_var, k, row, col: _els_variant(x, train, noise_var, k, row, col,
                                                               transpose_out=True), "two axes swapped"),
    ],
    "05.admissible_mask": [
        (lambda height, width, k, row, col: torch.ones(height, width, dtype=torch.bool), "circular padding"),
        (lambda height, width, k, row, col: _mask_numpy(height, width, k, row, col, nearest_only=True),
         "nearest border only"),
        (lambda height, width, k, row, col: _mask_numpy(height, width, k, row, col, cap_shift=1), "off by one"),
        (lambda height, width, k, row, col: (torch.arange(height)[:, None] == row) & (torch.arange(width) == col),
         "only the same position"),
        (lambda height, width, k, row, col: _mask_padding_overlap(height, width, k, row, col).tolist(),
         "expected a torch.Tensor"),
        (lambda height, width, k, row, col: _mask_padding_overlap(height, width, k, row, col).T, "axes swapped"),
    ],
    "06.effective_field": [
        (lambda grad, row, col, fraction: _field_variant(grad, row, col, fraction, wrap=True), "slicing"),
        (lambda grad, row, col, fraction: _field_variant(grad, row, col, fraction, step=1), "odd side"),
        (lambda grad, row, col, fraction: _field_variant(grad, row, col, fraction, strict=True), "at least"),
        (lambda grad, row, col, fraction: _field_variant(grad, row, col, fraction) // 2, "half-width"),
        (lambda grad, row, col, fraction: _field_variant(grad, col, row, fraction), "swapped"),
    ],
    "06.network_denoise": [
        (lambda model, x, noise_var: _denoise_variant(model, x, noise_var, clamp=False), "clamp b"),
        (lambda model, x, noise_var: _denoise_variant(model, x, noise_var, square=True), "square roots"),
        (lambda model, x, noise_var: _denoise_variant(model, x, noise_var, divide=False), "divide by"),
        (lambda model, x, noise_var: model(x, noise_var), "noise prediction"),
    ],
    "06.diffusion_loss": [
        (lambda model, x0, noise_var, eps: _loss_variant(model, x0, noise_var, eps, no_grad=True), "no gradient"),
        (lambda model, x0, noise_var, eps: _loss_variant(model, x0, noise_var, eps, item=True), "not a number"),
        (lambda model, x0, noise_var, eps: _loss_variant(model, x0, noise_var, eps, batch_b=True),
         "one noise level for the whole batch"),
        (lambda model, x0, noise_var, eps: _loss_variant(model, x0, noise_var, eps, target=x0), "compared with x0"),
        (lambda model, x0, noise_var, eps: _loss_variant(model, x0, noise_var, eps, reduce="sum"), "sum instead"),
        (lambda model, x0, noise_var, eps: F.mse_loss(model(x0, noise_var), eps), "clean x0"),
    ],
    "07.pearson_r": [
        (lambda a, b: F.cosine_similarity((a - a.mean()).flatten(1), (b - b.mean()).flatten(1)),
         "one mean over the whole batch"),
        (lambda a, b: F.cosine_similarity(a.flatten(1), b.flatten(1)), "cosine similarity"),
        (lambda a, b: F.cosine_similarity((a - a.mean(0)).flatten(1), (b - b.mean(0)).flatten(1)),
         "across the batch"),
        (lambda a, b: ((a.flatten(1) - a.flatten(1).mean(1, keepdim=True))
                       * (b.flatten(1) - b.flatten(1).mean(1, keepdim=True))).mean(1)
         / (a.flatten(1).std(1) * b.flatten(1).std(1)), "torch.std"),
        (lambda a, b: _pearson_corrcoef(a, b) ** 2, "r squared"),
        (lambda a, b: _pearson_corrcoef(a, b).abs(), "the absolute value |r|"),
        (lambda a, b: _pearson_corrcoef(a - a.mean((2, 3), keepdim=True), b - b.mean((2, 3), keepdim=True)),
         "each channel centred by its own mean"),
        (lambda a, b: torch.stack([_pearson_corrcoef(a[:, c], b[:, c]) for c in range(a.shape[1])]).mean(0),
         "the mean of one r per channel"),
        (lambda a, b: torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1], "one r for the whole batch"),
    ],
    "07.calibrated_schedule": [
        (lambda similarity, ks: _schedule_variant(similarity, ks, middle="upper"), "upper middle"),
        (lambda similarity, ks: _schedule_variant(similarity, ks, middle="quantile"), "interpolated median"),
        (lambda similarity, ks: _schedule_variant(similarity, ks, index=True), "index of the best"),
        (lambda similarity, ks: _schedule_variant(similarity, ks, argmin=True), "argmin"),
        (lambda similarity, ks: torch.tensor(ks)[similarity.argmax(1)].double().mean(1), "mean over seeds"),
    ],
    "07.shifted_schedule": [
        (lambda ks, shift: torch.tensor(ks).roll(shift).tolist(), "wrapped around"),
        (lambda ks, shift: [ks[min(max(i + shift, 0), len(ks) - 1)] for i in range(len(ks))], "other way"),
        (lambda ks, shift: [ks[0]] * max(shift, 0) + list(ks[:len(ks) + min(shift, 0)]) + [ks[-1]] * max(-shift, 0)
         if shift <= 0 else [ks[0]] * shift + list(ks), "grew"),
        (lambda ks, shift: torch.tensor(ks).float().tolist(), "list of ints"),
    ],
    "08.count_runs": [
        (_runs_linear, "not circular"),
        (lambda profile: (profile[:, 1:] & ~profile[:, :-1]).sum(1), "starting at index 0 is missed"),
        (lambda profile: profile.sum(1), "True pixels"),
        (lambda profile: (profile != profile.roll(1, 1)).sum(1), "every change"),
        (lambda profile: (profile & ~profile.roll(1, 1)).sum(1) + profile.all(1).long(), "True everywhere"),
        (lambda profile: (profile & ~profile.roll(1, 1)).sum(1).float(), "whole numbers"),
    ],
    "08.not_five_rate": [
        (_rate_no_hand_is_five, "-1 (no hand)"),
        (lambda counts: (1 - _rate_numpy(counts)[0], _rate_numpy(counts)[1]), "1 - p"),
        (lambda counts: (_rate_numpy(counts)[0], _rate_numpy(counts)[1] ** 2), "square root"),
        (lambda counts: (_rate_numpy(counts)[0], math.sqrt(_rate_numpy(counts)[0] * (1 - _rate_numpy(counts)[0])
                                                           / (len(counts) - 1))), "n - 1"),
        (lambda counts: _rate_numpy(counts)[0], "return a tuple (rate, standard error)"),
        (lambda counts: (float((counts > 5).float().mean()),
                         math.sqrt(float((counts > 5).float().mean()) * (1 - float((counts > 5).float().mean()))
                                   / len(counts))), "more than five"),
    ],
    "09.self_attention": [
        (lambda tokens, wq, wk, wv: _attention_variant(tokens, wq, wk, wv, scale=1.0), "no 1 / sqrt(D)"),
        (lambda tokens, wq, wk, wv: _attention_variant(tokens, wq, wk, wv, scale=wq.shape[1]), "1 / D"),
        (lambda tokens, wq, wk, wv: _attention_variant(tokens, wq, wk, wv, scale=math.sqrt(tokens.shape[-1])),
         "sqrt(C)"),
        (lambda tokens, wq, wk, wv: _attention_variant(tokens, wq, wk, wv, dim=1), "wrong axis"),
        (lambda tokens, wq, wk, wv: _attention_variant(tokens, wq, wk, wv, naive=True), "overflows"),
    ],
    "09.ink_overlap": [
        (lambda sample, mosaic: _overlap_variant(sample, mosaic, ge=True), ">= 0"),
        (lambda sample, mosaic: _overlap_variant(sample, mosaic, swap=True), "kept and covered swapped"),
        (lambda sample, mosaic: _overlap_variant(sample, mosaic, clamp=False), "NaN"),
        (lambda sample, mosaic: _overlap_variant(sample, mosaic, union=True), "union"),
        (lambda sample, mosaic: _overlap_variant(sample, mosaic)[0], "return a tuple (kept, covered)"),
    ],
}

RIGHT = {
    "00.cosine_schedule": [_schedule_loop, _schedule_half_angle],
    "00.add_noise": [lambda x0, noise_var, eps: math.sqrt(1 - noise_var) * x0 + math.sqrt(noise_var) * eps,
                     _add_noise_right_2],
    "00.ideal_denoiser": [_softmax_loop_denoiser,
                          lambda x, train, noise_var: torch.softmax(
                              -((x[:, None] - (1 - noise_var) ** 0.5 * train) ** 2).sum(-1) / (2 * noise_var),
                              dim=-1) @ train],
    "01.laplacian": [_laplacian_loops, _laplacian_circular_conv],
    "01.gray_scott_step": [_gs_right_2, _gs_right_3],
    "01.growth_rate": [_growth_eigvals, _growth_complex_sqrt],
    "01.critical_ratio": [_ratio_quadratic, _ratio_bisection,
                          lambda jac: ((jac.det().sqrt() + (-jac[0, 1] * jac[1, 0]).sqrt()) / jac[0, 0]) ** 2],
    "02.count_digits": [_digits_loop, _digits_diff, _digits_tensor],
    "02.noflux_laplacian": [_noflux_loops, _noflux_conv],
    "03.ddim_step": [_ddim_via_snr, _ddim_tensor_ops],
    "03.effective_counts": [_counts_loops, _counts_einsum,
                            lambda xs, noise_vars, train: metrics.effective_counts(xs, noise_vars, train)],
    "03.held_out_rank": [_rank_loops, _rank_sorted,
                         lambda samples, train, held_out: metrics.held_out_rank(samples, train, held_out)],
    "04.influence_map": [_influence_loops, _influence_batched],
    "04.local_denoiser": [_local_loops, _local_einsum],
    "04.nonlocal_means": [_nlm_loops, _nlm_manual_softmax],
    "05.equivariance_error": [_equivariance_numpy, _equivariance_amax],
    "05.els_weights": [_els_loops, lambda x, train, noise_var, k, row, col: _els_variant(
        x, train, noise_var, k, row, col)],
    "05.admissible_mask": [_mask_padding_overlap, _mask_numpy],
    "06.effective_field": [_field_loop, _field_padded],
    "06.network_denoise": [_denoise_manual, _denoise_library_clamp],
    "06.diffusion_loss": [_loss_manual, _loss_loop],
    "07.pearson_r": [_pearson_corrcoef, _pearson_moments],
    "07.calibrated_schedule": [_schedule_sort, _schedule_list],
    "07.shifted_schedule": [_shift_loop, _shift_tensor],
    "08.count_runs": [_runs_loop, _runs_diff],
    "08.not_five_rate": [_rate_numpy, _rate_tensor],
    "09.self_attention": [_attention_sdpa, _attention_einsum],
    "09.ink_overlap": [_overlap_loop, _overlap_nan_to_num],
}


def _verdict(capsys, exercise_id, answer):
    check(exercise_id, notebook(answer))
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def _fresh_hints(monkeypatch):
    monkeypatch.setattr(core, "_failures", {})


def test_every_exercise_has_its_answer_lists():
    ids = {ex.id for ex in list_exercises()}
    assert set(WRONG) == ids and set(RIGHT) == ids
    assert all(len(WRONG[i]) >= 4 and len(RIGHT[i]) >= 2 for i in ids)
    assert all(len(ex.mistakes) >= 4 for ex in list_exercises())


@pytest.mark.parametrize("exercise_id, number", [(i, n) for i in sorted(WRONG) for n in range(len(WRONG[i]))])
def test_wrong_answers_are_rejected_and_named(capsys, exercise_id, number):
    answer, words = WRONG[exercise_id][number]
    out = _verdict(capsys, exercise_id, answer)
    assert out.startswith((f"[not yet] {exercise_id}", f"[error] {exercise_id}")), out
    assert words in out, out


@pytest.mark.parametrize("exercise_id, number", [(i, n) for i in sorted(RIGHT) for n in range(len(RIGHT[i]))])
def test_differently_written_right_answers_pass(capsys, exercise_id, number):
    out = _verdict(capsys, exercise_id, RIGHT[exercise_id][number])
    assert out.startswith(f"[passed] {exercise_id}"), out


@pytest.mark.parametrize("ex", list_exercises(), ids=lambda ex: ex.id)
def test_every_registered_mistake_is_caught_by_the_visible_check(capsys, ex):
    for mistake in ex.mistakes:
        out = _verdict(capsys, ex.id, mistake.answer)
        assert out.startswith(f"[not yet] {ex.id}") and f"this looks like: " in out, (mistake.says, out)
        assert mistake.says in out, (mistake.says, out)
