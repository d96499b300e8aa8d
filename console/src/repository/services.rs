//! The four services' public APIs, as the console calls them: with the operator's access token,
//! or the ingest key for the simulate panel; never their databases.
use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

use crate::configuration::ConsoleSettings;
use crate::domain::platform::{
    Activity, Batch, Page, Product, RankedRow, Ranking, RecentAction, RecentActions, Recommendations, Scored,
    Series, Summary, Tokens, User,
};

/// The services, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Users,
    Products,
    Recommender,
    Analytics,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Users,
        Service::Products,
        Service::Recommender,
        Service::Analytics,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Users => "users",
            Service::Products => "products",
            Service::Recommender => "recommender",
            Service::Analytics => "analytics",
        }
    }
}

/// Why a call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The token is refused (expired or revoked session): back to the login page.
    #[error("the session is no longer valid")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Unreachable, too slow, or answering 5xx: the page says which service.
    #[error("{} is unavailable: {reason}", service.name())]
    Unavailable { service: Service, reason: String },
    /// A 4xx the console did not expect (its detail is shown).
    #[error("{} refused the request ({status}): {detail}", service.name())]
    Rejected {
        service: Service,
        status: u16,
        detail: String,
    },
}

/// The services' base URLs and one HTTP client.
#[derive(Clone)]
pub struct Services {
    http: reqwest::Client,
    urls: HashMap<Service, String>,
    ingest_key: Option<SecretString>,
}

impl Services {
    /// From the console's settings.
    pub fn new(settings: &ConsoleSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout())
            .connect_timeout(settings.request_timeout())
            .pool_idle_timeout(Duration::from_secs(2))
            .build()?;
        let urls = [
            (Service::Users, &settings.users_url),
            (Service::Products, &settings.products_url),
            (Service::Recommender, &settings.recommender_url),
            (Service::Analytics, &settings.analytics_url),
        ]
        .into_iter()
        .map(|(s, u)| (s, u.trim_end_matches('/').to_owned()))
        .collect();
        let ingest_key = Some(settings.ingest_key.clone()).filter(|k| !k.expose_secret().is_empty());
        Ok(Self {
            http,
            urls,
            ingest_key,
        })
    }

    /// True when the simulate panel can post actions.
    pub fn can_simulate(&self) -> bool {
        self.ingest_key.is_some()
    }

    fn url(&self, service: Service, path: &str) -> String {
        format!("{}{path}", self.urls[&service])
    }

    fn request(&self, service: Service, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(service, path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends, mapping a failure to reach the service to [`CallError::Unavailable`].
    async fn send(&self, service: Service, request: RequestBuilder) -> Result<Response, CallError> {
        request.send().await.map_err(|e| CallError::Unavailable {
            service,
            reason: without_url(&e),
        })
    }

    /// Sends and decodes, mapping statuses to [`CallError`].
    async fn call<T: DeserializeOwned>(
        &self,
        service: Service,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        let response = self.send(service, request).await?;
        if !response.status().is_success() {
            return Err(refusal(service, response).await);
        }
        response.json::<T>().await.map_err(|e| CallError::Unavailable {
            service,
            reason: format!("unreadable answer: {}", without_url(&e)),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        service: Service,
        path: &str,
        token: Option<&str>,
    ) -> Result<T, CallError> {
        self.call(service, self.request(service, Method::GET, path, token))
            .await
    }

    /// Whether a service's `/health` answers.
    pub async fn alive(&self, service: Service) -> Result<(), CallError> {
        self.get::<serde_json::Value>(service, "/health", None)
            .await
            .map(|_| ())
    }

    /// A service's `/metrics` text.
    pub async fn metrics(&self, service: Service) -> Result<String, CallError> {
        let response = self
            .send(service, self.request(service, Method::GET, "/metrics", None))
            .await?;
        if !response.status().is_success() {
            return Err(refusal(service, response).await);
        }
        response.text().await.map_err(|e| CallError::Unavailable {
            service,
            reason: without_url(&e),
        })
    }

    /// Starts a session (401 for wrong credentials).
    pub async fn login(&self, email: &str, password: &str) -> Result<Tokens, CallError> {
        let body = json!({"email": email, "password": password});
        let request = self
            .request(Service::Users, Method::POST, "/api/v1/auth/login", None)
            .json(&body);
        self.call(Service::Users, request).await
    }

    /// Ends the token's session (the users service revokes it everywhere; a token it refuses
    /// has no session left to end).
    pub async fn logout(&self, token: &str) -> Result<(), CallError> {
        let request = self
            .request(Service::Users, Method::POST, "/api/v1/auth/logout", Some(token))
            .json(&json!({}));
        let response = self.send(Service::Users, request).await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            _ => Err(refusal(Service::Users, response).await),
        }
    }

    pub async fn user(&self, token: &str, id: Uuid) -> Result<User, CallError> {
        self.get(Service::Users, &format!("/api/v1/users/{id}"), Some(token))
            .await
    }

    /// The account with this e-mail address, if any.
    pub async fn user_by_email(&self, token: &str, email: &str) -> Result<Option<User>, CallError> {
        let request = self
            .request(Service::Users, Method::GET, "/api/v1/users", Some(token))
            .query(&[("email", email)]);
        let page: Page<User> = self.call(Service::Users, request).await?;
        Ok(page.items.into_iter().next())
    }

    /// A page of accounts in creation order.
    pub async fn users(
        &self,
        token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<User>, CallError> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(cursor.map(|c| ("cursor", c.to_owned())));
        let request = self
            .request(Service::Users, Method::GET, "/api/v1/users", Some(token))
            .query(&query);
        self.call(Service::Users, request).await
    }

    /// Posts one action as `user` with the ingest key.
    pub async fn post_action(&self, user: Uuid, product: Uuid, action: &str) -> Result<(), CallError> {
        let Some(key) = &self.ingest_key else {
            return Err(CallError::Forbidden);
        };
        let body = json!({"product_id": product, "action": action});
        let request = self
            .request(
                Service::Users,
                Method::POST,
                &format!("/api/v1/users/{user}/actions"),
                None,
            )
            .header("X-API-Key", key.expose_secret())
            .json(&body);
        let response = self.send(Service::Users, request).await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            // The key, not the operator's session, was refused.
            StatusCode::UNAUTHORIZED => Err(CallError::Forbidden),
            _ => Err(refusal(Service::Users, response).await),
        }
    }

    /// A page of the catalogue, optionally one category.
    pub async fn products(
        &self,
        category: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Product>, CallError> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(category.map(|c| ("category", c.to_owned())));
        query.extend(cursor.map(|c| ("cursor", c.to_owned())));
        let request = self
            .request(Service::Products, Method::GET, "/api/v1/products", None)
            .query(&query);
        self.call(Service::Products, request).await
    }

    pub async fn product(&self, id: Uuid) -> Result<Product, CallError> {
        self.get(Service::Products, &format!("/api/v1/products/{id}"), None)
            .await
    }

    /// The products among `ids` that exist, by id (at most 200 per call).
    pub async fn products_by_id(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Product>, CallError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(200) {
            let joined: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
            let request = self
                .request(Service::Products, Method::GET, "/api/v1/products:batch", None)
                .query(&[("ids", joined.join(","))]);
            let batch: Batch = self.call(Service::Products, request).await?;
            found.extend(batch.items.into_iter().map(|p| (p.id, p)));
        }
        Ok(found)
    }

    pub async fn recommendations(
        &self,
        token: &str,
        user: Uuid,
        limit: u32,
    ) -> Result<Recommendations, CallError> {
        self.get(
            Service::Recommender,
            &format!("/api/v1/users/{user}/recommendations?limit={limit}"),
            Some(token),
        )
        .await
    }

    pub async fn similar(&self, token: &str, product: Uuid, limit: u32) -> Result<Vec<Scored>, CallError> {
        self.get(
            Service::Recommender,
            &format!("/api/v1/products/{product}/similar?limit={limit}"),
            Some(token),
        )
        .await
    }

    /// A user's activity totals; `None` before their first action.
    pub async fn activity(&self, token: &str, user: Uuid) -> Result<Option<Activity>, CallError> {
        match self
            .get(
                Service::Analytics,
                &format!("/api/v1/analytics/users/{user}"),
                Some(token),
            )
            .await
        {
            Ok(activity) => Ok(Some(activity)),
            Err(CallError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn recent_actions(
        &self,
        token: &str,
        user: Uuid,
        limit: u32,
    ) -> Result<Vec<RecentAction>, CallError> {
        let path = format!("/api/v1/analytics/users/{user}/events?limit={limit}");
        let recent: RecentActions = self.get(Service::Analytics, &path, Some(token)).await?;
        Ok(recent.items)
    }

    /// A product's statistics over `window` in `bucket`s.
    pub async fn product_series(
        &self,
        token: &str,
        product: Uuid,
        window: &str,
        bucket: &str,
    ) -> Result<Series, CallError> {
        let path = format!("/api/v1/analytics/products/{product}?window={window}&bucket={bucket}");
        self.get(Service::Analytics, &path, Some(token)).await
    }

    /// Products (or categories) ranked by `metric` over `window`.
    pub async fn top(
        &self,
        token: &str,
        categories: bool,
        metric: &str,
        window: &str,
        limit: u32,
    ) -> Result<Vec<RankedRow>, CallError> {
        let what = if categories { "categories" } else { "products" };
        let path = format!("/api/v1/analytics/{what}/top?metric={metric}&window={window}&limit={limit}");
        let ranking: Ranking = self.get(Service::Analytics, &path, Some(token)).await?;
        Ok(ranking.items)
    }

    pub async fn summary(&self, token: &str, window: &str) -> Result<Summary, CallError> {
        self.get(
            Service::Analytics,
            &format!("/api/v1/analytics/summary?window={window}"),
            Some(token),
        )
        .await
    }
}

/// What a service's non-success answer means for the console (5xx: unavailable; any other
/// unexpected status: refused, with the problem's detail).
async fn refusal(service: Service, response: Response) -> CallError {
    match response.status() {
        StatusCode::UNAUTHORIZED => CallError::Unauthorized,
        StatusCode::FORBIDDEN => CallError::Forbidden,
        StatusCode::NOT_FOUND => CallError::NotFound,
        s if s.is_server_error() => CallError::Unavailable {
            service,
            reason: format!("answered {s}"),
        },
        s => CallError::Rejected {
            service,
            status: s.as_u16(),
            detail: response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        },
    }
}

/// An HTTP error without the URL (it may hold query values): its kind and cause.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "connection refused"
    } else if error.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    };
    let cause = std::error::Error::source(error)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("{kind}{cause}")
}
