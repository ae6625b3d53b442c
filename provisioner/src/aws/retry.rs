//! Every AWS call goes through [`call`]: throttling, 5xx, timeouts and the
//! "not found right after create" of eventual consistency are retried with
//! exponential backoff and full jitter; anything else is returned at once.
//! The SDK's own retries are off, so this is the one policy.

use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// An AWS call that failed for good.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call}: {code}: {message}")]
pub struct AwsError {
    pub call: String,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    pub fn other(call: &str, message: impl Into<String>) -> Self {
        Self {
            call: call.into(),
            code: "Aerie".into(),
            message: message.into(),
        }
    }
}

const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "RequestThrottled",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
];

/// Right after a create, other calls may not see the new resource yet.
const NOT_YET_VISIBLE: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidKeyPair.NotFound",
    "InvalidVpnGatewayID.NotFound",
    "InvalidCustomerGatewayID.NotFound",
];

/// How patient [`call`] is.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Also retry `DependencyViolation` (destroy: a dependent is still going).
    pub dependencies: bool,
    /// Retry "not found" right after a create (not when deleting: there it
    /// means gone).
    pub visibility: bool,
}

impl Policy {
    pub fn standard() -> Self {
        let attempts = std::env::var("AERIE_AWS_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        Self {
            attempts,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            dependencies: false,
            visibility: true,
        }
    }

    pub fn destroying() -> Self {
        Self {
            attempts: Self::standard().attempts.max(20),
            dependencies: true,
            visibility: false,
            ..Self::standard()
        }
    }
}

fn retryable(policy: &Policy, code: &str, status: Option<u16>) -> bool {
    TRANSIENT.contains(&code)
        || (policy.visibility && NOT_YET_VISIBLE.contains(&code))
        || status.is_some_and(|s| s >= 500)
        || (policy.dependencies
            && matches!(
                code,
                "DependencyViolation" | "InvalidDBSubnetGroupStateFault" | "InvalidDBInstanceState"
            ))
}

/// Calls `make` until it succeeds, fails for good, or runs out of attempts.
pub async fn call<T, E, F, Fut>(name: &str, policy: Policy, mut make: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match make().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let status = error.raw_response().map(|r| r.status().as_u16());
        let (code, message, transport) = match &error {
            SdkError::TimeoutError(_) => {
                ("Timeout".to_owned(), "the call timed out".to_owned(), true)
            }
            SdkError::DispatchFailure(failure) => {
                ("DispatchFailure".to_owned(), format!("{failure:?}"), true)
            }
            SdkError::ResponseError(_) => (
                "ResponseError".to_owned(),
                "the response could not be read".to_owned(),
                true,
            ),
            other => (
                other.code().map(str::to_owned).unwrap_or_else(|| {
                    status.map_or_else(|| "Unknown".to_owned(), |s| format!("HTTP {s}"))
                }),
                other.message().map_or_else(
                    || match status {
                        Some(status) => {
                            format!("the service answered HTTP {status} with no AWS error")
                        }
                        None => "no AWS error in the answer".to_owned(),
                    },
                    str::to_owned,
                ),
                false,
            ),
        };
        if (transport || retryable(&policy, &code, status)) && attempt < policy.attempts {
            let ceiling = policy
                .base
                .saturating_mul(1 << attempt.min(16))
                .min(policy.cap);
            let wait = ceiling.mul_f64(fastrand::f64());
            tracing::debug!(call = name, %code, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
            continue;
        }
        return Err(AwsError {
            call: name.into(),
            code,
            message,
        });
    }
}

/// A delete: [`call`], where "not found" means it is already gone.
pub async fn removed<T, E, F, Fut>(name: &str, policy: Policy, make: F) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match call(name, policy, make).await {
        Ok(_) => Ok(()),
        Err(error) if error.code.contains("NotFound") => Ok(()),
        Err(error) => Err(error),
    }
}
