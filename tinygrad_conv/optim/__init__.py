"""Optimisers (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta) and learning-rate schedules, with PyTorch's update rules.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn, optim
>>> model = nn.Linear(3, 1)
>>> opt = optim.AdamW(model.parameters(), lr=1e-2)
>>> loss = (model(tc.ones(4, 3)) ** 2).mean()
>>> loss.backward()
>>> opt.step()
>>> opt.zero_grad()
>>> model.weight.grad is None
True
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
