"""Typed, serialisable configuration.

Every run and every saved model carries one `RunConfig` (or its `ModelConfig` part) as YAML,
so a run directory says everything needed to reproduce it. There is no global config object:
configs are built here and passed explicitly to whatever needs them.

`knobs`: a field's rule, doc and version history in one `knob(...)`; `schema`: the dataclasses;
`files`: YAML, overrides and older configs; `reference`: docs/config.md from the knobs.
"""
from .files import (VERSION_KEY, apply_overrides, config_json, config_text, file_version,
                    from_dict, load_run_config, missing_keys, save_yaml, to_dict,
                    with_earlier_values)
from .knobs import MAX_SEED, ConfigError, Knob, Rule, check_fields, knob, leaves
from .schema import (CONFIG_VERSION, DEMO_EVAL_SAMPLES, DEMO_MINUTES, MAX_IMAGES, VERSIONS,
                     DataConfig, EncoderConfig, LossConfig, ModelConfig, OptimConfig, RunConfig,
                     RunSettings)

__all__ = ["CONFIG_VERSION", "DEMO_EVAL_SAMPLES", "DEMO_MINUTES", "MAX_IMAGES", "MAX_SEED",
           "VERSIONS", "VERSION_KEY", "ConfigError", "DataConfig", "EncoderConfig", "Knob",
           "LossConfig", "ModelConfig", "OptimConfig", "Rule", "RunConfig", "RunSettings",
           "apply_overrides", "check_fields", "config_json", "config_text", "file_version",
           "from_dict", "knob", "leaves", "load_run_config", "missing_keys", "save_yaml",
           "to_dict", "with_earlier_values"]
