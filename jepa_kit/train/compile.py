"""``train.compile``: how the trainer hands a network to ``torch.compile``.

With ``method.length_bucket`` a method's batches come in a few fixed shapes, and each shape
gets its own static graph (what ``fullgraph`` compilation and CUDA graphs want) instead of the
dynamic-shape graph torch builds after its second shape. Dynamo gives up compiling a function
after 8 graphs by default and runs the rest eagerly; a 224 px recipe padded to multiples of 8
sees about 9 shapes, so the limit is raised for static runs (benchmarks/bench_fixed_shapes.py
counts the shapes per bucket size).
"""

from __future__ import annotations

import torch
from torch import nn

#: Graphs per compiled function allowed when shapes are static: every bucket pair of a
#: recipe, with room to spare (bucket 8 at 224 px: 9 pairs over 200 batches).
STATIC_RECOMPILE_LIMIT = 64


def compile_network(net: nn.Module, *, static: bool, backend: str | None = None,
                    mode: str | None = None) -> nn.Module:
    """``torch.compile(net)``; with ``static``, one static-shape graph per input shape.

    ``backend`` and ``mode`` go to ``torch.compile`` when given (the benchmarks' GPU check
    compiles with ``mode="reduce-overhead"``, CUDA graphs over each static shape); the
    trainer leaves both at torch's defaults (inductor). Compiled kernels land in inductor's
    on-disk cache (``TORCHINDUCTOR_CACHE_DIR``; torch's FX-graph and AOT-autograd caches are
    on by default), so a second run of the same shapes skips most of the compilation.
    """
    options: dict[str, object] = {}
    if backend is not None:
        options["backend"] = backend
    if mode is not None:
        options["mode"] = mode
    if not static:
        return torch.compile(net, **options)  # type: ignore[return-value, call-overload]
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, STATIC_RECOMPILE_LIMIT)
    return torch.compile(net, dynamic=False, **options)  # type: ignore[return-value, call-overload]
