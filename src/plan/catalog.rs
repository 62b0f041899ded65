//! What the checker needs to know about step types, without depending on their code: the
//! fields of `with` each type accepts, and the outputs it declares. The `steps` module
//! implements [`StepCatalog`].

/// The kind of value a `with` field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A boolean.
    Bool,
    /// A duration string such as `30s`.
    Duration,
    /// A list (items described by `path[]` entries).
    List,
    /// A mapping (fields described by `path.field` entries).
    Object,
    /// Anything (not checked further).
    Any,
}

impl FieldKind {
    /// Name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Bool => "a boolean",
            Self::Duration => "a duration such as `30s`",
            Self::List => "a list",
            Self::Object => "a mapping",
            Self::Any => "any value",
        }
    }
}

/// One field of a step's `with` block. Nested fields use dotted paths; items of a list use
/// `[]`, e.g. `billing.size` or `resources[].id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    /// Dotted path from the root of `with`.
    pub path: &'static str,
    /// Whether the field must be present (when its parent is).
    pub required: bool,
    /// The value's kind.
    pub kind: FieldKind,
    /// Allowed values of a string field (empty: any).
    pub one_of: &'static [&'static str],
    /// Inclusive range of an integer field.
    pub range: Option<(i64, i64)>,
    /// A name rule for string fields: 1..=max characters of letters, digits, `_`, `-`.
    pub name_max_len: Option<usize>,
}

impl FieldSpec {
    /// A field of the given kind with no further rules.
    pub const fn new(path: &'static str, required: bool, kind: FieldKind) -> Self {
        Self {
            path,
            required,
            kind,
            one_of: &[],
            range: None,
            name_max_len: None,
        }
    }

    /// Restricts a string field to a set of values.
    #[must_use]
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = values;
        self
    }

    /// Restricts an integer field to an inclusive range.
    #[must_use]
    pub const fn range(mut self, min: i64, max: i64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Requires a name of 1..=`max` letters, digits, `_` or `-`.
    #[must_use]
    pub const fn name(mut self, max: usize) -> Self {
        self.name_max_len = Some(max);
        self
    }
}

/// What a step type declares.
#[derive(Debug, Clone, Copy)]
pub struct StepSchema {
    /// The step type's name, e.g. `create_vault`.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Fields of `with`.
    pub inputs: &'static [FieldSpec],
    /// Names of the outputs it produces (top-level keys).
    pub outputs: &'static [&'static str],
}

/// The set of step types a plan may use.
pub trait StepCatalog {
    /// The schema of a step type, if it exists.
    fn schema(&self, step_type: &str) -> Option<StepSchema>;
    /// Names of all step types.
    fn names(&self) -> Vec<&'static str>;
}
