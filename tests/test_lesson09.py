"""Lesson 09's exercises: the references are right, and typical mistakes are caught."""
import torch

from course_utils.grading import check
from course_utils.grading.lesson09 import ink_overlap, self_attention


def test_self_attention_matches_torch_single_head():
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(3, 10, 6, generator=gen, dtype=torch.float64)
    wq, wk, wv = (torch.randn(6, 6, generator=gen, dtype=torch.float64) for _ in range(3))
    layer = torch.nn.MultiheadAttention(6, 1, bias=False, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.in_proj_weight.copy_(torch.cat([wq.T, wk.T, wv.T]))
        layer.out_proj.weight.copy_(torch.eye(6, dtype=torch.float64))
    expected, _ = layer(tokens, tokens, tokens, need_weights=False)
    assert torch.allclose(self_attention(tokens, wq, wk, wv), expected, atol=1e-12)


def test_self_attention_sees_every_position():
    tokens = torch.randn(1, 12, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    eye = torch.eye(4)
    self_attention(tokens, eye, eye, eye)[0, 0].sum().backward()
    assert (tokens.grad[0].abs().sum(dim=1) > 0).all()


def test_self_attention_check_catches_mistakes(capsys):
    def unscaled(tokens, wq, wk, wv):
        q, k, v = tokens @ wq, tokens @ wk, tokens @ wv
        return torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v

    def naive_exp(tokens, wq, wk, wv):
        q, k, v = tokens @ wq, tokens @ wk, tokens @ wv
        w = torch.exp(q @ k.transpose(1, 2) / wq.shape[1] ** 0.5)
        return (w / w.sum(-1, keepdim=True)) @ v

    for answer in (unscaled, naive_exp):  # as if defined in a notebook cell: check refuses others
        answer.__module__ = "__main__"
    check("09.self_attention", self_attention)
    assert capsys.readouterr().out.startswith("[passed]")
    check("09.self_attention", unscaled)
    assert capsys.readouterr().out.startswith("[not yet] 09.self_attention on case 1")
    check("09.self_attention", naive_exp)
    out = capsys.readouterr().out
    assert out.startswith("[not yet]") and "case 4" in out and "NaN" in out


def test_ink_overlap_by_hand():
    mosaic = -torch.ones(2, 1, 4, 4)
    mosaic[:, :, 1:3, :] = 1  # 8 ink pixels
    sample = -torch.ones(2, 1, 4, 4)
    sample[0, :, 1, :] = 1    # 4 pixels, all inside the mosaic's ink
    sample[1, :, 0:2, :2] = 1  # 4 pixels, 2 of them inside
    kept, covered = ink_overlap(sample, mosaic)
    assert torch.allclose(kept, torch.tensor([1.0, 0.5], dtype=kept.dtype))
    assert torch.allclose(covered, torch.tensor([0.5, 0.25], dtype=covered.dtype))


def test_ink_overlap_check_catches_swapped_ratios(capsys):
    def swapped(sample, mosaic):
        return ink_overlap(mosaic, sample)
    swapped.__module__ = "__main__"  # as if defined in a notebook cell
    check("09.ink_overlap", swapped)
    out = capsys.readouterr().out
    assert out.startswith("[not yet] 09.ink_overlap") and "kept and covered swapped" in out
