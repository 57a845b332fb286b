"""``slimlab-serve``: serve a model repository, or one engine file, over KServe v2 HTTP/REST.

    slimlab-serve --model-repository models/ --http-port 8000
    slimlab-serve --model model.slm --name mnist --http-port 8000 --max-batch-size 16 --max-queue-delay-us 500
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from serving.app import DEFAULT_MAX_REQUEST_BYTES, build_app
from serving.models import ModelManager
from serving.repository import DEFAULT_MAX_QUEUE_SIZE, DynamicBatching, ModelConfig
from serving.server import Server, uvicorn_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="slimlab-serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-repository", type=Path, help="a Triton-style repository: <name>/<version>/model.slm")
    src.add_argument("--model", type=Path, help="one engine file, served as version 1 of --name")
    p.add_argument("--name", help="the model's name with --model (default: the file's stem)")
    p.add_argument("--http-port", type=int, default=8000, help="0 picks a free port (logged)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds shutdown waits for open requests")
    q = p.add_argument_group("with --model (a repository's models take these from their config.json)")
    q.add_argument("--max-batch-size", type=int, help="0: no batching (default: 8 for a model with a "
                                                      "symbolic batch dim, else 0)")
    q.add_argument("--no-dynamic-batching", action="store_true", help="run each request on its own")
    q.add_argument("--max-queue-delay-us", type=int, default=0, help="how long a batch may wait to fill")
    q.add_argument("--preferred-batch-size", type=int, action="append", default=[],
                   help="a batch size to prefer (repeatable)")
    q.add_argument("--max-queue-size", type=int, default=DEFAULT_MAX_QUEUE_SIZE,
                   help="queued requests past which new ones get 503")
    q.add_argument("--timeout-us", type=int, default=0, help="default per-request queue timeout (0: none)")
    q.add_argument("--instances", type=int, help="engine sessions (default: planned from the cores)")
    q.add_argument("--threads", type=int, help="threads per session (default: planned from the cores)")
    return p


def quick_config(args: argparse.Namespace) -> ModelConfig:
    dynamic: DynamicBatching | bool | None = None  # the default: on, no delay, where the model can batch
    if args.no_dynamic_batching:
        dynamic = False
    elif args.preferred_batch_size or args.max_queue_delay_us:
        dynamic = DynamicBatching(tuple(sorted(set(args.preferred_batch_size))), args.max_queue_delay_us)
    return ModelConfig(name=args.name or args.model.stem, max_batch_size=args.max_batch_size,
                       dynamic_batching=dynamic, max_queue_size=args.max_queue_size,
                       default_timeout_us=args.timeout_us, instance_count=args.instances,
                       threads_per_instance=args.threads)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.model is not None:
        if not args.model.is_file():
            print(f"slimlab-serve: {args.model}: no such file", file=sys.stderr)
            return 2
        checks = [("--max-queue-size", args.max_queue_size, 1), ("--instances", args.instances, 1),
                  ("--threads", args.threads, 1), ("--max-batch-size", args.max_batch_size, 0),
                  ("--max-queue-delay-us", args.max_queue_delay_us, 0), ("--timeout-us", args.timeout_us, 0),
                  *(("--preferred-batch-size", v, 1) for v in args.preferred_batch_size)]
        for flag, value, least in checks:
            if value is not None and value < least:
                print(f"slimlab-serve: {flag} must be >= {least}, got {value}", file=sys.stderr)
                return 2
        manager = ModelManager.from_file(args.model, quick_config(args))
    else:
        if not args.model_repository.is_dir():
            print(f"slimlab-serve: {args.model_repository}: not a folder", file=sys.stderr)
            return 2
        manager = ModelManager.from_repository(args.model_repository)
    # one file: nothing to serve if it fails; a repository serves the models that loaded
    app = build_app(manager, max_request_bytes=args.max_request_bytes, exit_on_error=args.model is not None)
    server = Server(uvicorn_config(app, args.host, args.http_port, log_level=args.log_level,
                                   graceful_timeout_s=args.graceful_timeout), announce=True)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
