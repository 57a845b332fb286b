"""An inference server for engine models (``slimlab-serve``): the KServe v2 protocol over HTTP/REST with
Triton's binary tensor extension, dynamic batching and a Triton-style model repository.

Modules: ``repository`` (repository scan, per-model config parsing and validation), ``batcher`` (the dynamic
batcher: bounded queue, batch formation, timeouts), ``instances`` (the instance/thread plan and the worker
threads that run engine sessions), ``models`` (model and version life cycle: load, reload, unload),
``protocol`` (KServe v2 request/response encoding incl. binary tensors), ``metrics`` (Prometheus),
``app`` (the ASGI routes), ``server`` (uvicorn around the app), ``cli`` (the ``slimlab-serve`` command),
``loadgen`` (the concurrency sweep) and ``overhead`` (server cost over a bare ``Session.run``).
"""
