//! Tokens signed with the development key, as the services accept them in tests.
use uuid::Uuid;

/// The development signing key of `users/configuration/base.yaml` (refused in production), so
/// that tests and benchmarks of every service can sign tokens the services accept.
pub const DEV_SIGNING_KEYS: &str = "dev=MC4CAQAwBQYDK2VwBCIEIOC97OxrqW3LEwmAt9gU8dfvXiFzi5lTIPHqtrU40qhW";

/// A token of `user` with `role` in a session of its own, signed with the development key.
pub fn dev_token(user: Uuid, role: crate::auth::Role) -> String {
    dev_token_in(user, role, Uuid::now_v7())
}

/// A token of `user` with `role` in `session`, signed with the development key.
pub fn dev_token_in(user: Uuid, role: crate::auth::Role, session: Uuid) -> String {
    let settings = crate::auth::AuthSettings {
        signing_keys: DEV_SIGNING_KEYS.to_owned().into(),
        verification_keys: String::new(),
        jwks_url: String::new(),
        jwks_refresh_seconds: 60,
        access_token_ttl_seconds: 3600,
        ingest_keys: String::new().into(),
        read_keys: String::new().into(),
    };
    let issuer = crate::auth::Authenticator::new(&settings).expect("the development key is valid");
    issuer
        .issue(user, role, session)
        .expect("the development key signs")
        .0
}
