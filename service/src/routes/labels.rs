//! The `route` label of the HTTP metrics: a request path mapped to its route
//! pattern by plain segment comparison. (actix's own `match_pattern` matches
//! every registered pattern's regular expression again, which cost more CPU
//! than the rest of a warm read.) The patterns are the route table's
//! ([`super::table`]), so every route served has its label.

use super::table::RouteTable;

/// One segment of a pattern.
#[derive(Debug, PartialEq)]
enum Segment {
    /// Exactly this text.
    Literal(String),
    /// Any one segment (`{tenant}`).
    Param,
    /// The rest of the path, one segment or more (a trailing `{path}` or `{_:.*}`).
    Rest,
}

/// Patterns, most specific first, with their labels.
pub struct RouteLabels(Vec<(Vec<Segment>, String)>);

impl RouteLabels {
    /// Every route of the table (most specific first).
    pub fn new(table: &RouteTable) -> Self {
        let mut table: Vec<(Vec<Segment>, String)> =
            table.routes().iter().map(|route| (parse(&route.pattern), route.pattern.clone())).collect();
        // Fewer placeholders first: `/profiles/render` wins over `/profiles/{name}`.
        table.sort_by_key(|(segments, _)| specificity(segments));
        Self(table)
    }

    /// How many segments of `pattern` are placeholders: fewer is more specific.
    pub fn specificity(pattern: &str) -> usize {
        specificity(&parse(pattern))
    }

    /// The pattern `path` belongs to, or `unmatched`.
    pub fn label(&self, path: &str) -> &str {
        let Some(rest) = path.strip_prefix('/') else { return "unmatched" };
        let parts: Vec<&str> = rest.split('/').collect();
        self.0.iter().find(|(segments, _)| matches(segments, &parts)).map_or("unmatched", |(_, label)| label.as_str())
    }
}

fn specificity(segments: &[Segment]) -> usize {
    segments.iter().filter(|s| !matches!(s, Segment::Literal(_))).count()
}

fn parse(pattern: &str) -> Vec<Segment> {
    let parts: Vec<&str> = pattern.split('/').skip(1).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            match (p.starts_with('{') && p.ends_with('}'), i == last && (*p == "{path}" || p.ends_with(":.*}"))) {
                (_, true) => Segment::Rest,
                (true, false) => Segment::Param,
                (false, false) => Segment::Literal((*p).to_string()),
            }
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> bool {
    if segments.len() > parts.len() || (segments.len() < parts.len() && !matches!(segments.last(), Some(Segment::Rest)))
    {
        return false;
    }
    let mut parts = parts.iter().copied();
    for segment in segments {
        match segment {
            Segment::Rest => return parts.next().is_some_and(|p| !p.is_empty()),
            Segment::Param => {
                if parts.next().is_none_or(str::is_empty) {
                    return false;
                }
            }
            Segment::Literal(text) => {
                if parts.next() != Some(text.as_str()) {
                    return false;
                }
            }
        }
    }
    parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_the_most_specific_pattern_and_unknown_ones_are_unmatched() {
        let labels = RouteLabels::new(&crate::routes::table::collect(crate::routes::register));
        for (path, want) in [
            ("/v1/tenants/acme/profiles", "/v1/tenants/{tenant}/profiles"),
            ("/v1/tenants/acme/profiles/render", "/v1/tenants/{tenant}/profiles/render"),
            ("/v1/tenants/acme/profiles/db", "/v1/tenants/{tenant}/profiles/{name}"),
            (
                "/v1/tenants/acme/profiles/db/secrets/secret/data/a/b",
                "/v1/tenants/{tenant}/profiles/{name}/secrets/{path}",
            ),
            ("/vault/acme/db/v1/secret/data/app", "/vault/{tenant}/{profile}/v1/{path}"),
            ("/console/js/main.js", "/console/{file:.*}"),
            ("/console", "/console"),
            ("/docs/index.html", "/docs/{path}"),
            ("/healthz", "/healthz"),
            ("/v1/tenants/acme/profiles/db/secrets", "unmatched"),
            ("/v1/tenants//profiles", "unmatched"),
            ("/nope", "unmatched"),
            ("", "unmatched"),
        ] {
            assert_eq!(labels.label(path), want, "{path}");
        }
    }
}
