//! `moto_server`: the AWS emulator. One server answers for every region (the
//! region comes from each request's signature).

use std::time::Duration;

use crate::Error;
use crate::paths::{INSTALL_FIX, venv};
use crate::poll::http_ready;
use crate::service::{Launch, ServiceProcess};

/// Credentials moto accepts (any will do); never real ones.
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

/// A running `moto_server` on 127.0.0.1.
#[derive(Debug)]
pub struct MotoServer {
    _process: ServiceProcess,
    endpoint: String,
    http: reqwest::Client,
}

impl MotoServer {
    pub async fn start() -> Result<Self, Error> {
        let program = venv().join("bin").join("moto_server");
        let launch = Launch {
            service: "moto_server",
            program: &program,
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(60),
        };
        let (process, port) = launch
            .start(
                |port| {
                    vec![
                        "-H".into(),
                        "127.0.0.1".into(),
                        "-p".into(),
                        port.to_string().into(),
                    ]
                },
                &[("PYTHONUNBUFFERED", "1")],
                async |port| {
                    http_ready(&format!("http://127.0.0.1:{port}/moto-api/data.json"), None).await
                },
            )
            .await?;
        Ok(Self {
            _process: process,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|source| Error::Http {
                    what: "building an HTTP client".into(),
                    source,
                })?,
        })
    }

    /// The URL to give as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Environment for a child process (the `aerie` binary, say) that should
    /// use this server through the standard SDK configuration.
    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", region.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// An SDK configuration for `region` that talks to this server.
    #[cfg(feature = "aws")]
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_credential_types::Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "testkit",
            ))
            .load()
            .await
    }

    /// Forgets every resource in every region (`POST /moto-api/reset`).
    pub async fn reset(&self) -> Result<(), Error> {
        self.http
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|source| Error::Http {
                what: "resetting moto_server".into(),
                source,
            })
    }

    /// Makes `model` (`s3::keyrestore`, `ec2::instance`, ...) move on only
    /// after it has been read `times` times (moto's state manager), so a
    /// test can watch a client wait for a status.
    pub async fn hold_status(&self, model: &str, times: u32) -> Result<(), Error> {
        let body = serde_json::json!({
            "model_name": model,
            "transition": { "progression": "manual", "times": times },
        });
        self.http
            .post(format!(
                "{}/moto-api/state-manager/set-transition",
                self.endpoint
            ))
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|source| Error::Http {
                what: format!("holding moto's {model} for {times} reads"),
                source,
            })
    }

    /// moto's view of everything it holds (`GET /moto-api/data.json`); sent
    /// SES mail is under `ses.Message`.
    pub async fn data(&self) -> Result<serde_json::Value, Error> {
        let what = || "reading moto_server's /moto-api/data.json".to_owned();
        self.http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| Error::Http {
                what: what(),
                source,
            })?
            .json()
            .await
            .map_err(|source| Error::Http {
                what: what(),
                source,
            })
    }
}
