//! An axum app a test controls, served on a free 127.0.0.1 port by a task
//! of the test's runtime (plain HTTP, or HTTPS with a given acceptor), and
//! stopped when dropped: the one way testkit's own small servers (the
//! fault proxy, a node's health URL, a webhook receiver) run.

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// A running app.
#[derive(Debug)]
pub(crate) struct Served {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `app` over plain HTTP.
    pub(crate) async fn plain(app: axum::Router) -> Result<Self, Error> {
        let (tcp, port) = bind().await?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        Ok(Self { port, task })
    }

    /// Serves `app` over HTTPS with `acceptor`'s certificate.
    pub(crate) async fn tls(app: axum::Router, acceptor: TlsAcceptor) -> Result<Self, Error> {
        let (tcp, port) = bind().await?;
        let listener = crate::TlsListener::new(tcp, acceptor);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, task })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

async fn bind() -> Result<(TcpListener, u16), Error> {
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Error::NoFreePort)?;
    let port = tcp.local_addr().map_err(Error::NoFreePort)?.port();
    Ok((tcp, port))
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}
