"""The bundled C++ inference engine (runtime, kernels) and its Python binding."""
