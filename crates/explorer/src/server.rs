//! The HTTP side: the page at `/`, the snapshot at `/api/snapshot`.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use tokio::sync::Mutex;

use crate::{ExplorerError, Reader, Result};

/// The page: one HTML file with its script and style inline, nothing fetched but `/api/…`.
pub const PAGE: &str = include_str!("page/index.html");

/// The explorer's routes over `reader`: `GET /` (the page), `GET /api/snapshot` (a
/// [`crate::Snapshot`] as JSON, or `502 {"error": …, "retryable": …}` when a chain read
/// failed). Snapshots are read one at a time (a poll waits for the one in flight).
pub fn router(reader: Reader) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/snapshot", get(snapshot))
        .with_state(Arc::new(Mutex::new(reader)))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn snapshot(State(reader): State<Arc<Mutex<Reader>>>) -> Response {
    let read = reader.lock().await.snapshot().await;
    let mut response = match read {
        Ok(s) => Json(s).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "explorer: snapshot failed");
            (
                StatusCode::BAD_GATEWAY,
                Json(serde_json::json!({
                    "error": e.to_string(),
                    "retryable": e.is_retryable(),
                })),
            )
                .into_response()
        }
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// A bound explorer, not yet serving: bind first to learn the address (port 0 picks a free
/// one), then [`Explorer::serve`].
pub struct Explorer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Explorer {
    /// Binds `addr` for `reader`; [`ExplorerError::Bind`] if the address is taken or not
    /// ours.
    pub async fn bind(addr: SocketAddr, reader: Reader) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ExplorerError::Bind { addr, source })?;
        Ok(Explorer {
            listener,
            router: router(reader),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(ExplorerError::Serve)
    }

    /// Serves until `shutdown` completes (e.g. Ctrl-C), then finishes the requests in
    /// flight.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ExplorerError::Serve)
    }
}
