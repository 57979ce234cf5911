"""Ablation studies: sweeps of recipe variants (``plan``, ``ablation``, ``runner``) and their
comparison (``compare``, ``plot``)."""
