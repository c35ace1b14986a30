"""One module per legality rule; ``MODULES`` is the explicit list ``load_rules`` imports."""

MODULES = (
    "technique_bottleneck",     # PLN201
    "technique_layer",          # PLN202
    "quality_trade_review",     # PLN203
    "activation_calibration",   # PLN204
    "fallback_switch",          # PLN205
    "target_support",           # PLN206
    "production_shapes",        # PLN207
    "parity_coverage",          # PLN208
    "tuning_budget",            # PLN209
    "baseline_telemetry",       # PLN210
    "batching_slo",             # PLN211
    "prefix_reuse_scope",       # PLN212
    "speculation_evidence",     # PLN213
    "layer_conflict",           # PLN214
    "missing_reference",        # PLN215
    "model_digest",             # PLN216
    "waivers",                  # PLN217, PLN218, PLN219
    "reference_location",       # PLN220
    "placeholder_text",         # PLN221
    "torch_export",             # PLN222
    "envelope_bounds",          # PLN223
    "model_signature",          # PLN224
    "records_target",           # PLN225
)
