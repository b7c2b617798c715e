"""Neural-network building blocks, shaped like ``torch.nn``: Module, Parameter, layers, losses, init.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> loss = nn.CrossEntropyLoss()(model(tc.ones(2, 4)), tc.Tensor([0, 2]))
>>> loss.backward()
>>> model[0].weight.grad.shape
(8, 4)
"""

from . import init
from .activation import CELU, GLU, SELU, Hardsigmoid, Hardswish, LogSigmoid, Mish, PReLU, Softsign
from .container import ModuleDict, ParameterDict, ParameterList
from .layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    Hardtanh,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    MaxUnpool2d,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import Identity, IncompatibleKeys, Module, ModuleList, Parameter, Sequential
from .normalization import GroupNorm, LayerNorm
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .sparse import Embedding
from .upsampling import AdaptiveMaxPool2d, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = ["CELU", "GLU", "SELU", "Hardsigmoid", "Hardswish", "LogSigmoid", "Mish", "PReLU", "Softsign",
           "BCELoss", "CosineSimilarity", "HuberLoss", "KLDivLoss", "L1Loss", "SmoothL1Loss",
           "Embedding", "GroupNorm", "LayerNorm", "ModuleDict", "ParameterDict", "ParameterList",
           "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell",
           "AdaptiveMaxPool2d", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
           "ELU", "GELU", "AdaptiveAvgPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
           "Conv2d", "ConvTranspose2d", "CrossEntropyLoss", "Dropout", "Flatten", "Hardtanh", "Identity",
           "IncompatibleKeys", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "MaxUnpool2d", "Module",
           "ModuleList", "NLLLoss", "Parameter", "ReLU", "ReLU6", "Sequential", "SiLU", "Sigmoid", "Softmax",
           "Softplus", "Tanh", "init"]
