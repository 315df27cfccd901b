"""The learning-rate schedules of the shared loop: transformers' for the standard ones, the step decay by hand."""

import math

import pytest
import torch

from videozoo.training import TrainerArguments, _build_scheduler


def learning_rates(steps: int, **arguments) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = _build_scheduler(optimizer, TrainerArguments(**arguments), total_steps=steps)
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def test_step_decay_counts_from_step_zero_after_the_warmup():
    rates = learning_rates(8, lr_scheduler_type="step", lr_step_size=3, lr_gamma=0.5)
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert learning_rates(5, lr_scheduler_type="step", lr_step_size=3, lr_gamma=0.5, warmup_steps=2)[:3] == [
        0.0,
        0.5,
        1.0,
    ]


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine"])
def test_standard_schedules_warm_up_then_follow_their_shape(kind):
    steps, warmup = 10, 2
    rates = learning_rates(steps, lr_scheduler_type=kind, warmup_steps=warmup)
    for step, rate in enumerate(rates):
        progress = (step - warmup) / (steps - warmup)
        expected = {
            "constant": 1.0,
            "linear": 1.0 - progress,
            "cosine": 0.5 * (1.0 + math.cos(math.pi * progress)),
        }[kind]
        if step < warmup:
            expected = step / warmup
        assert rate == pytest.approx(expected, abs=1e-12), (kind, step)
