//! What every channel must do, checked against a real receiver: deliver a
//! rendered firing notification and its resolved one, each once, to every
//! recipient, with the alert's subject and details in them.

use super::Channel;
use super::templates::{Templates, sample};

/// A notification as the receiver kept it: its recipients (none for a
/// channel that addresses no one, the webhook) and its raw text.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub to: Option<Vec<String>>,
    pub raw: String,
}

pub(crate) async fn run(channel: &dyn Channel, received: impl AsyncFn() -> Vec<Received>) {
    let templates = Templates::built_in();
    let recipients = vec![
        "oncall@acme.example".to_owned(),
        "customer-ops@acme.example".to_owned(),
    ];
    let firing = templates
        .render(&sample(), "Aerie <aerie@ops.example>", &recipients)
        .unwrap();
    channel
        .send(&firing)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut resolved_alert = sample();
    resolved_alert.status = "RESOLVED".into();
    resolved_alert.resolved = true;
    let resolved = templates
        .render(&resolved_alert, "Aerie <aerie@ops.example>", &recipients)
        .unwrap();
    channel
        .send(&resolved)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mails = aerie_testkit::wait_until(
        "both mails at the receiver",
        std::time::Duration::from_secs(10),
        async || {
            let mails = received().await;
            (mails.len() >= 2).then_some(mails)
        },
    )
    .await
    .unwrap();
    assert_eq!(mails.len(), 2, "one mail each, not more: {mails:?}");
    for (mail, status) in mails.iter().zip(["FIRING", "RESOLVED"]) {
        if let Some(mut to) = mail.to.clone() {
            to.sort();
            assert_eq!(
                to,
                ["customer-ops@acme.example", "oncall@acme.example"],
                "{} recipients",
                channel.describe()
            );
        }
        assert!(
            mail.raw
                .contains(&format!("[{status}] heap-high on gw-1 (acme-prod)")),
            "{status} subject in {}",
            mail.raw
        );
        for detail in [
            "gw-1",
            "93.5",
            "2026-11-21T10:00:00Z",
            "monitor.example/alerts",
        ] {
            assert!(
                mail.raw.contains(detail),
                "{detail} missing from {}",
                mail.raw
            );
        }
    }
}
