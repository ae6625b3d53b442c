//! A small HTTP proxy of ours in front of moto_server that fails chosen AWS
//! calls a chosen number of times, the way AWS does when it throttles, errs
//! or has not yet seen what it just created. It also records every call, so
//! a test can tell which (and how many mutating) calls a command made.
//!
//! Calls are named by their action: `Action=` of the query protocols (EC2,
//! RDS, SES), `X-Amz-Target` of the JSON ones (Secrets Manager), and
//! `route53:METHOD /path-without-ids` for Route53's REST API and
//! `s3:METHOD /bucket[/key][?sub-resource]` for S3's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::Error;

/// A fault to inject.
#[derive(Debug, Clone)]
struct Fault {
    remaining: u32,
    status: u16,
    code: String,
}

#[derive(Debug, Default)]
struct Shared {
    faults: HashMap<String, Fault>,
    calls: Vec<String>,
    injected: Vec<String>,
    /// After this call has been answered, every call is refused: the
    /// process making them is as good as killed right after it.
    stop_after: Option<String>,
    /// Or after this many mutating calls have been answered.
    stop_after_mutating: Option<usize>,
    mutating_answered: usize,
    stopped: bool,
    /// Once this many calls have come in, every later one is held
    /// unanswered until [`FaultProxy::heal`]: the caller hangs, and the
    /// test kills it at exactly that moment.
    hold_after_calls: Option<usize>,
    /// How many calls are being held.
    held: usize,
}

#[derive(Debug, Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
}

/// The fault-injecting proxy, on a free loopback port until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    served: crate::served::Served,
    shared: Arc<Mutex<Shared>>,
}

/// Calls that change something, by the prefix of their action's name.
const MUTATING: &[&str] = &[
    "Create",
    "Delete",
    "Modify",
    "Authorize",
    "Revoke",
    "Associate",
    "Disassociate",
    "Attach",
    "Detach",
    "Allocate",
    "Release",
    "Run",
    "Terminate",
    "Put",
    "Verify",
    "Change",
    "Replace",
    "Copy",
    "Start",
    "Stop",
    "secretsmanager.Create",
    "secretsmanager.Restore",
    "secretsmanager.Delete",
    "secretsmanager.Put",
    "Add",
    "Remove",
    "s3:PUT",
    "s3:POST",
    "s3:DELETE",
    "route53:POST",
    "route53:DELETE",
];

impl FaultProxy {
    /// A proxy forwarding to `upstream` (e.g. moto's endpoint).
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            shared: Arc::clone(&shared),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let served = crate::served::Served::plain(app).await?;
        Ok(Self { served, shared })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.served.port())
    }

    /// Fails the next `times` calls of `action` with `status` and AWS error `code`.
    pub fn fail(&self, action: &str, times: u32, status: u16, code: &str) {
        self.shared.lock().expect("proxy lock").faults.insert(
            action.to_owned(),
            Fault {
                remaining: times,
                status,
                code: code.to_owned(),
            },
        );
    }

    /// Every call seen, in order.
    pub fn calls(&self) -> Vec<String> {
        self.shared.lock().expect("proxy lock").calls.clone()
    }

    /// The calls that changed something.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| is_mutating(call))
            .collect()
    }

    /// The calls that were failed on purpose.
    pub fn injected(&self) -> Vec<String> {
        self.shared.lock().expect("proxy lock").injected.clone()
    }

    /// Refuses every call after the first successful `call` (as named in
    /// [`FaultProxy::calls`]), as if the caller had been killed right after
    /// it returned; the refusal is a client error, which nobody retries.
    pub fn stop_after(&self, call: &str) {
        let mut shared = self.shared.lock().expect("proxy lock");
        shared.stop_after = Some(call.to_owned());
        shared.stopped = false;
    }

    /// Refuses every call after the `n`th mutating call has been answered
    /// (counting from now): a kill right after that call returned.
    pub fn stop_after_mutating(&self, n: usize) {
        let mut shared = self.shared.lock().expect("proxy lock");
        shared.stop_after_mutating = Some(n);
        shared.mutating_answered = 0;
        shared.stopped = false;
    }

    /// Holds every call after the next `n` unanswered (see
    /// [`FaultProxy::held`]), until [`FaultProxy::heal`].
    pub fn hold_after_calls(&self, n: usize) {
        let mut shared = self.shared.lock().expect("proxy lock");
        let seen = shared.calls.len();
        shared.hold_after_calls = Some(seen + n);
    }

    /// How many calls are held now.
    pub fn held(&self) -> usize {
        self.shared.lock().expect("proxy lock").held
    }

    /// Forwards every call again.
    pub fn heal(&self) {
        let mut shared = self.shared.lock().expect("proxy lock");
        shared.hold_after_calls = None;
        shared.stop_after = None;
        shared.stop_after_mutating = None;
        shared.mutating_answered = 0;
        shared.stopped = false;
        shared.faults.clear();
    }

    pub fn clear(&self) {
        let mut shared = self.shared.lock().expect("proxy lock");
        shared.calls.clear();
        shared.injected.clear();
    }
}

/// moto 5.2 answers `GetBucketVersioning` under a root element real S3
/// does not use (`GetBucketVersioningResponse`, not
/// `VersioningConfiguration`), which the Rust SDK refuses to read; the
/// proxy renames it, and changes nothing else of any answer.
fn moto_compatible(call: &str, body: Bytes) -> Bytes {
    if call.starts_with("s3:GET /") && call.ends_with("?versioning") {
        let text = String::from_utf8_lossy(&body)
            .replace("GetBucketVersioningResponse", "VersioningConfiguration");
        return Bytes::from(text);
    }
    body
}

/// Waits while calls are held (see [`FaultProxy::hold_after_calls`]).
async fn hold(state: &ProxyState) {
    let holding = |shared: &Shared| {
        shared
            .hold_after_calls
            .is_some_and(|n| shared.calls.len() >= n)
    };
    {
        let mut shared = state.shared.lock().expect("proxy lock");
        if !holding(&shared) {
            return;
        }
        shared.held += 1;
    }
    // Counted out however the wait ends: released, or its caller killed
    // (the connection closes and this future is dropped).
    struct Held<'a>(&'a Mutex<Shared>);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            if let Ok(mut shared) = self.0.lock() {
                shared.held -= 1;
            }
        }
    }
    let _held = Held(&state.shared);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if !holding(&state.shared.lock().expect("proxy lock")) {
            return;
        }
    }
}

fn is_mutating(call: &str) -> bool {
    MUTATING.iter().any(|prefix| call.starts_with(prefix))
}

fn action(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let query = uri.query().unwrap_or_default();
    for source in [text.as_ref(), query] {
        if let Some(found) = source
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
        {
            return found.to_owned();
        }
    }
    if uri.path().starts_with("/2013-04-01/") {
        let path: Vec<&str> = uri
            .path()
            .trim_start_matches("/2013-04-01/")
            .split('/')
            .enumerate()
            .filter(|(index, _)| index % 2 == 0)
            .map(|(_, part)| part)
            .collect();
        return format!("route53:{method} /{}", path.join("/"));
    }
    // S3's REST API: the method, the bucket, whether a key follows, and
    // the sub-resource (`s3:PUT /bucket?versioning`, `s3:PUT /bucket/key`).
    let mut parts = uri.path().trim_start_matches('/').splitn(2, '/');
    let bucket = parts.next().unwrap_or_default();
    let key = if parts.next().is_some_and(|k| !k.is_empty()) {
        "/key"
    } else {
        ""
    };
    let sub = query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .find(|name| !name.is_empty() && !name.starts_with("x-id") && *name != "list-type")
        .map(|name| format!("?{name}"))
        .unwrap_or_default();
    format!("s3:{method} /{bucket}{key}{sub}")
}

fn error_response(call: &str, headers: &HeaderMap, status: u16, code: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = format!("injected by the fault proxy into {call}");
    if headers.contains_key("x-amz-target") {
        return (
            status,
            [
                ("content-type", "application/x-amz-json-1.1".to_owned()),
                ("x-amzn-errortype", code.to_owned()),
            ],
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        )
            .into_response();
    }
    if call.starts_with("s3:") {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
        );
        return (
            status,
            [("content-type", "application/xml".to_owned())],
            body,
        )
            .into_response();
    }
    let ec2 = !call.starts_with("route53:")
        && !call.contains("DB")
        && !call.contains("Identity")
        && !call.contains("Role")
        && !call.contains("InstanceProfile")
        && !call.contains("Dkim");
    let body = if ec2 {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )
    } else {
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
    };
    (status, [("content-type", "text/xml".to_owned())], body).into_response()
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = action(&method, &uri, &headers, &body);
    hold(&state).await;
    let fault = {
        let mut shared = state.shared.lock().expect("proxy lock");
        if shared.stopped {
            drop(shared);
            return error_response(&call, &headers, 400, "StoppedByTheTest");
        }
        shared.calls.push(call.clone());
        let fault = shared.faults.get_mut(&call).and_then(|fault| {
            (fault.remaining > 0).then(|| {
                fault.remaining -= 1;
                fault.clone()
            })
        });
        if fault.is_some() {
            shared.injected.push(call.clone());
        }
        fault
    };
    if let Some(fault) = fault {
        return error_response(&call, &headers, fault.status, &fault.code);
    }
    let url = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = state.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                let mut shared = state.shared.lock().expect("proxy lock");
                if shared.stop_after.as_deref() == Some(call.as_str()) {
                    shared.stopped = true;
                }
                if is_mutating(&call) {
                    shared.mutating_answered += 1;
                    if shared.stop_after_mutating == Some(shared.mutating_answered) {
                        shared.stopped = true;
                    }
                }
            }
            let mut builder = Response::builder().status(status.as_u16());
            for (name, value) in response.headers() {
                if name != "transfer-encoding" && name != "content-length" && name != "connection" {
                    builder = builder.header(name, value);
                }
            }
            let bytes = response.bytes().await.unwrap_or_default();
            builder
                .body(Body::from(moto_compatible(&call, bytes)))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
