"""Benchmarks of engine ops against ONNX Runtime, side by side in one interleaved run (scripts that print figures,
not timed tests): ``python -m measure.benchmarks.<name> --help``. They live above ``export`` because they convert
the models they time; the engine's own C++ kernel benchmark is engine/bench/kernels_bench.cpp."""
