"""Session-wide test settings."""

from __future__ import annotations

import os
import tempfile

import torch

# latency measured by tests (NetAdapt, cached measure steps) goes to a throwaway cache, never the user's
os.environ.setdefault("SLIMLAB_CACHE_DIR", tempfile.mkdtemp(prefix="slimlab-test-latency-"))

# Tests use small tensors on a 2-core machine: one intra-op thread avoids oversubscription
# (MobileViT forward: 3.7 s with the default pool vs 0.19 s with one thread under load).
torch.set_num_threads(1)
