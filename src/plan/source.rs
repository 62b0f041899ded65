//! Plan source text, locations in it, and diagnostics that point at them.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A 1-based line and column in a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
}

impl Location {
    /// Builds a location.
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }

    /// Converts a serde-saphyr location.
    pub fn from_saphyr(loc: &serde_saphyr::Location) -> Self {
        Self {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }

    /// True when the location points somewhere (line 0 means unknown).
    pub fn is_known(self) -> bool {
        self.line > 0
    }

    /// The location `chars` characters further along the same line.
    pub fn shifted(self, chars: usize) -> Self {
        Self {
            line: self.line,
            column: self
                .column
                .saturating_add(u32::try_from(chars).unwrap_or(u32::MAX)),
        }
    }
}

/// A plan file's name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user gave it (used in messages).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// Byte offset where each line starts, so that a snippet costs O(1) per diagnostic.
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&start| start < text.len())
            .collect();
        Self {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(index)?;
        let end = self
            .line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        let text = &self.text[start..end];
        let text = text.strip_suffix('\n').unwrap_or(text);
        Some(text.strip_suffix('\r').unwrap_or(text))
    }

    /// The path for display.
    pub fn display_path(&self) -> &Path {
        &self.path
    }

    /// The location of byte `offset` of the string `value` whose scalar starts at `start`
    /// (on its opening quote, if quoted). Falls back to the string's first character when the
    /// file does not spell the string on one line as it is (escapes, block scalars).
    pub fn locate_in_scalar(&self, start: Location, value: &str, offset: usize) -> Location {
        let first = self.inside_quotes(start);
        let Some(prefix) = value.get(..offset) else {
            return first;
        };
        let Some(line) = self.line(first.line) else {
            return first;
        };
        let column = usize::try_from(first.column).unwrap_or(1).saturating_sub(1);
        let spelled: String = line
            .chars()
            .skip(column)
            .take(prefix.chars().count())
            .collect();
        if spelled == prefix {
            first.shifted(prefix.chars().count())
        } else {
            first
        }
    }

    /// If the scalar at `loc` starts with a quote, the location of its first character
    /// inside the quotes; else `loc` itself.
    pub fn inside_quotes(&self, loc: Location) -> Location {
        let Some(line) = self.line(loc.line) else {
            return loc;
        };
        let column = usize::try_from(loc.column).unwrap_or(0);
        match line.chars().nth(column.saturating_sub(1)) {
            Some('"' | '\'') => loc.shifted(1),
            _ => loc,
        }
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The plan cannot run.
    Error,
    /// The plan can run but something looks wrong.
    Warning,
}

/// One problem found in a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `unknown-step`.
    pub code: &'static str,
    /// Lower-case message naming the place and the value.
    pub message: String,
    /// Where in the file, when known.
    #[serde(skip)]
    pub location: Option<Location>,
    /// The step the problem belongs to, if any.
    pub step: Option<String>,
    /// Dotted path of the field inside the plan, e.g. `steps[2].with.billing.size`.
    pub path: Option<String>,
    /// A suggested fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a code and message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            step: None,
            path: None,
            help: None,
        }
    }

    /// A warning with a code and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Sets the location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = location.is_known().then_some(location);
        self
    }

    /// Sets the step.
    #[must_use]
    pub fn in_step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    /// Sets the field path.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the help text.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic with the source line and a caret.
    pub fn render(&self, source: &SourceFile) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", self.message);
        match self.location {
            Some(loc) => {
                let _ = writeln!(
                    out,
                    "  --> {}:{}:{}",
                    source.display_path().display(),
                    loc.line,
                    loc.column
                );
                if let Some(text) = source.line(loc.line) {
                    let column = usize::try_from(loc.column).unwrap_or(1).saturating_sub(1);
                    let (shown, caret_at) = snippet_window(text, column);
                    let number = loc.line.to_string();
                    let pad = " ".repeat(number.len());
                    let caret_pad: String = shown
                        .chars()
                        .take(caret_at)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let _ = writeln!(out, "{pad} |");
                    let _ = writeln!(out, "{number} | {shown}");
                    let _ = writeln!(out, "{pad} | {caret_pad}^");
                }
            }
            None => {
                let _ = writeln!(out, "  --> {}", source.display_path().display());
            }
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// Most characters of a source line a snippet shows.
const SNIPPET_WIDTH: usize = 100;

/// The part of `line` a snippet shows (at most [`SNIPPET_WIDTH`] characters around the
/// 0-based character `column`, elided with `…`), and the caret's position in it.
fn snippet_window(line: &str, column: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SNIPPET_WIDTH {
        return (line.to_owned(), column);
    }
    let column = column.min(chars.len());
    let start = column
        .saturating_sub(SNIPPET_WIDTH / 2)
        .min(chars.len() - SNIPPET_WIDTH);
    let end = start + SNIPPET_WIDTH;
    let mut shown = String::new();
    let mut caret = column - start;
    if start > 0 {
        shown.push('…');
        caret += 1;
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, caret)
}

/// Most diagnostics the text rendering shows; a plan with more problems than this is
/// usually wrong in one systematic way, and the first ones say how.
pub const MAX_RENDERED: usize = 50;

/// Every problem found in a plan, in file order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Sorts by location (unknown locations last), keeping the order of equal ones.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| {
            d.location
                .map_or((u32::MAX, u32::MAX), |l| (l.line, l.column))
        });
    }

    /// Renders the diagnostics (at most [`MAX_RENDERED`] of them) followed by a summary line.
    pub fn render(&self, source: &SourceFile) -> String {
        let mut out = String::new();
        for d in self.0.iter().take(MAX_RENDERED) {
            out.push_str(&d.render(source));
            out.push('\n');
        }
        if self.0.len() > MAX_RENDERED {
            let _ = writeln!(
                out,
                "… and {} more (`--output json` lists every one)\n",
                self.0.len() - MAX_RENDERED
            );
        }
        let errors = self.error_count();
        if errors > 0 {
            let _ = writeln!(
                out,
                "error: {} has {errors} problem{}; no request was sent",
                source.display_path().display(),
                if errors == 1 { "" } else { "s" }
            );
        }
        out
    }

    /// JSON objects for `--output json`, with file, line and column filled in.
    pub fn to_json(&self, source: &SourceFile) -> serde_json::Value {
        self.0
            .iter()
            .map(|d| {
                serde_json::json!({
                    "severity": d.severity,
                    "code": d.code,
                    "message": d.message,
                    "file": source.display_path().display().to_string(),
                    "line": d.location.map(|l| l.line),
                    "column": d.location.map(|l| l.column),
                    "step": d.step,
                    "path": d.path,
                    "help": d.help,
                })
            })
            .collect()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The closest of `candidates` to `name`, if close enough to suggest.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"` or an empty string.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(name, candidates).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_column() {
        let src = SourceFile::new("p.yaml", "a: 1\n  b: \"{{ x }}\"\n");
        let d = Diagnostic::error("x", "bad thing").at(Location::new(2, 6));
        let text = d.render(&src);
        assert!(text.contains("--> p.yaml:2:6"), "{text}");
        assert!(text.contains("2 |   b: \"{{ x }}\"\n  |      ^"), "{text}");
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("x: {}", "[".repeat(1000));
        let src = SourceFile::new("p.yaml", format!("{line}\n"));
        let text = Diagnostic::error("x", "deep")
            .at(Location::new(1, 500))
            .render(&src);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[3].chars().count(),
            "1 | ".len() + SNIPPET_WIDTH + 2,
            "{text}"
        );
        assert!(
            lines[3].starts_with("1 | …[[") && lines[3].ends_with("[[…"),
            "{text}"
        );
        assert_eq!(
            lines[4].find('^'),
            Some("  | ".len() + 1 + SNIPPET_WIDTH / 2),
            "{text}"
        );
        // A short line is shown whole.
        let (shown, caret) = snippet_window("abc", 2);
        assert_eq!((shown.as_str(), caret), ("abc", 2));
    }

    #[test]
    fn locates_offsets_inside_one_line_scalars_only() {
        let src = SourceFile::new("p.yaml", "a: \"x {{ y }}\"\nb: |\n  x {{ y }}\n");
        assert_eq!(
            src.locate_in_scalar(Location::new(1, 4), "x {{ y }}", 2),
            Location::new(1, 7)
        );
        // A block scalar starts on the `|`; the text is not spelled there.
        assert_eq!(
            src.locate_in_scalar(Location::new(2, 4), "x {{ y }}\n", 2),
            Location::new(2, 4)
        );
        // An offset past the end or inside a character falls back to the start.
        assert_eq!(
            src.locate_in_scalar(Location::new(1, 4), "x {{ y }}", 99),
            Location::new(1, 5)
        );
    }

    #[test]
    fn lines_are_found_by_number() {
        let src = SourceFile::new("p.yaml", "a\r\nbb\n\nccc");
        assert_eq!(src.line(1), Some("a"));
        assert_eq!(src.line(2), Some("bb"));
        assert_eq!(src.line(3), Some(""));
        assert_eq!(src.line(4), Some("ccc"));
        assert_eq!(src.line(5), None);
        assert_eq!(src.line(0), None);
        assert_eq!(SourceFile::new("p.yaml", "").line(1), None);
    }

    #[test]
    fn text_rendering_is_capped() {
        let src = SourceFile::new("p.yaml", "a: 1\n");
        let mut diags = Diagnostics::default();
        for _ in 0..MAX_RENDERED + 7 {
            diags.push(Diagnostic::error("x", "bad").at(Location::new(1, 1)));
        }
        let text = diags.render(&src);
        assert_eq!(text.matches("error: bad").count(), MAX_RENDERED);
        assert!(text.contains("… and 7 more"), "{text}");
        assert!(
            text.contains(&format!("has {} problems", MAX_RENDERED + 7)),
            "{text}"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("vaut", ["vault", "backup"]), Some("vault"));
        assert_eq!(did_you_mean("zzz", ["vault", "backup"]), None);
    }
}
