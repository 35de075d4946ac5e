//! `--check-config`: config, certificates and whitelist checked, every problem listed.
