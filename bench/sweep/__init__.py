"""One sweep end to end: compose and check the config, build prompts, run, write outputs."""
