//! Every AWS call goes through [`call`]: throttling, 5xx, timeouts and the
//! "not found right after create" of eventual consistency are retried with
//! exponential backoff and full jitter; anything else is returned at once.
//! The SDK's own retries are off, so this is the one policy.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// An AWS call that failed for good: the call, the AWS error code and
/// message; when no answer came (a refused connection, a timeout), the
/// SDK's error as the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call}: {code}: {message}")]
pub struct AwsError {
    pub call: String,
    pub code: String,
    pub message: String,
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
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
            source: None,
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

fn retryable(policy: &Policy, code: &str, message: &str, status: Option<u16>) -> bool {
    TRANSIENT.contains(&code)
        || (policy.visibility && NOT_YET_VISIBLE.contains(&code))
        // A new instance profile takes a while to reach EC2.
        || (policy.visibility
            && code == "InvalidParameterValue"
            && message.contains("iamInstanceProfile"))
        || status.is_some_and(|s| s >= 500)
        || (policy.dependencies
            && matches!(
                code,
                "DependencyViolation" | "InvalidDBSubnetGroupStateFault" | "InvalidDBInstanceState"
            ))
}

/// [`call`] with [`Policy::standard`]: how most calls are made.
pub async fn send<T, E, F, Fut>(name: &str, make: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    call(name, Policy::standard(), make).await
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
            SdkError::DispatchFailure(_) => (
                "DispatchFailure".to_owned(),
                "the request was not sent".to_owned(),
                true,
            ),
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
        if (transport || retryable(&policy, &code, &message, status)) && attempt < policy.attempts {
            let ceiling = policy
                .base
                .saturating_mul(1 << attempt.min(16))
                .min(policy.cap);
            let wait = ceiling.mul_f64(fastrand::f64());
            tracing::debug!(call = name, %code, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
            continue;
        }
        // A service's answer is its code and message, whole; a call that
        // got no answer keeps the transport's error (refused, reset, TLS).
        let source: Option<Arc<dyn std::error::Error + Send + Sync>> =
            transport.then(|| Arc::new(error) as _);
        return Err(AwsError {
            call: name.into(),
            code,
            message,
            source,
        });
    }
}

/// [`send`], where an answer that it is not found is `None`.
pub async fn lookup<T, E, F, Fut>(name: &str, make: F) -> Result<Option<T>, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match send(name, make).await {
        Ok(answer) => Ok(Some(answer)),
        Err(error) if error.code.contains("NotFound") => Ok(None),
        Err(error) => Err(error),
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
        Err(error) if error.code.contains("NotFound") || GONE.contains(&error.code.as_str()) => {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// What S3 and IAM answer for what is not there.
const GONE: &[&str] = &["NoSuchBucket", "NoSuchKey", "NoSuchEntity"];

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    type Failure = SdkError<ErrorMetadata, Response>;

    fn failure(code: &str, status: u16) -> Failure {
        let metadata = ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} from the test"))
            .build();
        let response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(metadata, response)
    }

    /// A call that fails with `code` (HTTP `status`) `failures` times, then succeeds.
    async fn run(
        policy: Policy,
        code: &str,
        status: u16,
        failures: u32,
    ) -> (Result<&'static str, AwsError>, u32, Duration) {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result = call("DescribeVpcs", policy, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let code = code.to_owned();
            async move {
                if n < failures {
                    Err(failure(&code, status))
                } else {
                    Ok("vpc-1")
                }
            }
        })
        .await;
        (result, calls.into_inner(), started.elapsed())
    }

    fn policy(attempts: u32) -> Policy {
        Policy {
            attempts,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            dependencies: false,
            visibility: true,
        }
    }

    fn destroying(attempts: u32) -> Policy {
        Policy {
            dependencies: true,
            visibility: false,
            ..policy(attempts)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_with_capped_jittered_backoff_until_it_succeeds() {
        let (result, calls, waited) = run(policy(10), "Throttling", 400, 3).await;
        assert_eq!(result.unwrap(), "vpc-1");
        assert_eq!(calls, 4);
        // Full jitter: each wait is at most base * 2^attempt, so three waits
        // are at most 0.4 + 0.8 + 1.6 seconds.
        assert!(waited <= Duration::from_millis(2800), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_5xx_answer_is_retried_even_without_an_aws_code_of_its_own() {
        let (result, calls, _) = run(policy(10), "SomethingUnheardOf", 503, 2).await;
        assert_eq!(result.unwrap(), "vpc-1");
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_right_after_create_is_retried_but_means_gone_when_destroying() {
        let (result, calls, _) = run(policy(10), "InvalidVpcID.NotFound", 400, 2).await;
        assert_eq!(result.unwrap(), "vpc-1");
        assert_eq!(calls, 3);

        let (result, calls, _) = run(destroying(10), "InvalidVpcID.NotFound", 400, 2).await;
        assert_eq!(result.unwrap_err().code, "InvalidVpcID.NotFound");
        assert_eq!(calls, 1, "a delete does not wait for what is gone");
        let gone = removed("DeleteVpc", destroying(10), || async {
            Err::<(), _>(failure("InvalidVpcID.NotFound", 400))
        })
        .await;
        assert!(gone.is_ok(), "a delete of what is gone succeeds");
    }

    #[tokio::test(start_paused = true)]
    async fn dependency_violation_is_retried_only_when_destroying() {
        let (result, calls, _) = run(policy(10), "DependencyViolation", 400, 2).await;
        assert_eq!(result.unwrap_err().code, "DependencyViolation");
        assert_eq!(calls, 1);

        let (result, calls, _) = run(destroying(10), "DependencyViolation", 400, 2).await;
        assert_eq!(result.unwrap(), "vpc-1");
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_attempt_limit_ends_the_retries_with_the_last_error_named() {
        let (result, calls, waited) = run(policy(4), "RequestLimitExceeded", 400, u32::MAX).await;
        let error = result.unwrap_err();
        assert_eq!(calls, 4);
        assert_eq!(error.call, "DescribeVpcs");
        assert_eq!(error.code, "RequestLimitExceeded");
        assert!(
            error
                .to_string()
                .contains("RequestLimitExceeded from the test")
        );
        assert!(waited <= Duration::from_secs(30), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_error_is_returned_at_once() {
        let (result, calls, waited) = run(policy(10), "UnauthorizedOperation", 403, 1).await;
        assert_eq!(result.unwrap_err().code, "UnauthorizedOperation");
        assert_eq!(calls, 1);
        assert_eq!(waited, Duration::ZERO);
    }
}
