"""ModuleDict, ParameterList and ParameterDict, as in ``torch.nn``: containers whose entries the
parent module registers (so ``parameters()``, ``state_dict()`` and ``to()`` see them).

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 2)})
>>> [name for name, _ in heads.named_parameters()]
['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
>>> scales = nn.ParameterList([nn.Parameter(tc.ones(2)) for _ in range(3)])
>>> len(list(scales.parameters())), scales[1].shape
(3, (2,))
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module, Parameter


def _pairs(values: Any, what: str) -> list[tuple[str, Any]]:
    if isinstance(values, Mapping) or isinstance(values, (ModuleDict, ParameterDict)):
        return list(values.items())
    try:
        pairs = [tuple(p) for p in values]
    except TypeError:
        raise TypeError(f"{what}.update: expected a mapping or an iterable of (key, value) pairs, got "
                        f"{type(values).__name__}") from None
    for i, p in enumerate(pairs):
        if len(p) != 2:
            raise ValueError(f"{what}.update: element #{i} of the iterable has length {len(p)}; 2 is required "
                             "(key, value)")
    return pairs  # type: ignore[return-value]  # checked above: each has 2 entries


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        module = self._modules.get(key)
        if key not in self._modules or module is None:
            raise KeyError(key)
        return module

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: values must be Modules, got {type(module).__name__} for key {key!r}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def keys(self) -> list[str]:
        return list(self._modules)

    def items(self) -> list[tuple[str, Module]]:
        return [(k, m) for k, m in self._modules.items() if m is not None]

    def values(self) -> list[Module]:
        return [m for m in self._modules.values() if m is not None]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        for key, module in _pairs(modules, "ModuleDict"):
            self[key] = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(): look up its modules in your model's forward")


def _as_parameter(value: Any, where: str) -> Any:
    """Tensors become Parameters (as in PyTorch); other values are kept as plain attributes."""
    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, Tensor):
        return Parameter(value._data)
    return value


class ParameterList(Module):
    """A list of parameters, registered as '0', '1', ...; plain Tensors become Parameters."""

    _size: int

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self.__dict__["_size"] = 0
        if values is not None:
            self.extend(values)

    def _set(self, index: int, value: Any) -> None:
        value = _as_parameter(value, "ParameterList")
        name = str(index)
        if name in self._parameters and (isinstance(value, Parameter) or value is None):
            self._parameters[name] = value  # replaced in place: the entries keep their order
            object.__setattr__(self, name, value)
        elif isinstance(value, Parameter) or value is None:
            self.register_parameter(name, value)
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList([getattr(self, str(i)) for i in range(self._size)[index]])
        if not -self._size <= index < self._size:
            raise IndexError(f"ParameterList index {index} is out of range for {self._size} entries")
        return getattr(self, str(index % self._size))

    def __setitem__(self, index: int, value: Any) -> None:
        if not -self._size <= index < self._size:
            raise IndexError(f"ParameterList index {index} is out of range for {self._size} entries")
        self._set(index % self._size, value)

    def __len__(self) -> int:
        return int(self._size)

    def __iter__(self) -> Iterator[Any]:
        return iter([getattr(self, str(i)) for i in range(self._size)])

    def append(self, value: Any) -> ParameterList:
        self._set(self._size, value)
        self.__dict__["_size"] = self._size + 1
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        lines = []
        for i, p in enumerate(self):
            if isinstance(p, Tensor):
                lines.append(f"  ({i}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]")
            else:
                lines.append(f"  ({i}): Object of type: {type(p).__name__}")
        return "\n".join(lines)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterList has no forward(): use its parameters in your model's forward")


class ParameterDict(Module):
    """An ordered dict of parameters registered under their keys; plain Tensors become Parameters."""

    _keys: dict[str, None]

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        self.__dict__["_keys"] = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict: keys must be strings, got {type(key).__name__}")
        value = _as_parameter(value, "ParameterDict")
        if isinstance(value, Parameter) or value is None:
            self.register_parameter(key, value)
        else:
            self._forget(key)
            object.__setattr__(self, key, value)
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        if key not in self._keys:
            raise KeyError(key)
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> list[str]:
        return list(self._keys)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._keys]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add or replace entries. As in PyTorch, a plain dict's entries go in sorted by key; an
        OrderedDict, a ParameterDict or a sequence of pairs keeps its order."""
        pairs = _pairs(parameters, "ParameterDict")
        if isinstance(parameters, Mapping) and not isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = sorted(pairs, key=lambda kv: kv[0])
        for key, value in pairs:
            self[key] = value

    def extra_repr(self) -> str:
        lines = []
        for k, p in self.items():
            if isinstance(p, Tensor):
                lines.append(f"  ({k}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(p).__name__}")
        return "\n".join(lines)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterDict has no forward(): use its parameters in your model's forward")
