//! HTTP building blocks every service uses: the problem+json error envelope, request-id and
//! metrics middleware, health/readiness/metrics endpoints and the server itself.
pub mod health;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod server;
pub mod validation;

pub use json::Json;
pub use problem::{ApiError, FieldError};

/// The address of the client behind a request: the connection's peer, or, when the peer is one
/// of the server's trusted proxies (`application.trusted_proxies`), the last address the proxies
/// added to `X-Forwarded-For` (a client can write anything into that header itself, so it is
/// believed only from a proxy).
pub fn client_ip(req: &actix_web::HttpRequest) -> std::net::IpAddr {
    let trusted = req
        .app_data::<actix_web::web::Data<middleware::TrustedProxies>>()
        .map_or(&[][..], |t| t.0.as_slice());
    client_address(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

/// [`client_ip`] from the parts of a request (also used for the request's log span).
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    headers: &actix_web::http::header::HeaderMap,
    trusted_proxies: &[std::net::IpAddr],
) -> std::net::IpAddr {
    let Some(peer) = peer else {
        return std::net::IpAddr::from([0, 0, 0, 0]);
    };
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    // Proxies append: the right-most address not itself a trusted proxy is the client.
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .rev()
        .find(|a| !trusted_proxies.contains(a))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let (client, proxy, forged) = (
            "198.51.100.7".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "203.0.113.9",
        );
        // A client writing the header itself is still itself.
        assert_eq!(client_address(Some(client), &forwarded(forged), &[proxy]), client);
        // Behind the proxy: the right-most address the proxy appended.
        let chain = format!("{forged}, {client}");
        assert_eq!(client_address(Some(proxy), &forwarded(&chain), &[proxy]), client);
        assert_eq!(client_address(Some(proxy), &HeaderMap::new(), &[proxy]), proxy);
    }
}
