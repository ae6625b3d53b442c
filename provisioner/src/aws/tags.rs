//! How Aerie marks what it owns: every resource tagged `aerie:env`,
//! `aerie:role` and `Name=<env>-<role>`, and found again by those tags.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::Cloud;

pub const ENV_TAG: &str = "aerie:env";
pub const ROLE_TAG: &str = "aerie:role";

pub(super) fn tag_of<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

impl Cloud {
    /// The EC2 filter for this environment's tag.
    pub(super) fn env_filter(&self) -> Filter {
        Filter::builder()
            .name(format!("tag:{ENV_TAG}"))
            .values(&self.environment)
            .build()
    }

    /// Tagged for this environment: the filters say so, and this checks it.
    pub(super) fn is_ours(&self, tags: &[Tag]) -> bool {
        self.owns(tags.iter().map(|t| (t.key(), t.value())))
    }

    /// The same for the services whose tags are not EC2's (RDS, Secrets
    /// Manager, Route53), given as (key, value) pairs.
    pub(super) fn owns<'a>(
        &self,
        mut tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    ) -> bool {
        tags.any(|(key, value)| key == Some(ENV_TAG) && value == Some(self.environment.as_str()))
    }

    /// The role of a resource with `tags` (`default` when untagged) when it
    /// is this environment's; `None` when it is not ours.
    pub(super) fn role_if_ours<'a>(&self, tags: &'a [Tag], default: &'a str) -> Option<&'a str> {
        self.is_ours(tags)
            .then(|| tag_of(tags, ROLE_TAG).unwrap_or(default))
    }

    /// The same for (key, value) pairs (the services whose tags are not
    /// EC2's): the role, `default` when untagged, or `None` when not ours.
    pub(super) fn role_in<'a>(
        &self,
        tags: &[(Option<&'a str>, Option<&'a str>)],
        default: &'a str,
    ) -> Option<&'a str> {
        self.owns(tags.iter().copied()).then(|| {
            tags.iter()
                .find(|(key, _)| *key == Some(ROLE_TAG))
                .and_then(|(_, value)| *value)
                .unwrap_or(default)
        })
    }

    /// Each of `items` that is this environment's, with its role (`default`
    /// when it has none).
    pub(super) fn ours<'a, T>(
        &'a self,
        items: &'a [T],
        tags: fn(&T) -> &[Tag],
        default: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a T)> {
        items
            .iter()
            .filter_map(move |item| Some((self.role_if_ours(tags(item), default)?, item)))
    }

    /// The tags of an EC2 resource of `role`, given at creation.
    pub(super) fn tags(&self, kind: ResourceType, role: &str) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(kind)
            .tags(Tag::builder().key(ENV_TAG).value(&self.environment).build())
            .tags(Tag::builder().key(ROLE_TAG).value(role).build())
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("{}-{role}", self.environment))
                    .build(),
            )
            .build()
    }

    /// One tag of an RDS resource.
    pub(super) fn rds_tag(&self, key: &str, value: &str) -> aws_sdk_rds::types::Tag {
        aws_sdk_rds::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    }
}

/// The tags `pairs` given to an EC2 resource of `kind` at creation.
pub(super) fn tag_specification<K: Into<String>, V: Into<String>>(
    kind: ResourceType,
    pairs: impl IntoIterator<Item = (K, V)>,
) -> TagSpecification {
    pairs
        .into_iter()
        .fold(
            TagSpecification::builder().resource_type(kind),
            |spec, (key, value)| spec.tags(Tag::builder().key(key).value(value).build()),
        )
        .build()
}

/// An EC2 filter on `name` (a state) for any of `values`.
pub(super) fn any_of(name: &str, values: &[&str]) -> Filter {
    values
        .iter()
        .fold(Filter::builder().name(name), |filter, value| {
            filter.values(*value)
        })
        .build()
}
