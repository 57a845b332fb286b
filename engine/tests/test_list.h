// Every runtime test, run in this order by test_main.cpp. Each is defined
// with TEST(name) in the file named in its group; TEST defines the qualified
// slimtest::name declared from this list, so a test defined but not listed
// fails to compile and one listed but not defined fails to link.
#pragma once

#define SLIM_ENGINE_TESTS(X)                                      \
  /* test_loader.cpp */                                           \
  X(loader_reads_valid_model)                                     \
  X(loader_rejects_every_truncation)                              \
  X(loader_rejects_every_bit_flip_caught_by_crc)                  \
  X(loader_survives_every_bit_flip_with_fixed_crc)                \
  X(loader_rejects_random_bytes)                                  \
  X(loader_rejects_hostile_counts_and_offsets)                    \
  X(loader_widens_fp16_constants)                                 \
  X(loader_file_errors_name_the_path)                             \
  X(crc32_matches_zlib)                                           \
  X(loader_bounds_every_dim)                                      \
  X(loader_reads_subgraphs)                                       \
  X(loader_rejects_bad_subgraphs)                                 \
  /* test_planner.cpp */                                          \
  X(planner_reuses_dead_buffers)                                  \
  X(planner_never_overlaps_live_buffers)                          \
  X(planner_reaches_the_liveness_bound_where_first_use_order_cannot) \
  X(planner_live_peak_counts_buffers_alive_at_one_step)           \
  /* test_thread_pool.cpp */                                      \
  X(pool_covers_range_exactly_once)                               \
  X(pool_uses_several_threads)                                    \
  X(pool_concurrent_callers_are_correct)                          \
  X(pool_propagates_exceptions)                                   \
  X(pool_flushes_denormals)                                       \
  X(pool_workers_sleep_when_idle)                                 \
  /* test_session.cpp */                                          \
  X(session_matches_reference_for_several_batches_and_threads)    \
  X(session_rejects_bad_inputs_clearly)                           \
  X(session_propagates_nan)                                       \
  X(session_concurrent_runs_agree)                                \
  X(session_reports_unsupported_ops_and_isa)                      \
  X(session_rejects_bad_attributes_at_load)                       \
  X(session_isa_env_caps_but_never_raises)                        \
  X(session_runs_nhwc_ops_on_constant_inputs)                     \
  /* test_hardening.cpp */                                        \
  X(hardening_conv_attributes_are_range_checked)                  \
  X(hardening_memory_cap_refuses_at_plan_time)                    \
  X(hardening_threads_are_capped)                                 \
  X(hardening_empty_batch_gives_empty_outputs)                    \
  X(hardening_declared_dtypes_must_match_what_ops_produce)        \
  X(hardening_integer_edge_values_do_not_trap)                    \
  X(hardening_errors_name_the_node)
