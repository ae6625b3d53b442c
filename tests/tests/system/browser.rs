//! What the browser tests share: signing in through the login form and
//! reading what a page shows.

use std::time::Duration;

use aerie_testkit::Chromium;
use fantoccini::{Client, Locator};

/// Signs in as `user` through the form of the monitor at `base`.
pub(crate) async fn log_in(client: &Client, base: &str, user: &str, password: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = client.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("user", user).await.unwrap();
    form.set_by_name("password", password).await.unwrap();
    form.submit().await.unwrap();
    // The next page: logged in, or the form again with why not.
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("header .who, main .error"))
        .await
        .unwrap();
}

/// The text of the element `css` (which must be there).
pub(crate) async fn element_text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Opens `url` and answers the text of `css` once the page has it.
pub(crate) async fn read_page(client: &Client, url: &str, css: &str) -> String {
    client.goto(url).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{url}: {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// A browser signed in to the monitor at `base` as `user`, on page `path`:
/// the text of `css` there, after a screenshot named `shot`.
pub(crate) async fn open_signed_in(
    base: &str,
    (user, password): (&str, &str),
    path: &str,
    css: &str,
    shot: &str,
) -> (Chromium, Client, String) {
    let browser = Chromium::start().await.unwrap();
    let client = browser.session().await.unwrap();
    log_in(&client, base, user, password).await;
    let text = read_page(&client, &format!("{base}{path}"), css).await;
    aerie_testkit::screenshot(&client, shot).await.unwrap();
    (browser, client, text)
}
