//! Every page of a paginated listing, each page's call made (and retried)
//! by the caller's closure. It only follows the token the service gives
//! back: it never decides what is asked, nor stops early.

use std::future::Future;

use super::retry::AwsError;

/// What one page answered: its items, and the token of the next page
/// (`None` on the last).
pub(super) type Page<T> = (Vec<T>, Option<String>);

/// Calls `page` with `None`, then with each token it gives back, until a
/// page gives none; every page's items in order.
pub(super) async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, AwsError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token).await?;
        out.extend(items);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_page_is_read_in_order_until_one_gives_no_token() {
        let mut asked = Vec::new();
        let items = all_pages(|token: Option<String>| {
            asked.push(token.clone());
            async move {
                Ok(match token.as_deref() {
                    None => (vec![1, 2], Some("b".to_owned())),
                    Some("b") => (vec![3], Some("c".to_owned())),
                    _ => (vec![4], None),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3, 4]);
        assert_eq!(asked, [None, Some("b".to_owned()), Some("c".to_owned())]);
    }
}
