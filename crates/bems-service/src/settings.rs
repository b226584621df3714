//! Settings: the tenant configuration of the seed page, from TOML and the environment, validated.
