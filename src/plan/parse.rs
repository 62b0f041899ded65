//! YAML text to a [`YamlValue`] tree with locations, within a budget that refuses hostile
//! files (alias bombs, deep nesting, huge documents) in bounded time and memory.
//!
//! Duplicate keys are passed through to the tree so that [`super::decode`] can report every
//! one of them with both places; everything else the parser rejects becomes one clean,
//! lower-case diagnostic (the snippet and caret are drawn by [`Diagnostic::render`]).

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{DuplicateKeyPolicy, Error, Spanned};

use super::source::{Diagnostic, Location, SourceFile};
use super::yaml::YamlValue;

/// Deepest nesting of lists and mappings a plan may use.
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes (scalars, lists, mappings) a plan may have, aliases expanded.
pub const MAX_NODES: usize = 250_000;
/// Most aliases (`*name`) a plan may use.
pub const MAX_ALIASES: usize = 256;

/// Parses one YAML document.
pub(super) fn parse(source: &SourceFile) -> Result<Spanned<YamlValue>, Box<Diagnostic>> {
    if source.text.trim_start_matches('\u{feff}').lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    }) {
        return Err(Box::new(
            Diagnostic::error("empty-plan", "the plan file is empty")
                .with_help("a plan needs at least `version: 1`, a `name` and a list of `steps`"),
        ));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_nodes: MAX_NODES,
            max_events: 4 * MAX_NODES,
            max_documents: 1,
            max_total_scalar_bytes: usize::try_from(super::MAX_PLAN_BYTES).unwrap_or(usize::MAX),
            max_recorded_anchor_events: MAX_NODES / 5,
        },
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Spanned<YamlValue>>(&source.text, options)
        .map_err(|err| Box::new(yaml_diagnostic(&err)))
}

/// One diagnostic for a parser error: a stable code, a clean message, its place.
fn yaml_diagnostic(err: &Error) -> Diagnostic {
    let inner = innermost(err);
    let location = inner
        .location()
        .or_else(|| err.location())
        .map(|l| Location::from_saphyr(&l))
        .unwrap_or_default();
    let (code, message, help) = describe(inner);
    let mut d = Diagnostic::error(code, message).at(location);
    d.help = help;
    d
}

/// The error itself, without snippet or alias wrappers.
fn innermost(err: &Error) -> &Error {
    match err.without_snippet() {
        Error::AliasError { error, .. } => innermost(error),
        other => other,
    }
}

fn describe(err: &Error) -> (&'static str, String, Option<String>) {
    const BOMB: &str = "plans are small; this looks like an alias bomb or a generated file";
    match err {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => (
                "too-deep",
                format!("the plan nests lists and mappings deeper than {MAX_DEPTH} levels"),
                Some("plans are shallow; this looks like a generated or hostile file".to_owned()),
            ),
            BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => (
                "too-large",
                format!("the plan expands to more than {MAX_NODES} values"),
                Some(BOMB.to_owned()),
            ),
            BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. }
            | BudgetBreach::AliasAnchorRatio { .. } => (
                "too-large",
                "the plan's aliases (`*name`) expand to more values than plans may have".to_owned(),
                Some(BOMB.to_owned()),
            ),
            BudgetBreach::Aliases { .. } => (
                "too-many-aliases",
                format!("the plan uses more than {MAX_ALIASES} aliases (`*name`)"),
                Some(BOMB.to_owned()),
            ),
            BudgetBreach::Anchors { .. } => (
                "too-many-aliases",
                format!("the plan defines more than {MAX_ALIASES} anchors (`&name`)"),
                Some(BOMB.to_owned()),
            ),
            BudgetBreach::Documents { .. } => (
                "yaml",
                "the file holds more than one YAML document".to_owned(),
                Some("a plan is one document; remove the second `---`".to_owned()),
            ),
            BudgetBreach::ScalarBytes { .. } => (
                "too-large",
                "the plan's text values are larger than plans may be".to_owned(),
                Some(BOMB.to_owned()),
            ),
            _ => (
                "too-large",
                "the plan exceeds the parser's limits".to_owned(),
                Some(BOMB.to_owned()),
            ),
        },
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => (
            "too-large",
            "the plan's aliases expand to more values than plans may have".to_owned(),
            Some(BOMB.to_owned()),
        ),
        Error::UnknownAnchor { .. } => (
            "yaml",
            "this alias refers to an anchor that is not defined before it".to_owned(),
            Some("define `&name` before using `*name`".to_owned()),
        ),
        Error::DuplicateMappingKey { key, .. } => (
            "duplicate-key",
            match key {
                Some(key) => format!("duplicate key `{key}`"),
                None => "duplicate key".to_owned(),
            },
            None,
        ),
        Error::InvalidUtf8Input => (
            "not-utf8",
            "the plan is not valid UTF-8 text".to_owned(),
            None,
        ),
        Error::Eof { .. } => ("yaml", "unexpected end of the file".to_owned(), None),
        other => {
            let message = match other {
                Error::Message { msg, .. } => clean(msg),
                _ => clean(&other.to_string()),
            };
            // The scanner's own guard against deep flow nesting (`[[[[…`).
            if message == "recursion limit exceeded" {
                return describe(&Error::Budget {
                    breach: BudgetBreach::Depth {
                        depth: MAX_DEPTH + 1,
                    },
                    location: serde_saphyr::Location::UNKNOWN,
                });
            }
            let help = syntax_help(&message);
            ("yaml", message, help)
        }
    }
}

/// The usual cause of a few common syntax errors.
fn syntax_help(message: &str) -> Option<String> {
    let help = if message.contains("mapping values are not allowed") {
        "this `key: value` is indented differently from the keys around it, or a plain value \
         contains `: ` and needs quotes"
    } else if message.contains("unclosed bracket") {
        "close the list or mapping, or quote the value if the bracket is part of a string"
    } else if message.contains("unclosed quote") {
        "end the string with the quote it starts with"
    } else if message.contains("tab") {
        "indent with spaces; YAML does not allow tabs in indentation"
    } else if message.contains("did not find expected key") {
        "check the indentation of this line against the lines above it"
    } else {
        return None;
    };
    Some(help.to_owned())
}

/// One lower-case line without the parser's own location suffix.
fn clean(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.trim_end_matches(['.', ':', ' ']);
    let mut chars = first.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "invalid YAML".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Diagnostic {
        *parse(&SourceFile::new("p.yaml", text)).expect_err("should not parse")
    }

    #[test]
    fn duplicate_keys_reach_the_tree() {
        let tree = parse(&SourceFile::new("p.yaml", "a: 1\na: 2\n")).unwrap();
        let YamlValue::Map(entries) = tree.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn syntax_errors_are_one_clean_line() {
        let d = err("a: [1, 2\nb: 3\n");
        assert_eq!(d.code, "yaml");
        assert!(!d.message.contains('\n'), "{}", d.message);
        assert!(!d.message.contains("line "), "{}", d.message);
        assert!(
            d.message.starts_with(|c: char| c.is_lowercase()),
            "{}",
            d.message
        );
        assert!(d.location.is_some());
    }

    #[test]
    fn empty_file_is_named_as_such() {
        assert_eq!(err("# only a comment\n\n").code, "empty-plan");
        assert_eq!(err("").code, "empty-plan");
    }

    #[test]
    fn hostile_nesting_and_aliases_are_refused() {
        let deep = format!("a: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(err(&deep).code, "too-deep");
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let d = err(&bomb);
        assert_eq!(d.code, "too-large", "{d:?}");
        assert!(d.message.contains("aliases"), "{d:?}");
    }
}
