//! From the parsed YAML tree to the plan [`model`](super::model), reporting every unknown,
//! duplicate, missing or mistyped field — with its place and a "did you mean" — instead of
//! stopping at the first. What cannot be decoded is left out (or given a neutral stand-in) so
//! that [`super::check`] can go on and report the plan's other mistakes in the same pass.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use super::model::{DefaultsDecl, InputDecl, InputType, JitterDecl, PlanFile, RetryDecl, StepDecl};
use super::source::{Diagnostic, Diagnostics, Location};
use super::suggestion;
use super::yaml::{YamlValue, location_of};

/// Fields of the plan's top level.
pub(super) const PLAN_FIELDS: &[&str] = &[
    "version",
    "name",
    "description",
    "inputs",
    "defaults",
    "steps",
    "outputs",
];
/// Fields of one input declaration.
pub(super) const INPUT_FIELDS: &[&str] = &["type", "default", "description"];
/// Fields of `defaults`.
pub(super) const DEFAULTS_FIELDS: &[&str] = &["retry", "timeout", "deadline"];
/// Fields of a retry policy.
pub(super) const RETRY_FIELDS: &[&str] = &[
    "max_attempts",
    "initial_delay",
    "max_delay",
    "multiplier",
    "jitter",
];
/// Fields of a step.
pub(super) const STEP_FIELDS: &[&str] = &[
    "id",
    "type",
    "description",
    "with",
    "depends_on",
    "retry",
    "timeout",
    "deadline",
];

const DURATION: &str = "a duration such as `30s`";

/// Decodes the whole plan; every problem found is added to `diags`.
pub(super) fn decode(root: &Spanned<YamlValue>, diags: &mut Diagnostics) -> PlanFile {
    Decoder { diags }.plan(root)
}

/// A mapping of the plan, as messages name it.
struct Place {
    /// The mapping itself: "the plan", "`defaults.retry`", "step `vault`".
    name: String,
    /// Inside backticks before a field name: "", "defaults.", "retry.".
    field_prefix: String,
    /// After a field name: "", " of step `vault`", " of input `size`".
    field_suffix: String,
    /// Dotted path of the mapping from the root, for JSON output: "", "steps[0].retry".
    path: String,
    /// The step it belongs to.
    step: Option<String>,
}

impl Place {
    fn root() -> Self {
        Self {
            name: "the plan".to_owned(),
            field_prefix: String::new(),
            field_suffix: String::new(),
            path: String::new(),
            step: None,
        }
    }

    fn section(name: &str) -> Self {
        Self {
            name: format!("`{name}`"),
            field_prefix: format!("{name}."),
            field_suffix: String::new(),
            path: name.to_owned(),
            step: None,
        }
    }

    fn input(name: &str) -> Self {
        Self {
            name: format!("input `{name}`"),
            field_prefix: String::new(),
            field_suffix: format!(" of input `{name}`"),
            path: format!("inputs.{name}"),
            step: None,
        }
    }

    fn step(index: usize, id: Option<&str>) -> Self {
        let name = id.map_or_else(
            || format!("step {}", index + 1),
            |id| format!("step `{id}`"),
        );
        Self {
            field_suffix: format!(" of {name}"),
            name,
            field_prefix: String::new(),
            path: format!("steps[{index}]"),
            step: id.map(str::to_owned),
        }
    }

    fn step_retry(step: &Self) -> Self {
        Self {
            name: format!("`retry`{}", step.field_suffix),
            field_prefix: "retry.".to_owned(),
            field_suffix: step.field_suffix.clone(),
            path: format!("{}.retry", step.path),
            step: step.step.clone(),
        }
    }

    /// How a message names one field of this mapping.
    fn field(&self, key: &str) -> String {
        format!("`{}{key}`{}", self.field_prefix, self.field_suffix)
    }

    fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

/// The known fields of one mapping (first occurrence of each).
struct Fields<'t> {
    entries: Vec<(&'t str, &'t Spanned<YamlValue>)>,
    at: Location,
}

impl<'t> Fields<'t> {
    fn get(&self, key: &str) -> Option<&'t Spanned<YamlValue>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// An optional field; an explicit null (`key:` or `key: ~`) counts as not set.
    fn optional(&self, key: &str) -> Option<&'t Spanned<YamlValue>> {
        self.get(key).filter(|v| v.value != YamlValue::Null)
    }
}

struct Decoder<'d> {
    diags: &'d mut Diagnostics,
}

impl Decoder<'_> {
    fn report(
        &mut self,
        code: &'static str,
        message: String,
        at: Location,
        place: &Place,
        key: Option<&str>,
    ) -> &mut Diagnostic {
        let mut d = Diagnostic::error(code, message).at(at);
        d.step.clone_from(&place.step);
        let path = key.map_or_else(|| place.path.clone(), |k| place.field_path(k));
        d.path = (!path.is_empty()).then_some(path);
        self.diags.push(d);
        self.diags.0.last_mut().expect("just pushed")
    }

    fn plan(&mut self, root: &Spanned<YamlValue>) -> PlanFile {
        let place = Place::root();
        let at = location_of(root);
        let fields = self.fields(root, &place, PLAN_FIELDS).unwrap_or(Fields {
            entries: Vec::new(),
            at,
        });
        let version = self.version(&fields);
        let name = match fields.get("name") {
            Some(node) => self
                .string(node, &place, "name")
                .unwrap_or_else(|| spanned(String::new(), node)),
            None => {
                self.missing(&fields, &place, "name", "add `name: <short name>`");
                Spanned::new(String::new(), root.referenced, root.defined)
            }
        };
        let description = fields
            .optional("description")
            .and_then(|n| self.string(n, &place, "description"))
            .map(|s| s.value);
        let inputs = fields
            .optional("inputs")
            .map(|n| self.inputs(n))
            .unwrap_or_default();
        let defaults = fields.optional("defaults").and_then(|n| self.defaults(n));
        let steps = match fields.get("steps") {
            Some(node) => self.steps(node),
            None => {
                self.missing(
                    &fields,
                    &place,
                    "steps",
                    "add `steps:` with at least one step",
                );
                Spanned::new(Vec::new(), root.referenced, root.defined)
            }
        };
        let outputs = match fields.optional("outputs") {
            Some(node) => self
                .map_entries(
                    node,
                    &Place::section("outputs"),
                    "outputs",
                    "names and values",
                )
                .into_iter()
                .map(|(k, v)| {
                    self.free_form(v, &Place::section("outputs"), &k.value);
                    (k.clone(), v.clone())
                })
                .collect(),
            None => Vec::new(),
        };
        PlanFile {
            version,
            name,
            description,
            inputs,
            defaults,
            steps,
            outputs,
        }
    }

    fn version(&mut self, fields: &Fields<'_>) -> Spanned<u32> {
        let place = Place::root();
        let Some(node) = fields.get("version") else {
            self.missing(
                fields,
                &place,
                "version",
                "add `version: 1` at the top of the plan",
            );
            return Spanned::new(
                1,
                serde_saphyr::Location::UNKNOWN,
                serde_saphyr::Location::UNKNOWN,
            );
        };
        match &node.value {
            YamlValue::Number(n) if n.as_u64() == Some(1) => spanned(1, node),
            YamlValue::Number(n) => {
                self.report(
                    "version",
                    format!("unsupported plan version {n}; this cbrflow reads version 1"),
                    location_of(node),
                    &place,
                    Some("version"),
                )
                .help = Some("write `version: 1`".to_owned());
                spanned(1, node)
            }
            other => {
                self.report(
                    "field-type",
                    format!("`version` must be the number 1, not {}", other.describe()),
                    location_of(node),
                    &place,
                    Some("version"),
                )
                .help = Some("write `version: 1`".to_owned());
                spanned(1, node)
            }
        }
    }

    fn inputs(&mut self, node: &Spanned<YamlValue>) -> Vec<(Spanned<String>, InputDecl)> {
        let entries = self.map_entries(
            node,
            &Place::section("inputs"),
            "inputs",
            "input names and their declarations",
        );
        let mut out = Vec::with_capacity(entries.len());
        for (key, decl) in entries {
            let place = Place::input(&key.value);
            let Some(fields) = self.fields(decl, &place, INPUT_FIELDS) else {
                continue;
            };
            let ty = fields.optional("type").and_then(|n| {
                let names = InputType::ALL.map(InputType::as_str);
                self.one_of(n, &place, "type", &names)
                    .map(|i| spanned(InputType::ALL[i], n))
            });
            let default = fields.optional("default").map(|n| {
                self.free_form(n, &place, "default");
                n.clone()
            });
            let description = fields
                .optional("description")
                .and_then(|n| self.string(n, &place, "description"))
                .map(|s| s.value);
            out.push((
                key.clone(),
                InputDecl {
                    ty,
                    default,
                    description,
                },
            ));
        }
        out
    }

    fn defaults(&mut self, node: &Spanned<YamlValue>) -> Option<DefaultsDecl> {
        let place = Place::section("defaults");
        let fields = self.fields(node, &place, DEFAULTS_FIELDS)?;
        Some(DefaultsDecl {
            retry: fields
                .optional("retry")
                .and_then(|n| self.retry(n, &Place::section("defaults.retry"))),
            timeout: fields
                .optional("timeout")
                .and_then(|n| self.duration(n, &place, "timeout")),
            deadline: fields
                .optional("deadline")
                .and_then(|n| self.duration(n, &place, "deadline")),
        })
    }

    fn retry(&mut self, node: &Spanned<YamlValue>, place: &Place) -> Option<RetryDecl> {
        let fields = self.fields(node, place, RETRY_FIELDS)?;
        Some(RetryDecl {
            max_attempts: fields
                .optional("max_attempts")
                .and_then(|n| self.count(n, place, "max_attempts")),
            initial_delay: fields
                .optional("initial_delay")
                .and_then(|n| self.duration(n, place, "initial_delay")),
            max_delay: fields
                .optional("max_delay")
                .and_then(|n| self.duration(n, place, "max_delay")),
            multiplier: fields
                .optional("multiplier")
                .and_then(|n| self.number(n, place, "multiplier")),
            jitter: fields.optional("jitter").and_then(|n| {
                let names = JitterDecl::ALL.map(|(_, name)| name);
                self.one_of(n, place, "jitter", &names)
                    .map(|i| spanned(JitterDecl::ALL[i].0, n))
            }),
        })
    }

    fn steps(&mut self, node: &Spanned<YamlValue>) -> Spanned<Vec<StepDecl>> {
        let place = Place::root();
        let items = match &node.value {
            YamlValue::List(items) => items,
            YamlValue::Null => {
                self.report(
                    "no-steps",
                    "the plan has no steps".to_owned(),
                    location_of(node),
                    &place,
                    Some("steps"),
                )
                .help = Some("list at least one step under `steps:`".to_owned());
                return spanned(Vec::new(), node);
            }
            other => {
                self.report(
                    "field-type",
                    format!("`steps` must be a list of steps, not {}", other.describe()),
                    location_of(node),
                    &place,
                    Some("steps"),
                )
                .help = Some("write each step as a list item: `- id: …`".to_owned());
                return spanned(Vec::new(), node);
            }
        };
        if items.is_empty() {
            self.report(
                "no-steps",
                "the plan has no steps".to_owned(),
                location_of(node),
                &place,
                Some("steps"),
            )
            .help = Some("list at least one step under `steps:`".to_owned());
        }
        let steps = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.step(i, item))
            .collect();
        spanned(steps, node)
    }

    fn step(&mut self, index: usize, node: &Spanned<YamlValue>) -> Option<StepDecl> {
        // Name the step by its id in every message, if it has a usable one.
        let id_text = match node.value.get("id").map(|n| &n.value) {
            Some(YamlValue::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let place = Place::step(index, id_text);
        let fields = self.fields(node, &place, STEP_FIELDS)?;
        let id = match fields.get("id") {
            Some(n) => self.string(n, &place, "id"),
            None => {
                self.missing(
                    &fields,
                    &place,
                    "id",
                    "give every step a unique `id`, e.g. `id: backup`",
                );
                None
            }
        };
        let step_type = match fields.get("type") {
            Some(n) => self
                .string(n, &place, "type")
                .unwrap_or_else(|| spanned(String::new(), n)),
            None => {
                self.missing(
                    &fields,
                    &place,
                    "type",
                    "name the step type, e.g. `type: create_vault`",
                );
                Spanned::new(String::new(), node.referenced, node.defined)
            }
        };
        let description = fields
            .optional("description")
            .and_then(|n| self.string(n, &place, "description"))
            .map(|s| s.value);
        let with = fields.optional("with").map(|n| {
            self.free_form(n, &place, "with");
            n.clone()
        });
        let depends_on = fields
            .optional("depends_on")
            .map(|n| self.depends_on(n, &place))
            .unwrap_or_default();
        let retry = fields
            .optional("retry")
            .and_then(|n| self.retry(n, &Place::step_retry(&place)));
        let timeout = fields
            .optional("timeout")
            .and_then(|n| self.duration(n, &place, "timeout"));
        let deadline = fields
            .optional("deadline")
            .and_then(|n| self.duration(n, &place, "deadline"));
        Some(StepDecl {
            id: id?,
            step_type,
            description,
            with,
            depends_on,
            retry,
            timeout,
            deadline,
        })
    }

    fn depends_on(&mut self, node: &Spanned<YamlValue>, place: &Place) -> Vec<Spanned<String>> {
        match &node.value {
            YamlValue::List(items) => items
                .iter()
                .filter_map(|item| self.string(item, place, "depends_on"))
                .collect(),
            YamlValue::Null => Vec::new(),
            other => {
                let fix = match other {
                    YamlValue::String(s) => format!("write `depends_on: [{s}]`"),
                    _ => "write `depends_on: [step_id, …]`".to_owned(),
                };
                self.report(
                    "field-type",
                    format!(
                        "{} must be a list of step ids, not {}",
                        place.field("depends_on"),
                        other.describe()
                    ),
                    location_of(node),
                    place,
                    Some("depends_on"),
                )
                .help = Some(fix);
                Vec::new()
            }
        }
    }

    /// Checks that `node` is a mapping; reports duplicate and unknown keys. Returns the known
    /// fields (first occurrence of each), or `None` when `node` is not a mapping.
    fn fields<'t>(
        &mut self,
        node: &'t Spanned<YamlValue>,
        place: &Place,
        known: &[&str],
    ) -> Option<Fields<'t>> {
        let YamlValue::Map(entries) = &node.value else {
            self.report(
                "field-type",
                format!(
                    "{} must be a mapping, not {}",
                    place.name,
                    node.value.describe()
                ),
                location_of(node),
                place,
                None,
            )
            .help = Some(format!("fields allowed here: {}", known.join(", ")));
            return None;
        };
        let mut fields = Fields {
            entries: Vec::new(),
            at: location_of(node),
        };
        let repeated = repeated_keys(entries);
        for (i, (key, value)) in entries.iter().enumerate() {
            if let Some(&first) = repeated.get(&i) {
                self.duplicate(key, first, place);
            } else if known.contains(&key.value.as_str()) {
                fields.entries.push((key.value.as_str(), value));
            } else {
                let hint = suggestion(&key.value, known.iter().copied());
                self.report(
                    "unknown-field",
                    format!("unknown field `{}` in {}{hint}", key.value, place.name),
                    location_of(key),
                    place,
                    Some(&key.value),
                )
                .help = Some(format!("fields allowed here: {}", known.join(", ")));
            }
        }
        Some(fields)
    }

    /// Reports `key` as a repetition of a key first set at `first` in the same mapping.
    fn duplicate(&mut self, key: &Spanned<String>, first: Location, place: &Place) {
        self.report(
            "duplicate-key",
            format!(
                "duplicate key `{}` in {}; it is first set {}",
                key.value,
                place.name,
                where_first(first, location_of(key))
            ),
            location_of(key),
            place,
            Some(&key.value),
        )
        .help = Some("YAML keys must be unique within a mapping; keep one of them".to_owned());
    }

    /// The entries of a free-form mapping (inputs, outputs), duplicates reported and dropped.
    fn map_entries<'t>(
        &mut self,
        node: &'t Spanned<YamlValue>,
        place: &Place,
        key: &str,
        what: &str,
    ) -> Vec<(&'t Spanned<String>, &'t Spanned<YamlValue>)> {
        match &node.value {
            YamlValue::Map(entries) => {
                let repeated = repeated_keys(entries);
                let mut out = Vec::with_capacity(entries.len());
                for (i, (k, v)) in entries.iter().enumerate() {
                    match repeated.get(&i) {
                        Some(&first) => self.duplicate(k, first, place),
                        None => out.push((k, v)),
                    }
                }
                out
            }
            YamlValue::Null => Vec::new(),
            other => {
                self.report(
                    "field-type",
                    format!(
                        "`{key}` must be a mapping of {what}, not {}",
                        other.describe()
                    ),
                    location_of(node),
                    &Place::root(),
                    Some(key),
                );
                Vec::new()
            }
        }
    }

    /// Reports duplicate keys anywhere inside a free-form value at `path` of `place`.
    fn free_form(&mut self, node: &Spanned<YamlValue>, place: &Place, path: &str) {
        match &node.value {
            YamlValue::Map(entries) => {
                let repeated = repeated_keys(entries);
                for (i, (key, value)) in entries.iter().enumerate() {
                    let inner = format!("{path}.{}", key.value);
                    if let Some(&first) = repeated.get(&i) {
                        self.report(
                            "duplicate-key",
                            format!(
                                "duplicate key `{inner}` in {}; it is first set {}",
                                place.name,
                                where_first(first, location_of(key))
                            ),
                            location_of(key),
                            place,
                            Some(&inner),
                        )
                        .help = Some(
                            "YAML keys must be unique within a mapping; keep one of them"
                                .to_owned(),
                        );
                    }
                    self.free_form(value, place, &inner);
                }
            }
            YamlValue::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.free_form(item, place, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    fn missing(&mut self, fields: &Fields<'_>, place: &Place, key: &str, help: &str) {
        self.report(
            "missing-field",
            format!("{} has no `{key}`", place.name),
            fields.at,
            place,
            Some(key),
        )
        .help = Some(help.to_owned());
    }

    fn wrong_type(&mut self, node: &Spanned<YamlValue>, place: &Place, key: &str, expected: &str) {
        self.report(
            "field-type",
            format!(
                "{} must be {expected}, not {}",
                place.field(key),
                node.value.describe()
            ),
            location_of(node),
            place,
            Some(key),
        );
    }

    fn string(
        &mut self,
        node: &Spanned<YamlValue>,
        place: &Place,
        key: &str,
    ) -> Option<Spanned<String>> {
        match &node.value {
            YamlValue::String(s) => Some(spanned(s.clone(), node)),
            _ => {
                self.wrong_type(node, place, key, "a string");
                None
            }
        }
    }

    fn duration(
        &mut self,
        node: &Spanned<YamlValue>,
        place: &Place,
        key: &str,
    ) -> Option<Spanned<String>> {
        match &node.value {
            YamlValue::String(s) => Some(spanned(s.clone(), node)),
            YamlValue::Number(n) => {
                self.wrong_type(node, place, key, DURATION);
                let d = self.diags.0.last_mut().expect("just pushed");
                d.help = Some(format!(
                    "durations need a unit: write `{n}s`, `{n}m` or `{n}ms`"
                ));
                None
            }
            _ => {
                self.wrong_type(node, place, key, DURATION);
                None
            }
        }
    }

    fn count(
        &mut self,
        node: &Spanned<YamlValue>,
        place: &Place,
        key: &str,
    ) -> Option<Spanned<u32>> {
        if let YamlValue::Number(n) = &node.value {
            if let Some(v) = n.as_u64().and_then(|v| u32::try_from(v).ok()) {
                return Some(spanned(v, node));
            }
            if n.as_i64().is_some_and(|v| v < 0) {
                return Some(spanned(0, node)); // the checker reports the range
            }
        }
        self.wrong_type(node, place, key, "a whole number");
        None
    }

    fn number(
        &mut self,
        node: &Spanned<YamlValue>,
        place: &Place,
        key: &str,
    ) -> Option<Spanned<f64>> {
        match &node.value {
            YamlValue::Number(n) => n.as_f64().map(|v| spanned(v, node)),
            _ => {
                self.wrong_type(node, place, key, "a number");
                None
            }
        }
    }

    /// The index of the name `node` spells among `names`.
    fn one_of(
        &mut self,
        node: &Spanned<YamlValue>,
        place: &Place,
        key: &str,
        names: &[&str],
    ) -> Option<usize> {
        let allowed = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match &node.value {
            YamlValue::String(s) => {
                if let Some(i) = names.iter().position(|n| n == s) {
                    return Some(i);
                }
                let hint = suggestion(s, names.iter().copied());
                self.report(
                    "field-value",
                    format!("{} is `{s}`, not one of {allowed}{hint}", place.field(key)),
                    location_of(node),
                    place,
                    Some(key),
                );
                None
            }
            _ => {
                self.wrong_type(node, place, key, &format!("one of {allowed}"));
                None
            }
        }
    }
}

/// The entries of a mapping whose key was already used by an earlier entry (by index), each
/// with the location of the first use. Linear, so that a hostile mapping of 100,000 keys
/// costs no more than reading it.
fn repeated_keys(entries: &[(Spanned<String>, Spanned<YamlValue>)]) -> HashMap<usize, Location> {
    let mut first: HashMap<&str, Location> = HashMap::with_capacity(entries.len());
    let mut repeated = HashMap::new();
    for (i, (key, _)) in entries.iter().enumerate() {
        match first.get(key.value.as_str()) {
            Some(&at) => {
                repeated.insert(i, at);
            }
            None => {
                first.insert(&key.value, location_of(key));
            }
        }
    }
    repeated
}

/// "at line 3", or "at line 3, column 9" when the repetition is on the same line.
fn where_first(first: Location, again: Location) -> String {
    if first.line == again.line {
        format!("at line {}, column {}", first.line, first.column)
    } else {
        format!("at line {}", first.line)
    }
}

/// `value` with the location of `node`.
fn spanned<T, U>(value: T, node: &Spanned<U>) -> Spanned<T> {
    Spanned::new(value, node.referenced, node.defined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SourceFile;

    fn diagnostics(text: &str) -> Diagnostics {
        let tree = super::super::parse::parse(&SourceFile::new("p.yaml", text)).expect("parses");
        let mut diags = Diagnostics::default();
        decode(&tree, &mut diags);
        diags
    }

    #[test]
    fn reports_every_unknown_field_with_a_suggestion() {
        let diags = diagnostics(
            "version: 1\nname: x\nstepz: []\nsteps:\n  - id: a\n    type: t\n    tmeout: 5s\n    retry: { max_atempts: 3 }\n",
        );
        let messages: Vec<&str> = diags.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "unknown field `stepz` in the plan (did you mean `steps`?)",
                "unknown field `tmeout` in step `a` (did you mean `timeout`?)",
                "unknown field `max_atempts` in `retry` of step `a` (did you mean `max_attempts`?)",
            ]
        );
        assert_eq!(diags.0[1].location, Some(Location::new(7, 5)));
        assert_eq!(
            diags.0[2].path.as_deref(),
            Some("steps[0].retry.max_atempts")
        );
    }

    #[test]
    fn reports_duplicates_with_the_first_place() {
        let diags = diagnostics(
            "version: 1\nname: x\nname: y\nsteps:\n  - { id: a, type: t, with: { k: 1, k: 2 } }\n",
        );
        assert_eq!(diags.0.len(), 2, "{diags:#?}");
        assert_eq!(
            diags.0[0].message,
            "duplicate key `name` in the plan; it is first set at line 2"
        );
        assert_eq!(diags.0[0].location, Some(Location::new(3, 1)));
        assert_eq!(diags.0[1].code, "duplicate-key");
    }

    #[test]
    fn reports_wrong_types_and_goes_on() {
        let diags = diagnostics(
            "version: one\nname: x\nsteps:\n  - id: a\n    type: t\n    timeout: 5\n    depends_on: b\n",
        );
        let mut diags = diags;
        diags.sort();
        let codes: Vec<&str> = diags.0.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec!["field-type", "field-type", "field-type"],
            "{diags:#?}"
        );
        assert!(
            diags.0[1]
                .message
                .contains("`timeout` of step `a` must be a duration"),
            "{diags:#?}"
        );
        assert_eq!(diags.0[2].help.as_deref(), Some("write `depends_on: [b]`"));
    }

    #[test]
    fn explicit_null_means_not_set_for_optional_fields_only() {
        let diags = diagnostics(
            "version: 1\nname: x\ndescription:\ndefaults: ~\nsteps:\n  - { id: a, type: t, with: , retry: , depends_on: }\n",
        );
        assert!(diags.0.is_empty(), "{diags:#?}");
        let diags = diagnostics("version: 1\nname:\nsteps:\n  - { id: a, type: t }\n");
        assert_eq!(diags.0.len(), 1, "{diags:#?}");
        assert_eq!(diags.0[0].message, "`name` must be a string, not null");
    }

    #[test]
    fn field_lists_match_the_model_schema() {
        let schema = serde_json::to_value(schemars::schema_for!(PlanFile)).unwrap();
        let props = |def: Option<&str>| -> Vec<String> {
            let node = match def {
                Some(name) => &schema["$defs"][name],
                None => &schema,
            };
            node["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .cloned()
                .collect()
        };
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(props(None), owned(PLAN_FIELDS));
        assert_eq!(props(Some("InputDecl")), owned(INPUT_FIELDS));
        assert_eq!(props(Some("DefaultsDecl")), owned(DEFAULTS_FIELDS));
        assert_eq!(props(Some("RetryDecl")), owned(RETRY_FIELDS));
        assert_eq!(props(Some("StepDecl")), owned(STEP_FIELDS));
    }
}
